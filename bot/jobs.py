"""Ticks: plain async functions asking "what is due now?", and the loops that call them.

The schedule lives in the database (each feed's ``next_poll_at``, each delivery's
``next_attempt_at``); APScheduler only fires one dumb tick per concern:

| job          | every | why                                                            |
|--------------|-------|----------------------------------------------------------------|
| poll_tick    | 30 s  | feeds come due at their own times; 30 s is the poll resolution |
| deliver_tick | 2 s   | alerts go out within seconds of being queued                   |
| digest_tick  | 60 s  | digest times are minutes (HH:MM) in each reader's timezone     |

``max_instances=1`` keeps one tick of a kind at a time (so one poll per feed at a time);
``coalesce=True`` folds ticks missed while the machine slept into one; a short
``misfire_grace_time`` drops a tick that is late anyway: the next one asks the same question.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.deliver.digest_job import digest_tick
from bot.deliver.outbox import DeliverReport, deliver_pending
from bot.deps import Deps
from bot.errors import McwatchError
from bot.ingest.pipeline import PollOutcome, poll
from store import topics
from store.db import database_failure, transaction

if TYPE_CHECKING:
    from telegram.ext import Application

log = logging.getLogger(__name__)

OFFSET_KEY = "telegram_update_offset"
POLL_TICK_SECONDS = 30
DELIVER_TICK_SECONDS = 2
DIGEST_TICK_SECONDS = 60


@dataclass(frozen=True, slots=True)
class OnceReport:
    updates: int
    polled: list[PollOutcome]
    delivered: DeliverReport
    digests: int = 0


async def poll_tick(deps: Deps) -> list[PollOutcome]:
    return await poll(deps)


async def deliver_tick(deps: Deps) -> DeliverReport:
    return await deliver_pending(deps)


async def handle_updates(application: Application, deps: Deps, *, long_poll: int = 0) -> int:  # type: ignore[type-arg]
    """Fetch pending Telegram updates and run them through the handlers.

    The offset is kept in the database, and the next getUpdates call with it confirms
    the handled updates to Telegram, so nothing is handled twice across restarts.
    """
    with transaction(deps.engine) as session:
        stored = topics.get_meta(session, OFFSET_KEY)
    offset = int(stored) if stored else None
    updates = await application.bot.get_updates(
        offset=offset,
        timeout=long_poll,
        allowed_updates=["message", "callback_query", "my_chat_member", "channel_post"],
    )
    for update in updates:
        await application.process_update(update)
        with transaction(deps.engine) as session:
            topics.put_meta(session, OFFSET_KEY, str(update.update_id + 1))
    return len(updates)


async def run_once(deps: Deps, application: Application | None) -> OnceReport:  # type: ignore[type-arg]
    """`mcwatch run --once`: pending updates, every due feed, every pending alert and
    every digest that is due."""
    handled = 0
    if application is not None:
        while batch := await handle_updates(application, deps):
            handled += batch
        await handle_updates(application, deps)  # confirms the last offset to Telegram
    polled = await poll(deps)
    delivered = await deliver_pending(deps)
    digested = await digest_tick(deps)
    return OnceReport(handled, polled, delivered, len(digested))


async def _guarded(name: str, tick: Callable[[], Any], deps: Deps) -> None:
    """Run one tick; whatever it meets, the scheduler goes on.

    The world's failures (mcwatch's own errors, the database down) are one line each
    tick, the traceback at DEBUG; anything else is a bug, logged with its traceback. A
    tick cut short by the shutdown ends quietly: the next start asks the same question.
    """
    try:
        await tick()
    except asyncio.CancelledError:
        log.info("%s interrupted by the shutdown", name)
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
) -> None:
    """The daemon: scheduler ticks plus Telegram long polling, until ``stop`` is set;
    with ``MCWATCH_METRICS_PORT``, ``/metrics`` and ``/healthz`` too (``bot.health``)."""
    async with contextlib.AsyncExitStack() as stack:
        if deps.settings.metrics_port is not None:
            # prometheus_client is imported here only: no other command pays for it.
            from bot.health import serve_metrics

            # Listening before the first tick, so that the first poll is counted.
            await stack.enter_async_context(serve_metrics(deps))
        await _run_ticks(deps, application, stop)


@dataclass
class SkippedTicks:
    """Ticks APScheduler skipped because the previous one of the kind still ran (a long
    poll, a slow Telegram): normal under load, and worth one INFO line with figures per
    ``every`` seconds, not a WARNING per skip (APScheduler's own, silenced in bot.logs).
    """

    every: float = 600.0
    now: Callable[[], float] = field(default=time.monotonic)
    counts: dict[str, int] = field(default_factory=dict)
    since: float = 0.0  # start of the figures being counted
    last: float | None = None  # the last skip

    def record(self, job_id: str) -> None:
        now = self.now()
        quiet = self.last is None or now - self.last >= self.every
        self.last = now
        if quiet:  # the first skip after a quiet while: said at once, figures follow
            log.info(
                "a %s tick was skipped: the previous one still ran (figures every %.0f min)",
                job_id,
                self.every / 60,
            )
            self.counts, self.since = {}, now
            return
        self.counts[job_id] = self.counts.get(job_id, 0) + 1
        if now - self.since >= self.every:
            figures = ", ".join(f"{job} {n}" for job, n in sorted(self.counts.items()))
            log.info(
                "ticks skipped while the previous one still ran, in %.0f min: %s",
                (now - self.since) / 60,
                figures,
            )
            self.counts, self.since = {}, now


async def _run_ticks(
    deps: Deps,
    application: Application | None,  # type: ignore[type-arg]
    stop: asyncio.Event,
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
    scheduler.add_job(
        _guarded,
        "interval",
        args=("deliver_tick", lambda: deliver_tick(deps), deps),
        seconds=DELIVER_TICK_SECONDS,
        id="deliver",
        **common,
    )
    scheduler.add_job(
        _guarded,
        "interval",
        args=("digest_tick", lambda: digest_tick(deps), deps),
        seconds=DIGEST_TICK_SECONDS,
        id="digest",
        **common,
    )
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent

    skipped = SkippedTicks()
    scheduler.add_listener(
        lambda event: (
            skipped.record(event.job_id) if isinstance(event, JobSubmissionEvent) else None
        ),
        EVENT_JOB_MAX_INSTANCES,
    )
    scheduler.start()
    updates_task = None
    if application is not None:
        updates_task = asyncio.create_task(_updates_loop(application, deps, stop))
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        if updates_task is not None:
            updates_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await updates_task


async def _updates_loop(
    application: Application,
    deps: Deps,  # type: ignore[type-arg]
    stop: asyncio.Event,
) -> None:
    from telegram.error import NetworkError, TelegramError

    backoff = 1.0
    while not stop.is_set():
        try:
            await handle_updates(application, deps, long_poll=25)
            backoff = 1.0
        except (NetworkError, TelegramError) as exc:
            log.warning("getUpdates failed (%s); retrying in %.0f s", type(exc).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)
