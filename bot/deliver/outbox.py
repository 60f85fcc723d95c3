"""Drain the delivery queue: hold for quiet hours → lease → render → send → mark sent /
retry later / give up.

Every alert is in the database before it is sent (the pipeline queued it); a row is
marked sent in its own transaction right after Telegram accepts it, which keeps the one
ambiguous window (accepted, then a crash before the mark) as short as it can be.
Chats are served concurrently, each chat's alerts in order, all through the ``Pacer``.

Quiet hours are decided before the lease (a lease counts an attempt): the alerts due
for a subscriber in their quiet hours are put back, uncounted, until the hours end.

The event loop never waits for the database: every query runs in a worker thread
(``in_thread``; writes ``write``, shielded), so bot replies are not held behind a tick.
A tick cancelled by the shutdown gives back the alerts it leased and did not send
(``leased_batch``): the next start sends them at once instead of after the lease.

Alerts, their edits and digest parts (``bot.deliver.digest_job``) share one send policy: ``send``
waits out short 429s in place (``Pacer.send`` with ``bot.deliver.send_policy.QUEUED``), and
what still fails is ``after_failure``'s decision, carried out the same way for all:
``RetryAt`` back to the queue, ``Blocked`` by ``blocked`` (the subscriber deactivated,
their queued alerts and digests dropped), ``Refused`` given up with its reason.

Every alert carries its verdict buttons (👍 👎, ``bot.feedback.keyboard``); an edit
redraws them as the reader left them (Telegram drops the buttons of a message edited
without them).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import ParamSpec, TypeVar

from bot import feedback
from bot.deliver.plan import clock_time, quiet_until
from bot.deliver.render import render_alert
from bot.deliver.send_policy import QUEUED, Blocked, Refused, RetryAt, after_failure
from bot.deps import Deps
from bot.errors import MessageRejected, RecipientBlocked, RetryLater
from bot.logs import context
from bot.types import Alert, SendReceipt
from store import deliveries, digests, subscribers, verdicts
from store.db import transaction

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

LEASE_BATCH = 200
# The lease (``Settings.delivery_lease``) is renewed three times per lease while a batch
# is being sent: a batch may take longer than one lease (a group gets 20 per minute),
# and a live sender must never see its alerts taken and sent again by another.
RENEWALS_PER_LEASE = 3
# Concurrent sendMessage calls (different chats). Also the most alerts a crash can leave
# in the ambiguous state (accepted by Telegram, not yet marked sent): see README.
MAX_IN_FLIGHT = 16


@dataclass
class DeliverReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    held: int = 0  # quiet hours
    edited: int = 0  # alerts updated with "also reported by"
    errors: list[str] = field(default_factory=list)


def in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
    """``fn(*args, **kwargs)`` in the loop's default executor, started now: a store call
    off the event loop (``asyncio.to_thread``, context and all).

    A plain future, not a task: the shutdown cancels every task, and a lease or a release
    already running in its thread must still be waited for (``asyncio.shield``) and its
    result used, not abandoned."""
    call = partial(contextvars.copy_context().run, partial(fn, *args, **kwargs))
    return asyncio.get_running_loop().run_in_executor(None, call)


async def write(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``in_thread``, shielded: a write once begun is carried out even if the caller is
    cancelled (the shutdown), so an alert Telegram accepted is still marked sent."""
    return await asyncio.shield(in_thread(fn, *args, **kwargs))


async def deliver_pending(deps: Deps) -> DeliverReport:
    """Send every alert due now; returns what happened. Safe to run concurrently with
    polling; two deliverers never share a row (leases; FOR UPDATE SKIP LOCKED on PostgreSQL).
    """
    report = DeliverReport()
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    blocked_chats: set[int] = set()
    lease = deps.settings.delivery_lease

    async def serve(chat_alerts: list[Alert], batch: LeasedBatch) -> None:
        for alert in chat_alerts:
            if alert.chat_id in blocked_chats:
                break
            async with in_flight:
                batch.begun.add(alert.delivery_id)
                await deliver_one(deps, alert, report, blocked_chats)
            batch.unfinished.discard(alert.delivery_id)

    while True:
        async with leased_batch(deps, report, lease) as batch:
            if not batch.alerts:
                break
            by_chat: dict[int, list[Alert]] = defaultdict(list)
            for alert in batch.alerts:
                by_chat[alert.chat_id].append(alert)
            async with keep_leased(deps, batch.unfinished, lease):
                await asyncio.gather(*(serve(alerts, batch) for alerts in by_chat.values()))
    await deliver_edits(deps, report, blocked_chats)
    return report


@dataclass
class LeasedBatch:
    """One lease's alerts, and two live views of them: not finished yet (still
    ``sending`` in the database, renewed by ``keep_leased``), and whose send began."""

    alerts: list[Alert] = field(default_factory=list)
    unfinished: set[int] = field(default_factory=set)
    begun: set[int] = field(default_factory=set)

    def take(self, alerts: list[Alert]) -> None:
        self.alerts = alerts
        self.unfinished = {alert.delivery_id for alert in alerts}


@contextlib.asynccontextmanager
async def leased_batch(
    deps: Deps, report: DeliverReport, lease: float
) -> AsyncIterator[LeasedBatch]:
    """Lease the next batch (in a thread) for the block to send.

    Cancelled (the shutdown), wherever it is, it gives the alerts not finished back to
    the queue (``deliveries.release_leases``; the attempt uncounted for those whose send
    never began), shielded, so the next start sends them at once instead of after the
    lease. A lease whose thread was still running is waited for first: it commits anyway.
    """
    taking = in_thread(_take_due, deps, report, lease)
    batch = LeasedBatch()
    try:
        batch.take(await asyncio.shield(taking))
        yield batch
    except asyncio.CancelledError:
        if not batch.alerts:
            with contextlib.suppress(Exception):
                batch.take(await asyncio.shield(taking))
        if batch.unfinished:
            released = await asyncio.shield(in_thread(_release, deps, batch))
            log.info("shutdown: %d leased alerts put back in the queue, unsent", released)
        raise


def _take_due(deps: Deps, report: DeliverReport, lease: float) -> list[Alert]:
    """Quiet hours first (a held alert counts no attempt), then the lease of a batch."""
    hold_quiet_hours(deps, report)
    with transaction(deps.engine) as session:
        return deliveries.lease_deliveries(
            session, deps.clock.now(), limit=LEASE_BATCH, lease_seconds=lease
        )


def _release(deps: Deps, batch: LeasedBatch) -> int:
    unfinished = set(batch.unfinished)
    with transaction(deps.engine) as session:
        return deliveries.release_leases(
            session, unfinished, unattempted=unfinished - batch.begun
        )


@contextlib.asynccontextmanager
async def keep_leased(
    deps: Deps, delivery_ids: Collection[int], lease: float
) -> AsyncIterator[None]:
    """While the block runs, renew the lease of ``delivery_ids`` (a live view: finished
    alerts are removed from it) every ``lease / RENEWALS_PER_LEASE`` seconds."""

    def renew_now() -> None:
        with transaction(deps.engine) as session:
            until = deps.clock.now() + timedelta(seconds=lease)
            deliveries.renew_leases(session, list(delivery_ids), until)

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease / RENEWALS_PER_LEASE)
            await in_thread(renew_now)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def hold_quiet_hours(deps: Deps, report: DeliverReport) -> None:
    """Put back, until their quiet hours end, the due alerts of every subscriber now in
    them: decided before the lease, so a held alert is not counted as an attempt.
    (A store call: run it in a thread, as ``deliver_pending`` does.)"""
    now = deps.clock.now()
    with transaction(deps.engine) as session:
        for chat in deliveries.quiet_hours_due(session, now):
            until = quiet_until(
                now,
                chat.timezone or deps.settings.timezone,
                clock_time(chat.quiet_start),
                clock_time(chat.quiet_end),
            )
            if until is None:
                continue
            for delivery_id in deliveries.hold_for_quiet_hours(
                session, chat.subscriber_id, now, until
            ):
                report.held += 1
                log.info(
                    "delivery %s",
                    context(
                        delivery_id=delivery_id,
                        chat_id=chat.chat_id,
                        status="held",
                        until=until.isoformat(),
                    ),
                )


async def send(deps: Deps, chat_id: int, call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` (one message to ``chat_id``: an alert, an edit, a digest part) through
    the Pacer, short 429s waited out in place (``QUEUED``); 429s are counted."""
    return await deps.pacer.send(chat_id, call, QUEUED, throttled=deps.metrics.throttled)


def _store(deps: Deps, write: Callable[..., None], *args: object) -> None:
    """One store write in its own transaction (run in a thread: ``in_thread``)."""
    with transaction(deps.engine) as session:
        write(session, *args)


def blocked(deps: Deps, subscriber_id: int, reason: str) -> None:
    """The chat blocked the bot (or is gone): the subscriber is deactivated and what is
    queued for them (alerts, digests) is given up with ``reason``. A /start brings them
    back, their choices kept. A store call: coroutines run it in a thread."""
    with transaction(deps.engine) as session:
        subscribers.deactivate(session, subscriber_id)
        deliveries.drop_for_subscriber(session, subscriber_id, reason)
        digests.drop_for_subscriber(session, subscriber_id, reason)


async def _send_alert(deps: Deps, alert: Alert) -> SendReceipt:
    buttons = feedback.keyboard(alert.delivery_id, alert.language)

    def attempt(plain: bool) -> Callable[[], Awaitable[SendReceipt]]:
        text = render_alert(alert, plain=plain)
        return partial(
            deps.sender.send, alert.chat_id, text, html_mode=not plain, reply_markup=buttons
        )

    try:
        return await send(deps, alert.chat_id, attempt(plain=False))
    except MessageRejected as first:
        # Our markup should never be refused; if it is, the words still matter more
        # than the formatting: one retry as plain text, then give up with the reason.
        log.warning("alert rejected as HTML, retrying as plain text: %s", first)
        return await send(deps, alert.chat_id, attempt(plain=True))


async def deliver_one(
    deps: Deps, alert: Alert, report: DeliverReport, blocked_chats: set[int]
) -> None:
    outcome = "sent"
    try:
        receipt = await _send_alert(deps, alert)
    except (RetryLater, RecipientBlocked, MessageRejected) as exc:
        match after_failure(exc, alert.attempts, deps.clock.now()):
            case RetryAt(at=at, reason=reason):
                outcome = "retry"
                await write(_store, deps, deliveries.retry_later, alert.delivery_id, at, reason)
                report.retried += 1
            case Blocked(reason=reason):
                outcome = "blocked"
                blocked_chats.add(alert.chat_id)
                await write(blocked, deps, alert.subscriber_id, reason)
                report.blocked += 1
            case Refused(reason=reason):
                outcome = "failed"
                await write(_store, deps, deliveries.mark_failed, alert.delivery_id, reason)
                report.failed += 1
                report.errors.append(str(exc))
    else:
        sent_at = deps.clock.now()
        await write(
            _store, deps, deliveries.mark_sent, alert.delivery_id, sent_at, receipt.message_id
        )
        report.sent += 1
    deps.metrics.delivered(outcome)
    log.info(
        "delivery %s", context(delivery_id=alert.delivery_id, chat_id=alert.chat_id, status=outcome)
    )


async def deliver_edits(deps: Deps, report: DeliverReport, blocked_chats: set[int]) -> None:
    """Sent alerts whose story gained a source: edit them to add "also reported by"."""
    taking = in_thread(_take_edits, deps)
    edits: list[Alert] = []
    done: set[int] = set()
    try:
        edits = await asyncio.shield(taking)
        await _edit_all(deps, edits, report, blocked_chats, done)
    except asyncio.CancelledError:
        # The shutdown: the edits not made yet (their flags cleared by the lease, which
        # commits even if it was still running) are flagged again, due at once.
        if not edits:
            with contextlib.suppress(Exception):
                edits = await asyncio.shield(taking)
        left = [alert.delivery_id for alert in edits if alert.delivery_id not in done]
        if left:
            await asyncio.shield(in_thread(_reflag_all, deps, left))
        raise


def _take_edits(deps: Deps) -> list[Alert]:
    with transaction(deps.engine) as session:
        return deliveries.lease_edits(session, deps.clock.now())


def _verdicts(deps: Deps, edits: list[Alert]) -> dict[int, feedback.VerdictState]:
    with transaction(deps.engine) as session:
        return verdicts.states_of(session, [alert.delivery_id for alert in edits])


def _reflag_all(deps: Deps, delivery_ids: list[int]) -> None:
    at = deps.clock.now()
    with transaction(deps.engine) as session:
        for delivery_id in delivery_ids:
            deliveries.reflag_edit(session, delivery_id, at)


async def _edit_all(
    deps: Deps,
    edits: list[Alert],
    report: DeliverReport,
    blocked_chats: set[int],
    done: set[int],
) -> None:
    given = await in_thread(_verdicts, deps, edits) if edits else {}
    for alert in edits:
        if alert.message_id is None or alert.chat_id in blocked_chats:
            done.add(alert.delivery_id)
            continue
        outcome = "edited"
        buttons = feedback.keyboard(alert.delivery_id, alert.language, given.get(alert.delivery_id))
        edit = partial(
            deps.sender.edit,
            alert.chat_id,
            alert.message_id,
            render_alert(alert),
            reply_markup=buttons,
        )
        try:
            await send(deps, alert.chat_id, edit)
            report.edited += 1
        except (RetryLater, RecipientBlocked, MessageRejected) as exc:
            # An edit has no attempts of its own: each failure is treated as a first.
            match after_failure(exc, 1, deps.clock.now()):
                case RetryAt(at=at):
                    outcome = "retry"
                    await write(_store, deps, deliveries.reflag_edit, alert.delivery_id, at)
                case Blocked(reason=reason):
                    outcome = "blocked"
                    blocked_chats.add(alert.chat_id)
                    await write(blocked, deps, alert.subscriber_id, reason)
                case Refused(reason=reason):
                    # e.g. the message was deleted: the sources are a courtesy, not
                    # worth a resend.
                    outcome = reason
        done.add(alert.delivery_id)
        log.info(
            "edit %s", context(delivery_id=alert.delivery_id, chat_id=alert.chat_id, status=outcome)
        )
