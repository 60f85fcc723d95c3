"""Drain the delivery queue: lease → render → send → mark sent / retry later / give up.

Every alert is in the database before it is sent (the pipeline queued it); a row is
marked sent in its own transaction right after Telegram accepts it, which keeps the one
ambiguous window (accepted, then a crash before the mark) as short as it can be.
Chats are served concurrently, each chat's alerts in order, all through the ``Pacer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import timedelta

from bot.deps import Deps
from bot.errors import MessageRejected, RecipientBlocked, RetryLater
from bot.logs import context
from bot.notify import clock_time, quiet_until
from bot.render import render_alert
from bot.types import Alert, SendReceipt
from store import deliveries, subscribers
from store.db import transaction

log = logging.getLogger(__name__)

LEASE_BATCH = 200
# The lease (``Settings.delivery_lease``) is renewed three times per lease while a batch
# is being sent: a batch may take longer than one lease (a group gets 20 per minute),
# and a live sender must never see its alerts taken and sent again by another.
RENEWALS_PER_LEASE = 3
MAX_BACKOFF = timedelta(hours=1)  # 5xx/timeouts: 5 s, 10 s, 20 s … at most hourly
# Concurrent sendMessage calls (different chats). Also the most alerts a crash can leave
# in the ambiguous state (accepted by Telegram, not yet marked sent): see README.
MAX_IN_FLIGHT = 16
# A 429 asking for a few seconds is waited out in place (the chat's other alerts are
# behind it anyway); a longer one goes back to the queue with its next_attempt_at.
MAX_INLINE_WAIT = 10.0
MAX_INLINE_RETRIES = 3


@dataclass
class DeliverReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    held: int = 0  # quiet hours
    edited: int = 0  # alerts updated with "also reported by"
    errors: list[str] = field(default_factory=list)


async def deliver_pending(deps: Deps) -> DeliverReport:
    """Send every alert due now; returns what happened. Safe to run concurrently with
    polling; two deliverers never share a row (leases; FOR UPDATE SKIP LOCKED on PostgreSQL).
    """
    report = DeliverReport()
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    blocked_chats: set[int] = set()
    lease = deps.settings.delivery_lease

    async def serve(chat_alerts: list[Alert], unfinished: set[int]) -> None:
        for alert in chat_alerts:
            if alert.chat_id in blocked_chats:
                break
            async with in_flight:
                await deliver_one(deps, alert, report, blocked_chats)
            unfinished.discard(alert.delivery_id)

    while True:
        with transaction(deps.engine) as session:
            batch = deliveries.lease_deliveries(
                session, deps.clock.now(), limit=LEASE_BATCH, lease_seconds=lease
            )
        if not batch:
            await deliver_edits(deps, report)
            return report
        by_chat: dict[int, list[Alert]] = defaultdict(list)
        for alert in batch:
            by_chat[alert.chat_id].append(alert)
        unfinished = {alert.delivery_id for alert in batch}
        async with keep_leased(deps, unfinished, lease):
            await asyncio.gather(*(serve(alerts, unfinished) for alerts in by_chat.values()))


@contextlib.asynccontextmanager
async def keep_leased(
    deps: Deps, delivery_ids: Collection[int], lease: float
) -> AsyncIterator[None]:
    """While the block runs, renew the lease of ``delivery_ids`` (a live view: finished
    alerts are removed from it) every ``lease / RENEWALS_PER_LEASE`` seconds."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease / RENEWALS_PER_LEASE)
            with transaction(deps.engine) as session:
                until = deps.clock.now() + timedelta(seconds=lease)
                deliveries.renew_leases(session, list(delivery_ids), until)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _send(deps: Deps, alert: Alert, *, plain: bool = False) -> SendReceipt:
    """Send once, waiting out short 429s in place (Telegram's own retry_after)."""
    for attempt in range(MAX_INLINE_RETRIES + 1):
        await deps.pacer.wait(alert.chat_id)
        try:
            return await deps.sender.send(
                alert.chat_id, render_alert(alert, plain=plain), html_mode=not plain
            )
        except RetryLater as exc:
            if not exc.backoff:  # a 429: Telegram's own retry_after
                deps.metrics.throttled()
            if exc.backoff or exc.retry_after > MAX_INLINE_WAIT or attempt == MAX_INLINE_RETRIES:
                raise
            deps.pacer.hold(alert.chat_id, exc.retry_after)
    raise AssertionError("unreachable")


async def deliver_one(
    deps: Deps, alert: Alert, report: DeliverReport, blocked_chats: set[int]
) -> None:
    now = deps.clock.now()
    held = quiet_until(
        now,
        alert.timezone or deps.settings.timezone,
        clock_time(alert.quiet_start),
        clock_time(alert.quiet_end),
    )
    if held is not None:
        with transaction(deps.engine) as session:
            deliveries.hold(session, alert.delivery_id, held)
        report.held += 1
        log.info(
            "delivery %s",
            context(
                delivery_id=alert.delivery_id,
                chat_id=alert.chat_id,
                status="held",
                until=held.isoformat(),
            ),
        )
        return
    outcome = "sent"
    try:
        try:
            receipt = await _send(deps, alert)
        except MessageRejected as first:
            # Our markup should never be refused; if it is, the words still matter more
            # than the formatting: one retry as plain text, then give up with the reason.
            log.warning("alert rejected as HTML, retrying as plain text: %s", first)
            receipt = await _send(deps, alert, plain=True)
    except RetryLater as exc:
        outcome = "retry"
        delay = timedelta(seconds=exc.retry_after)
        if exc.backoff:
            delay = min(max(delay, delay * 2 ** (alert.attempts - 1)), MAX_BACKOFF)
        else:
            deps.pacer.hold(alert.chat_id, exc.retry_after)
        with transaction(deps.engine) as session:
            deliveries.retry_later(session, alert.delivery_id, deps.clock.now() + delay, str(exc))
        report.retried += 1
    except RecipientBlocked as exc:
        outcome = "blocked"
        blocked_chats.add(alert.chat_id)
        with transaction(deps.engine) as session:
            subscribers.deactivate(session, alert.subscriber_id)
            deliveries.drop_for_subscriber(session, alert.subscriber_id, f"blocked: {exc}")
        report.blocked += 1
    except MessageRejected as exc:
        outcome = "failed"
        with transaction(deps.engine) as session:
            deliveries.mark_failed(session, alert.delivery_id, f"rejected: {exc}")
        report.failed += 1
        report.errors.append(str(exc))
    else:
        with transaction(deps.engine) as session:
            deliveries.mark_sent(session, alert.delivery_id, deps.clock.now(), receipt.message_id)
        report.sent += 1
    deps.metrics.delivered(outcome)
    log.info(
        "delivery %s", context(delivery_id=alert.delivery_id, chat_id=alert.chat_id, status=outcome)
    )


async def deliver_edits(deps: Deps, report: DeliverReport) -> None:
    """Sent alerts whose story gained a source: edit them to add "also reported by"."""
    with transaction(deps.engine) as session:
        edits = deliveries.lease_edits(session)
    for alert in edits:
        if alert.message_id is None:
            continue
        await deps.pacer.wait(alert.chat_id)
        outcome = "edited"
        try:
            await deps.sender.edit(alert.chat_id, alert.message_id, render_alert(alert))
            report.edited += 1
        except RetryLater as exc:
            outcome = "retry"
            if not exc.backoff:  # a 429: that chat waits, as for an alert
                deps.metrics.throttled()
                deps.pacer.hold(alert.chat_id, exc.retry_after)
            with transaction(deps.engine) as session:
                deliveries.reflag_edit(session, alert.delivery_id)
        except RecipientBlocked:
            outcome = "blocked"
            with transaction(deps.engine) as session:
                subscribers.deactivate(session, alert.subscriber_id)
        except MessageRejected as exc:
            # e.g. the message was deleted: the sources are a courtesy, not worth a resend.
            outcome = f"rejected: {exc}"
        log.info(
            "edit %s", context(delivery_id=alert.delivery_id, chat_id=alert.chat_id, status=outcome)
        )
