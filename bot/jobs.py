"""Ticks: plain async functions asking "what is due now?", and the loops that call them.

The schedule lives in the database (each feed's ``next_poll_at``, each delivery's
``next_attempt_at``); APScheduler only fires one dumb tick per concern:

| job          | every | why                                                            |
|--------------|-------|----------------------------------------------------------------|
| poll_tick    | 30 s  | feeds come due at their own times; 30 s is the poll resolution |
| deliver_tick | 2 s   | alerts go out within seconds of being queued                   |
| digest_tick  | 60 s  | digest times are minutes (HH:MM) in each reader's timezone     |
| watchdog_tick| 60 s  | feed state changes for MCWATCH_ADMIN_CHAT; three small reads   |
| volume_tick  | 600 s | a topic's unusual day (bot.volume), once a day per topic       |

``max_instances=1`` keeps one tick of a kind at a time (so one poll per feed at a time);
``coalesce=True`` folds ticks missed while the machine slept into one; a short
``misfire_grace_time`` drops a tick that is late anyway: the next one asks the same question.

**One Telegram leader.** Several ``mcwatch run`` may share one database; every one polls
feeds, but only the worker holding the ``telegram`` lease (``store.leases``, a ``meta``
row with an owner and an expiry) reads ``getUpdates`` and sends: the delivery tick (alerts
and their edits), the digest and watchdog ticks and the command replies. Its in-process
``Pacer`` is then the one budget of the deployment (30 msg/s overall, per chat, per
group), and one reader is what Telegram wants (it answers a second concurrent
``getUpdates`` with 409).

- Every worker calls ``TelegramLeader.step`` every ``LEASE_STEP_SECONDS``: the leader
  renews, the others take the lease once it has expired, so a dead leader is replaced
  within ``LEASE_SECONDS + LEASE_STEP_SECONDS`` (30 s); a stopped one releases it and is
  replaced at the next step (5 s).
- The leader believes it leads only until the expiry it last wrote (its own clock): a
  worker frozen past its lease stops before it even asks. A renewal the database could
  not answer is tried again at the next step, the lease still being ours until it
  expires; a renewal refused (another owner) stops the leader's work at once: the
  updates loop and any delivery or digest tick running are cancelled.
- The updates loop survives anything: a failure is one line (repeats at DEBUG until it
  works again) and a wait; 409 Conflict (another reader, e.g. a leader we replaced
  whose long poll is still open) is waited out.
- ``run --once`` takes the lease if it is free, else polls only, saying so in one INFO
  line; it releases the lease on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from bot.deliver.digest_job import digest_tick
from bot.deliver.outbox import DeliverReport, blocked, deliver_pending, in_thread, send, write
from bot.deliver.plan import clock_time, quiet_until
from bot.deps import Deps
from bot.errors import McwatchError, MessageRejected, RecipientBlocked, RetryLater
from bot.ingest.pipeline import PollOutcome, poll
from bot.logs import Tally, context
from bot.volume import render_note, unusual
from bot.watchdog import WatchSnapshot, WatchState, plan_watch
from store import leases, topics
from store import volume as volume_store
from store import watchdog as watch_store
from store.db import database_failure, transaction

if TYPE_CHECKING:
    from telegram.ext import Application

log = logging.getLogger(__name__)
T = TypeVar("T")

OFFSET_KEY = "telegram_update_offset"
POLL_TICK_SECONDS = 30
DELIVER_TICK_SECONDS = 2
DIGEST_TICK_SECONDS = 60
WATCHDOG_TICK_SECONDS = 60
VOLUME_TICK_SECONDS = 600  # a day's volume moves by the hour; its query reads 15 days

TELEGRAM_LEASE = "telegram"
# A dead leader is replaced within LEASE_SECONDS + LEASE_STEP_SECONDS; the leader renews
# five times per lease, so four renewals in a row may fail (a database hiccup) before
# it stops. Each step is one small UPDATE per worker.
LEASE_SECONDS = 25.0
LEASE_STEP_SECONDS = 5.0
LONG_POLL_SECONDS = 25  # getUpdates' timeout: Telegram holds the call until an update comes
UPDATES_BACKOFF = (1.0, 60.0)  # first wait after a failed getUpdates, doubling up to the cap
# Another reader holds getUpdates (409): typically the leader we replaced, whose long
# poll stays open on Telegram's side for up to LONG_POLL_SECONDS.
CONFLICT_WAIT_SECONDS = 5.0
LOST = "the Telegram lease was lost"


@dataclass(frozen=True, slots=True)
class OnceReport:
    updates: int
    polled: list[PollOutcome]
    delivered: DeliverReport
    digests: int = 0
    leading: bool = True  # False: another worker held the Telegram lease; nothing sent


def worker_id() -> str:
    """host:pid:random, unique per process start; says in the log which worker leads."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class TelegramLeader:
    """This worker's side of the ``telegram`` lease (see the module docstring).

    ``held`` is the cheap check made before any leader-only work; ``step`` asks the
    database (off the event loop); ``exclusive`` runs work that ``step`` cancels the
    moment the lease is lost.
    """

    deps: Deps
    owner: str = field(default_factory=worker_id)
    seconds: float = LEASE_SECONDS
    name: str = TELEGRAM_LEASE
    until: datetime | None = None  # the expiry we last wrote; None: not leading
    holder: leases.Lease | None = None  # the lease as last read, whoever holds it
    _work: set[asyncio.Task[Any]] = field(default_factory=set)
    _failing: str | None = None  # the failure last logged, said once

    def held(self) -> bool:
        return self.until is not None and self.deps.clock.now() < self.until

    async def step(self) -> bool:
        """Renew the lease, or take it if it is free or expired; True while leading."""
        try:
            mine, holder = await asyncio.to_thread(self._take)
        except Exception as exc:
            reason = database_failure(exc, self.deps.engine.url) or f"{type(exc).__name__}: {exc}"
            if reason != self._failing:
                log.warning("the Telegram lease could not be checked: %s", reason)
                log.debug("the traceback of the lease check", exc_info=exc)
                self._failing = reason
            if not self.held():  # ours until it expires, whatever the database says
                self._lose()
            return self.held()
        self._failing = None
        self.holder = holder
        if mine is None:
            if self.until is not None:
                log.warning(
                    "%s to %s: this worker stops reading updates and sending",
                    LOST,
                    holder.owner if holder else "nobody",
                )
            self._lose()
            return False
        if self.until is None:
            log.info(
                "this worker (%s) now leads Telegram: it reads updates and sends",
                self.owner,
            )
        self.until = mine.until
        return True

    def _take(self) -> tuple[leases.Lease | None, leases.Lease | None]:
        now = self.deps.clock.now()
        with transaction(self.deps.engine) as session:
            if self.until is not None:
                mine = leases.renew(session, self.name, self.owner, now, self.seconds)
            else:
                mine = leases.take(session, self.name, self.owner, now, self.seconds)
            return mine, mine or leases.who(session, self.name)

    def _lose(self) -> None:
        self.until = None
        for task in list(self._work):
            task.cancel(LOST)

    async def exclusive(self, work: Callable[[], Awaitable[T]]) -> T | None:
        """``work()`` if the lease is held, cancelled if it is lost meanwhile; None then."""
        if not self.held():
            return None
        task = asyncio.ensure_future(work())
        self._work.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                return None  # cancelled by _lose, not by our own caller
            raise
        finally:
            self._work.discard(task)

    async def release(self) -> None:
        """Stop the leader's work, then give the lease up (if it is ours), so the next
        worker takes over at its next step, not after the lease."""
        was = self.until is not None
        self._lose()
        for task in list(self._work):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not was:
            return
        try:
            await asyncio.to_thread(self._release)
        except Exception as exc:  # it expires by itself: one line, not a failed shutdown
            reason = database_failure(exc, self.deps.engine.url) or f"{type(exc).__name__}: {exc}"
            log.warning("the Telegram lease was not released (%s); it expires by itself", reason)

    def _release(self) -> None:
        with transaction(self.deps.engine) as session:
            leases.release(session, self.name, self.owner)


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile. Injected where a loop
    waits, so that tests drive the loops without sleeping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


Pause = Callable[[asyncio.Event, float], Awaitable[None]]


async def poll_tick(deps: Deps) -> list[PollOutcome]:
    return await poll(deps)


async def deliver_tick(deps: Deps) -> DeliverReport:
    return await deliver_pending(deps)


async def watchdog_tick(deps: Deps) -> int:
    """Tell ``MCWATCH_ADMIN_CHAT`` what changed (``bot.watchdog`` decides); returns
    the messages sent. Nothing at all without the setting.

    Each message is sent through the one Pacer, then its state is kept; a message that
    Telegram puts off (429, 5xx) keeps the state before it, and the next tick plans it
    again; one refused for good (blocked, rejected) is given up, in one log line.
    """
    chat = deps.settings.admin_chat
    if chat is None:
        return 0
    now = deps.clock.now()
    snapshot = await in_thread(_watch_snapshot, deps, chat, now)
    plan = plan_watch(
        snapshot, now, timezone=deps.settings.timezone, report_at=deps.settings.digest_time
    )
    if plan.base != snapshot.state:
        await write(_watch_save, deps, plan.base)
    sent = 0
    for notice in plan.notices:
        status = "sent"
        try:
            await send(deps, chat, partial(deps.sender.send, chat, notice.text))
            sent += 1
        except RetryLater as exc:
            said = context(chat_id=chat, kind=notice.kind, status="later", reason=exc)
            log.warning("watchdog %s", said)
            break
        except (RecipientBlocked, MessageRejected) as exc:
            status = "given up"
            log.warning("watchdog %s", context(chat_id=chat, kind=notice.kind, reason=exc))
        await write(_watch_save, deps, notice.state)
        log.info("watchdog %s", context(chat_id=chat, kind=notice.kind, status=status))
    return sent


async def volume_tick(deps: Deps) -> int:
    """Tell each topic's subscribers, once a day, that today is unusual for it
    (``bot.volume`` decides); returns the notes sent. A reader in quiet hours gets it
    once they end (the same UTC day); one Telegram puts off (429) at the next tick; a
    blocked chat is deactivated as for an alert."""
    now = deps.clock.now().astimezone(UTC)
    today = datetime.combine(now.date(), dt_time(), tzinfo=UTC)
    due = await in_thread(_volume_due, deps, today, now)
    sent = 0
    for topic, readers_left in due:
        note: dict[str, str] = {}
        for reader in readers_left:
            said = partial(context, chat_id=reader.chat_id, topic=topic.slug)
            zone = reader.timezone or deps.settings.timezone
            if quiet_until(now, zone, clock_time(reader.quiet_start), clock_time(reader.quiet_end)):
                continue
            if reader.language not in note:
                note[reader.language] = render_note(
                    reader.language, topic.slug, topic.name, topic.today, topic.days
                )
            text = note[reader.language]
            try:
                await send(deps, reader.chat_id, partial(deps.sender.send, reader.chat_id, text))
                sent += 1
            except RetryLater as exc:
                log.warning("volume %s", said(status="later", reason=exc))
                return sent
            except RecipientBlocked as exc:
                await write(blocked, deps, reader.subscriber_id, str(exc))
            except MessageRejected as exc:
                log.warning("volume %s", said(status="given up", reason=exc))
            await write(_volume_told, deps, today.date(), topic.slug, reader.subscriber_id)
            log.info("volume %s", said(status="sent"))
    return sent


def _volume_due(
    deps: Deps, today: datetime, now: datetime
) -> list[tuple[volume_store.TopicDay, list[volume_store.Reader]]]:
    with transaction(deps.engine) as session:
        if not volume_store.has_baseline(session, today):
            return []
        told = volume_store.told(session, today.date())
        due = []
        for topic in volume_store.topic_days(session, today, now):
            if not unusual(topic.days, len(topic.today)):
                continue
            left = [
                reader
                for reader in volume_store.readers(session, topic.slug)
                if reader.subscriber_id not in told.get(topic.slug, set())
            ]
            if left:
                due.append((topic, left))
        return due


def _volume_told(deps: Deps, day: date, slug: str, subscriber_id: int) -> None:
    with transaction(deps.engine) as session:
        volume_store.mark_told(session, day, slug, subscriber_id)


def _watch_snapshot(deps: Deps, chat: int, now: datetime) -> WatchSnapshot:
    settings = deps.settings
    with transaction(deps.engine) as session:
        return watch_store.snapshot(
            session,
            now,
            admin_chat=chat,
            timezone=settings.timezone,
            report_at=settings.digest_time,
        )


def _watch_save(deps: Deps, state: WatchState) -> None:
    with transaction(deps.engine) as session:
        watch_store.save_state(session, state)


async def handle_updates(application: Application, deps: Deps, *, long_poll: int = 0) -> int:  # type: ignore[type-arg]
    """Fetch pending Telegram updates and run them through the handlers.

    The offset is kept in the database, and the next getUpdates call with it confirms
    the handled updates to Telegram, so nothing is handled twice across restarts. Its
    reads and writes run off the event loop.
    """
    stored = await asyncio.to_thread(_read_offset, deps)
    offset = int(stored) if stored else None
    updates = await application.bot.get_updates(
        offset=offset,
        timeout=long_poll,
        allowed_updates=["message", "callback_query", "my_chat_member", "channel_post"],
    )
    for update in updates:
        await application.process_update(update)
        await asyncio.to_thread(_write_offset, deps, update.update_id + 1)
    return len(updates)


def _read_offset(deps: Deps) -> str | None:
    with transaction(deps.engine) as session:
        return topics.get_meta(session, OFFSET_KEY)


def _write_offset(deps: Deps, offset: int) -> None:
    with transaction(deps.engine) as session:
        topics.put_meta(session, OFFSET_KEY, str(offset))


async def run_once(
    deps: Deps,
    application: Application | None,  # type: ignore[type-arg]
    leader: TelegramLeader | None = None,
) -> OnceReport:
    """`mcwatch run --once`: pending updates, every due feed, every pending alert and
    every digest that is due; the updates and the sending only if this run can take the
    Telegram lease (renewed while it runs, released at the end)."""
    leader = leader or TelegramLeader(deps)
    leading = await leader.step()
    if not leading:
        holder = leader.holder
        log.info(
            "%s leads Telegram (lease until %s): this run polls feeds only, "
            "reads no updates and sends nothing",
            holder.owner if holder else "another worker",
            holder.until.isoformat(timespec="seconds") if holder else "?",
        )
    stop = asyncio.Event()
    renewing = asyncio.create_task(_keep_lease(leader, stop)) if leading else None
    try:
        handled = 0
        if application is not None:
            handled = await leader.exclusive(lambda: _all_updates(application, deps)) or 0
        polled = await poll(deps)
        delivered = await leader.exclusive(lambda: deliver_pending(deps)) or DeliverReport()
        digested = await leader.exclusive(lambda: digest_tick(deps)) or []
        await leader.exclusive(lambda: watchdog_tick(deps))
        await leader.exclusive(lambda: volume_tick(deps))
    finally:
        stop.set()
        if renewing is not None:
            await renewing
        await leader.release()
    return OnceReport(handled, polled, delivered, len(digested), leading)


async def _all_updates(application: Application, deps: Deps) -> int:  # type: ignore[type-arg]
    handled = 0
    while batch := await handle_updates(application, deps):
        handled += batch
    await handle_updates(application, deps)  # confirms the last offset to Telegram
    return handled


async def _keep_lease(leader: TelegramLeader, stop: asyncio.Event, wait: Pause = pause) -> None:
    while not stop.is_set():
        await wait(stop, LEASE_STEP_SECONDS)
        if not stop.is_set():
            await leader.step()


async def _guarded(name: str, tick: Callable[[], Any], deps: Deps) -> None:
    """Run one tick; whatever it meets, the scheduler goes on.

    The world's failures (mcwatch's own errors, the database down) are one line each
    tick, the traceback at DEBUG; anything else is a bug, logged with its traceback. A
    tick cut short by the shutdown ends quietly: the next start asks the same question.
    """
    try:
        await tick()
    except asyncio.CancelledError as exc:
        log.info("%s interrupted: %s", name, exc.args[0] if exc.args else "the shutdown")
    except Exception as exc:
        reason = str(exc) if isinstance(exc, McwatchError) else None
        reason = reason or database_failure(exc, deps.engine.url)
        if reason is None:
            log.exception("%s failed", name)
            return
        log.error("%s failed: %s", name, reason)
        log.debug("the traceback of %s", name, exc_info=exc)


async def run_forever(
    deps: Deps,
    application: Application | None,  # type: ignore[type-arg]
    stop: asyncio.Event,
    leader: TelegramLeader | None = None,
) -> None:
    """The daemon: scheduler ticks plus, while this worker leads Telegram, long polling
    and sending, until ``stop`` is set; with ``MCWATCH_METRICS_PORT``, ``/metrics`` and
    ``/healthz`` too (``bot.health``). The lease is released on the way out."""
    leader = leader or TelegramLeader(deps)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if deps.settings.metrics_port is not None:
                # prometheus_client is imported here only: no other command pays for it.
                from bot.health import serve_metrics

                # Listening before the first tick, so that the first poll is counted.
                await stack.enter_async_context(serve_metrics(deps))
            await _run_ticks(deps, application, stop, leader)
    finally:
        await leader.release()


def skipped_ticks(now: Callable[[], float] = time.monotonic) -> Tally:
    """Ticks APScheduler skipped because the previous one of the kind still ran (a long
    poll, a slow Telegram): normal under load, and worth one INFO line with figures per
    10 minutes, not a WARNING per skip (APScheduler's own, silenced in bot.logs)."""
    return Tally(
        log,
        first="a {key} tick was skipped: the previous one still ran (figures every {minutes} min)",
        figures="ticks skipped while the previous one still ran, in {minutes} min: {figures}",
        now=now,
    )


async def _run_ticks(
    deps: Deps,
    application: Application | None,  # type: ignore[type-arg]
    stop: asyncio.Event,
    leader: TelegramLeader,
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler  # `run` only, not --once

    scheduler = AsyncIOScheduler(timezone="UTC")
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 15}
    scheduler.add_job(
        _guarded,
        "interval",
        args=("poll_tick", lambda: poll_tick(deps), deps),
        seconds=POLL_TICK_SECONDS,
        id="poll",
        next_run_time=deps.clock.now(),
        **common,
    )
    def leading(name: str, tick: Callable[[], Any], seconds: int) -> None:
        job = name.removesuffix("_tick")
        scheduler.add_job(
            _leading, "interval", args=(leader, name, tick), seconds=seconds, id=job, **common
        )

    leading("deliver_tick", lambda: deliver_tick(deps), DELIVER_TICK_SECONDS)
    leading("digest_tick", lambda: digest_tick(deps), DIGEST_TICK_SECONDS)
    if deps.settings.admin_chat is not None:
        leading("watchdog_tick", lambda: watchdog_tick(deps), WATCHDOG_TICK_SECONDS)
    leading("volume_tick", lambda: volume_tick(deps), VOLUME_TICK_SECONDS)
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent

    skipped = skipped_ticks()
    scheduler.add_listener(
        lambda event: (
            skipped.record(event.job_id) if isinstance(event, JobSubmissionEvent) else None
        ),
        EVENT_JOB_MAX_INSTANCES,
    )
    scheduler.start()
    try:
        await lead(leader, stop, application)
    finally:
        scheduler.shutdown(wait=False)


async def _leading(leader: TelegramLeader, name: str, tick: Callable[[], Any]) -> None:
    """A tick that sends: run only by the Telegram leader, cancelled if it stops leading."""
    await leader.exclusive(lambda: _guarded(name, tick, leader.deps))


async def lead(
    leader: TelegramLeader,
    stop: asyncio.Event,
    application: Application | None,  # type: ignore[type-arg]
    *,
    wait: Pause = pause,
    long_poll: int = LONG_POLL_SECONDS,
) -> None:
    """Every ``LEASE_STEP_SECONDS`` until ``stop``: renew or take the Telegram lease, and
    keep the updates loop running while it is held (``step`` cancels it when lost)."""
    reading: asyncio.Task[Any] | None = None
    try:
        while not stop.is_set():
            held = await leader.step()
            if held and application is not None and (reading is None or reading.done()):
                reading = asyncio.create_task(
                    leader.exclusive(
                        lambda: updates_loop(
                            application, leader, stop, wait=wait, long_poll=long_poll
                        )
                    )
                )
            await wait(stop, LEASE_STEP_SECONDS)
    finally:
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading


@dataclass
class SaidOnce:
    """The updates loop's failures, one line each: a failure is logged when it differs
    from the last one (a dead network at 1 line, not 1 per minute for hours), repeats at
    DEBUG, and the recovery once."""

    last: str | None = None
    repeats: int = 0

    def failed(self, reason: str, level: int, exc: BaseException | None = None) -> None:
        if reason == self.last:
            self.repeats += 1
            log.debug("getUpdates failed again: %s", reason)
            return
        self.last, self.repeats = reason, 0
        log.log(level, "getUpdates failed: %s", reason, exc_info=exc)

    def worked(self) -> None:
        if self.last is not None:
            log.info("getUpdates works again (after %d more failures)", self.repeats)
        self.last, self.repeats = None, 0


async def updates_loop(
    application: Application,  # type: ignore[type-arg]
    leader: TelegramLeader,
    stop: asyncio.Event,
    *,
    wait: Pause = pause,
    long_poll: int = LONG_POLL_SECONDS,
) -> None:
    """Long-poll getUpdates and handle what comes, while this worker leads and until
    ``stop``; nothing that goes wrong here ends it (one line, a wait, another try).

    Telegram's and the network's failures are warnings; 409 Conflict (another reader)
    is waited out at INFO; the database's failures (an IntegrityError in the offset
    bookkeeping killed this loop once) are errors, and anything else an error with its
    traceback; each is retried: a loop that died would leave the bot deaf for good.
    """
    from telegram.error import Conflict, NetworkError, TelegramError

    deps = leader.deps
    said = SaidOnce()
    first, cap = UPDATES_BACKOFF
    backoff = first
    while not stop.is_set() and leader.held():
        try:
            await handle_updates(application, deps, long_poll=long_poll)
        except Conflict:
            said.failed(
                f"another getUpdates reader is active (409 Conflict); "
                f"waiting {CONFLICT_WAIT_SECONDS:.0f} s",
                logging.INFO,
            )
            await wait(stop, CONFLICT_WAIT_SECONDS)
            continue
        except (NetworkError, TelegramError) as exc:
            said.failed(f"{type(exc).__name__}: {exc}; retrying", logging.WARNING)
        except Exception as exc:
            # The database (down, full, or refusing the offset write) is one line, its
            # traceback at DEBUG, as in _guarded; anything else is a bug: its traceback.
            reason = database_failure(exc, deps.engine.url)
            if reason is None:
                said.failed(f"{type(exc).__name__}: {exc}; retrying", logging.ERROR, exc)
            else:
                said.failed(f"{reason}; retrying", logging.ERROR)
                log.debug("the traceback of getUpdates", exc_info=exc)
        else:
            said.worked()
            backoff = first
            continue
        await wait(stop, backoff)
        backoff = min(backoff * 2, cap)
