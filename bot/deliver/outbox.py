"""Drain the delivery queue: hold for quiet hours → lease → render → send → mark sent /
retry later / give up.

Every alert is in the database before it is sent (the pipeline queued it); a row is
marked sent in its own transaction right after Telegram accepts it, which keeps the one
ambiguous window (accepted, then a crash before the mark) as short as it can be.
Chats are served concurrently, each chat's alerts in order, all through the ``Pacer``.

Quiet hours are decided before the lease (a lease counts an attempt): the alerts due
for a subscriber in their quiet hours are put back, uncounted, until the hours end.
Alerts, their edits and digest parts (``bot.deliver.digest_job``) share one send policy: ``send``
waits out short 429s in place (``Pacer.send`` with ``bot.deliver.send_policy.QUEUED``), and
what still fails is ``after_failure``'s decision, carried out the same way for all:
``RetryAt`` back to the queue, ``Blocked`` by ``blocked`` (the subscriber deactivated,
their queued alerts and digests dropped), ``Refused`` given up with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TypeVar

from bot.deliver.plan import clock_time, quiet_until
from bot.deliver.render import render_alert
from bot.deliver.send_policy import QUEUED, Blocked, Refused, RetryAt, after_failure
from bot.deps import Deps
from bot.errors import MessageRejected, RecipientBlocked, RetryLater
from bot.logs import context
from bot.types import Alert, SendReceipt
from store import deliveries, digests, subscribers
from store.db import transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

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
        hold_quiet_hours(deps, report)
        with transaction(deps.engine) as session:
            batch = deliveries.lease_deliveries(
                session, deps.clock.now(), limit=LEASE_BATCH, lease_seconds=lease
            )
        if not batch:
            await deliver_edits(deps, report, blocked_chats)
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


def hold_quiet_hours(deps: Deps, report: DeliverReport) -> None:
    """Put back, until their quiet hours end, the due alerts of every subscriber now in
    them: decided before the lease, so a held alert is not counted as an attempt."""
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


def blocked(deps: Deps, subscriber_id: int, reason: str) -> None:
    """The chat blocked the bot (or is gone): the subscriber is deactivated and what is
    queued for them (alerts, digests) is given up with ``reason``. A /start brings them
    back, their choices kept."""
    with transaction(deps.engine) as session:
        subscribers.deactivate(session, subscriber_id)
        deliveries.drop_for_subscriber(session, subscriber_id, reason)
        digests.drop_for_subscriber(session, subscriber_id, reason)


async def _send_alert(deps: Deps, alert: Alert) -> SendReceipt:
    def attempt(plain: bool) -> Callable[[], Awaitable[SendReceipt]]:
        text = render_alert(alert, plain=plain)
        return partial(deps.sender.send, alert.chat_id, text, html_mode=not plain)

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
                with transaction(deps.engine) as session:
                    deliveries.retry_later(session, alert.delivery_id, at, reason)
                report.retried += 1
            case Blocked(reason=reason):
                outcome = "blocked"
                blocked_chats.add(alert.chat_id)
                blocked(deps, alert.subscriber_id, reason)
                report.blocked += 1
            case Refused(reason=reason):
                outcome = "failed"
                with transaction(deps.engine) as session:
                    deliveries.mark_failed(session, alert.delivery_id, reason)
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


async def deliver_edits(deps: Deps, report: DeliverReport, blocked_chats: set[int]) -> None:
    """Sent alerts whose story gained a source: edit them to add "also reported by"."""
    with transaction(deps.engine) as session:
        edits = deliveries.lease_edits(session, deps.clock.now())
    for alert in edits:
        if alert.message_id is None or alert.chat_id in blocked_chats:
            continue
        outcome = "edited"
        edit = partial(deps.sender.edit, alert.chat_id, alert.message_id, render_alert(alert))
        try:
            await send(deps, alert.chat_id, edit)
            report.edited += 1
        except (RetryLater, RecipientBlocked, MessageRejected) as exc:
            # An edit has no attempts of its own: each failure is treated as a first.
            match after_failure(exc, 1, deps.clock.now()):
                case RetryAt(at=at):
                    outcome = "retry"
                    with transaction(deps.engine) as session:
                        deliveries.reflag_edit(session, alert.delivery_id, at)
                case Blocked(reason=reason):
                    outcome = "blocked"
                    blocked_chats.add(alert.chat_id)
                    blocked(deps, alert.subscriber_id, reason)
                case Refused(reason=reason):
                    # e.g. the message was deleted: the sources are a courtesy, not
                    # worth a resend.
                    outcome = reason
        log.info(
            "edit %s", context(delivery_id=alert.delivery_id, chat_id=alert.chat_id, status=outcome)
        )
