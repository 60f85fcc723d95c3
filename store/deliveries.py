"""The delivery queue (outbox).

Life of a row: ``queued`` → leased as ``sending`` (with ``leased_until``) → ``sent`` |
``queued`` again with a later ``next_attempt_at`` | ``failed`` (with its reason).
The sender renews its leases while it works, so a lease that expired while ``sending``
means the process died mid-send: the row is leased again. That is the one case in which
a subscriber can see a message twice (Telegram accepted it, the crash came before
``mark_sent``); see README "Delivery".
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, update
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


def lease_deliveries(
    session: Session, now: datetime, *, limit: int = 100, lease_seconds: float = 120
) -> list[Alert]:
    """Take up to ``limit`` due alerts for sending; they stay leased ``lease_seconds``."""
    due = or_(
        and_(col(Delivery.status) == "queued", col(Delivery.next_attempt_at) <= now),
        and_(col(Delivery.status) == "sending", col(Delivery.leased_until) < now),
    )
    rows = session.exec(
        select(Delivery, Subscriber, Item)
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .join(Item, col(Item.id) == col(Delivery.item_id))
        .where(
            due,
            col(Delivery.kind) == "alert",
            col(Subscriber.active),
            col(Subscriber.paused).is_(False),  # held, not lost: sent after /resume
        )
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


def lease_edits(session: Session, *, limit: int = 100) -> list[Alert]:
    """Sent alerts whose story gained sources: take them for editing (flag cleared)."""
    rows = session.exec(
        select(Delivery, Subscriber, Item)
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .join(Item, col(Item.id) == col(Delivery.item_id))
        .where(col(Delivery.edit_pending), col(Delivery.status) == "sent", col(Subscriber.active))
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


def reflag_edit(session: Session, delivery_id: int) -> None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is not None:
        delivery.edit_pending = True
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


def hold(session: Session, delivery_id: int, until: datetime) -> None:
    """Quiet hours: put the alert back, due when they end (not counted as an attempt)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return
    delivery.status = "queued"
    delivery.next_attempt_at = until
    delivery.leased_until = None
    delivery.attempts = max(0, delivery.attempts - 1)
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
    """Give up every pending alert of a chat (it blocked the bot)."""
    rows = session.exec(
        select(Delivery).where(
            Delivery.subscriber_id == subscriber_id,
            col(Delivery.status).in_(("queued", "sending")),
        )
    ).all()
    for row in rows:
        row.status, row.last_error, row.leased_until = "failed", reason, None
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
    due = or_(
        and_(col(Delivery.status) == "queued", col(Delivery.next_attempt_at) <= now),
        and_(col(Delivery.status) == "sending", col(Delivery.leased_until) < now),
    )
    oldest: datetime | None = session.exec(
        select(func.min(Delivery.next_attempt_at))
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .where(
            due,
            col(Delivery.kind) == "alert",
            col(Subscriber.active),
            col(Subscriber.paused).is_(False),
        )
    ).one()
    return oldest
