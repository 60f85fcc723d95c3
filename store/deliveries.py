"""The delivery queue (outbox).

Life of a row: ``queued`` → leased as ``sending`` (with ``leased_until``) → ``sent`` |
``queued`` again with a later ``next_attempt_at`` | ``failed`` (with its reason).
The sender renews its leases while it works, so a lease that expired while ``sending``
means the process died mid-send: the row is leased again. That is the one case in which
a subscriber can see a message twice (Telegram accepted it, the crash came before
``mark_sent``); see README "Delivery".

A lease counts an attempt (``attempts``), so only what is really sent is leased: alerts
due in their subscriber's quiet hours are put back first (``hold_for_quiet_hours``),
uncounted. A ``sent`` row whose story gained a source has ``edit_pending``; its
``next_attempt_at`` is then when the edit may be tried (``reflag_edit``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, insert, or_, update
from sqlmodel import Session, col, select

from bot.types import Alert, DeliveryIntent
from store import stories
from store.items import item_terms
from store.models import Delivery, Item, Subscriber


def queue_alerts(
    session: Session, story_id: int, intents: Sequence[DeliveryIntent], now: datetime
) -> int:
    """Queue one alert per intent unless that subscriber already has this story.

    Returns how many were queued. The unique (subscriber, story, kind) constraint is the
    real guarantee; the look-up first keeps the transaction free of IntegrityErrors.
    """
    if not intents:
        return 0
    already = set(
        session.exec(
            select(Delivery.subscriber_id).where(
                Delivery.story_id == story_id, Delivery.kind == "alert"
            )
        )
    )
    queued = 0
    for intent in intents:
        if intent.subscriber_id in already:
            continue
        session.add(
            Delivery(
                subscriber_id=intent.subscriber_id,
                story_id=story_id,
                item_id=intent.item_id,
                kind="alert",
                topics=json.dumps(list(intent.topics)),
                next_attempt_at=now,
                created_at=now,
            )
        )
        already.add(intent.subscriber_id)
        queued += 1
    session.flush()
    return queued


def queue_alerts_bulk(
    session: Session, planned: Sequence[tuple[int, DeliveryIntent]], now: datetime
) -> int:
    """``queue_alerts`` for many (story id, intent) pairs in two statements."""
    if not planned:
        return 0
    story_ids = list({story_id for story_id, _ in planned})
    taken = set(
        session.exec(
            select(Delivery.subscriber_id, Delivery.story_id).where(
                col(Delivery.story_id).in_(story_ids), Delivery.kind == "alert"
            )
        )
    )
    values = []
    for story_id, intent in planned:
        if (intent.subscriber_id, story_id) in taken:
            continue
        taken.add((intent.subscriber_id, story_id))
        values.append(
            {
                "subscriber_id": intent.subscriber_id,
                "story_id": story_id,
                "item_id": intent.item_id,
                "kind": "alert",
                "status": "queued",
                "topics": json.dumps(list(intent.topics)),
                "attempts": 0,
                "edit_pending": False,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if values:
        session.execute(insert(Delivery.__table__), values)  # type: ignore[attr-defined]
    return len(values)


def _due_alert(now: datetime) -> ColumnElement[bool]:
    """Alert rows to send now: queued and due, or left ``sending`` by a sender whose
    lease expired (it died)."""
    return and_(
        or_(
            and_(col(Delivery.status) == "queued", col(Delivery.next_attempt_at) <= now),
            and_(col(Delivery.status) == "sending", col(Delivery.leased_until) < now),
        ),
        col(Delivery.kind) == "alert",
    )


def _served() -> ColumnElement[bool]:
    """Subscribers sent to now: active and unpaused (a paused one's alerts are held, not
    lost: sent after /resume)."""
    return and_(col(Subscriber.active), col(Subscriber.paused).is_(False))


def _due(now: datetime) -> ColumnElement[bool]:
    """Alerts to send now (``_due_alert`` of a ``_served`` subscriber; joined)."""
    return and_(_due_alert(now), _served())


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A subscriber with alerts due and quiet hours set, as the outbox decides on them."""

    subscriber_id: int
    chat_id: int
    timezone: str | None  # theirs; None: MCWATCH_TIMEZONE
    quiet_start: str  # "HH:MM" local
    quiet_end: str


def quiet_hours_due(session: Session, now: datetime) -> list[QuietHours]:
    """Subscribers with quiet hours set and alerts due now: whether they are in their
    quiet hours is the caller's decision (``bot.deliver.plan.quiet_until``), before leasing."""
    due = select(Delivery.subscriber_id).where(_due_alert(now))
    rows = session.exec(
        select(Subscriber)
        .where(
            col(Subscriber.id).in_(due),
            _served(),
            col(Subscriber.quiet_start).is_not(None),
            col(Subscriber.quiet_end).is_not(None),
        )
        .order_by(col(Subscriber.id))
    ).all()
    return [
        QuietHours(row.id, row.chat_id, row.timezone, row.quiet_start, row.quiet_end)
        for row in rows
        if row.id is not None and row.quiet_start and row.quiet_end
    ]


def hold_for_quiet_hours(
    session: Session, subscriber_id: int, now: datetime, until: datetime
) -> list[int]:
    """Quiet hours: the subscriber's due alerts wait, queued, until ``until``. Nothing
    is leased, so no attempt is counted. Returns the ids of the alerts held."""
    rows = session.exec(
        select(Delivery)
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .where(_due(now), col(Delivery.subscriber_id) == subscriber_id)
        .order_by(col(Delivery.id))
        .with_for_update(skip_locked=True, of=Delivery)  # one being leased is not ours
    ).all()
    held = []
    for delivery in rows:
        assert delivery.id is not None
        delivery.status = "queued"
        delivery.next_attempt_at = until
        delivery.leased_until = None
        session.add(delivery)
        held.append(delivery.id)
    session.flush()
    return held


def lease_deliveries(
    session: Session, now: datetime, *, limit: int = 100, lease_seconds: float = 120
) -> list[Alert]:
    """Take up to ``limit`` due alerts for sending; they stay leased ``lease_seconds``.
    Each lease counts an attempt."""
    rows = session.exec(
        select(Delivery, Subscriber, Item)
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .join(Item, col(Item.id) == col(Delivery.item_id))
        .where(_due(now))
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)  # PostgreSQL: two senders never share
    ).all()
    alerts: list[Alert] = []
    until = now + timedelta(seconds=lease_seconds)
    for delivery, subscriber, item in rows:
        delivery.status = "sending"
        delivery.leased_until = until
        delivery.attempts += 1
        session.add(delivery)
        alerts.append(_alert(session, delivery, subscriber, item))
    session.flush()
    return alerts


def renew_leases(session: Session, delivery_ids: Collection[int], until: datetime) -> None:
    """Keep alerts still being sent (``sending``) leased until ``until``."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(list(delivery_ids)), col(Delivery.status) == "sending")
            .values(leased_until=until)
        )


def _alert(session: Session, delivery: Delivery, subscriber: Subscriber, item: Item) -> Alert:
    assert delivery.id is not None and item.id is not None and subscriber.id is not None
    assert item.published is not None
    _, terms = item_terms(session, item.id)
    also = [name for name in stories.sources(session, delivery.story_id) if name != item.source]
    return Alert(
        delivery_id=delivery.id,
        subscriber_id=subscriber.id,
        chat_id=subscriber.chat_id,
        language=subscriber.language,
        title=item.title,
        link=item.link,
        source=item.source,
        published=item.published,
        summary=item.summary,
        topics=tuple(json.loads(delivery.topics)),
        terms=terms,
        also_reported_by=tuple(also),
        attempts=delivery.attempts,
        timezone=subscriber.timezone,
        quiet_start=subscriber.quiet_start,
        quiet_end=subscriber.quiet_end,
        message_id=delivery.message_id,
    )


def lease_edits(session: Session, now: datetime, *, limit: int = 100) -> list[Alert]:
    """Sent alerts whose story gained sources, due now: take them for editing (flag
    cleared; ``reflag_edit`` sets it again when the edit must be retried)."""
    due = or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now)
    rows = session.exec(
        select(Delivery, Subscriber, Item)
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .join(Item, col(Item.id) == col(Delivery.item_id))
        .where(
            col(Delivery.edit_pending),
            col(Delivery.status) == "sent",
            due,
            col(Subscriber.active),
        )
        .order_by(col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)
    ).all()
    edits = []
    for delivery, subscriber, item in rows:
        delivery.edit_pending = False
        session.add(delivery)
        edits.append(_alert(session, delivery, subscriber, item))
    session.flush()
    return edits


def reflag_edit(session: Session, delivery_id: int, at: datetime) -> None:
    """The edit failed for now: try it again at ``at``."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is not None:
        delivery.edit_pending = True
        delivery.next_attempt_at = at
        session.add(delivery)


def mark_sent(session: Session, delivery_id: int, now: datetime, message_id: int | None) -> None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:  # the subscriber was forgotten meanwhile
        return
    delivery.status = "sent"
    delivery.sent_at = now
    delivery.message_id = message_id
    delivery.leased_until = None
    delivery.last_error = None
    session.add(delivery)


def retry_later(session: Session, delivery_id: int, at: datetime, reason: str) -> None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return
    delivery.status = "queued"
    delivery.next_attempt_at = at
    delivery.leased_until = None
    delivery.last_error = reason[:500]
    session.add(delivery)


def mark_failed(session: Session, delivery_id: int, reason: str) -> None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return
    delivery.status = "failed"
    delivery.leased_until = None
    delivery.last_error = reason[:500]
    session.add(delivery)


def drop_for_subscriber(session: Session, subscriber_id: int, reason: str) -> int:
    """Give up every pending alert of a chat (it blocked the bot;
    ``bot.deliver.outbox.blocked``)."""
    rows = session.exec(
        select(Delivery).where(
            Delivery.subscriber_id == subscriber_id,
            col(Delivery.status).in_(("queued", "sending")),
        )
    ).all()
    for row in rows:
        row.status, row.last_error, row.leased_until = "failed", reason[:500], None
        session.add(row)
    return len(rows)


def queue_depth(session: Session) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Delivery)
            .where(col(Delivery.status).in_(("queued", "sending")))
        ).one()
    )


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.exec(select(Delivery.status, func.count()).group_by(col(Delivery.status))).all()
    return {status: int(n) for status, n in rows}


def oldest_due(session: Session, now: datetime) -> datetime | None:
    """Since when the alert waiting longest has been due (None: no alert is due).

    The rows ``lease_deliveries`` would take: queued and due, or left ``sending`` by a
    sender whose lease expired, for an active and unpaused subscriber. Alerts held for
    quiet hours or a /pause are not due, so they do not age the queue.
    """
    oldest: datetime | None = session.exec(
        select(func.min(Delivery.next_attempt_at))
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .where(_due(now))
    ).one()
    return oldest
