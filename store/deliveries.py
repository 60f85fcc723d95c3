"""The delivery queue (outbox).

Life of a row: ``queued`` → leased as ``sending`` (with ``leased_until``) → ``sent`` |
``queued`` again with a later ``next_attempt_at`` | ``failed`` (with its reason).
The sender renews its leases while it works, so a lease that expired while ``sending``
means the process died mid-send: the row is leased again. That is the one case in which
a subscriber can see a message twice (Telegram accepted it, the crash came before
``mark_sent``); see README "Delivery".

A lease counts an attempt (``attempts``), so only what is really sent is leased: alerts
due in their subscriber's quiet hours are put back first (``hold_for_quiet_hours``),
uncounted, and a sender that stops (SIGTERM) gives back what it leased and did not send
(``release_leases``), so the next start sends it at once. A ``sent`` row whose story
gained a source has ``edit_pending``; its ``next_attempt_at`` is then when the edit may
be tried (``reflag_edit``).

A year holds millions of ``sent`` rows and a handful still owed: the tick's questions
(every 2 s) are read through the partial indexes of migration 0005, whatever the
planner's statistics (SQLite has none unless ANALYZE runs; PostgreSQL's may be stale
with autovacuum off). ``tests/test_outbox_scale.py`` checks the plans.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, text, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from bot.types import Alert, DeliveryIntent, Outlet
from store import items as store_items
from store import mentions, watches
from store.models import Delivery, Item, Subscriber
from store.search import matches_by_item

# The partial indexes' predicates (migration 0005), written as the indexes write them.
# SQLite uses a partial index only if the query's WHERE holds its predicate term for
# term, and it renders a boolean column as ``= 1`` and literals as parameters, neither
# of which it matches; PostgreSQL proves the implication either way.
_OWED = text("deliveries.status IN ('queued', 'sending')")  # ix_deliveries_owed
_EDIT_PENDING = text("deliveries.edit_pending")  # ix_deliveries_edits


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
    lease expired (it died). ``_OWED`` is implied by the rest; it is there for the
    index (ix_deliveries_owed: kind, next_attempt_at, over the owed rows only)."""
    return and_(
        _OWED,
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
    if not rows:
        return []
    until = now + timedelta(seconds=lease_seconds)
    # The lease itself is conditional: on SQLite the SELECT above holds no lock (the
    # driver begins a transaction at the first write), so a second sender — `mcwatch
    # deliver` beside a daemon — may have read the same rows; only the rows still due
    # when this UPDATE runs are ours (issue 14: 200 duplicates of 300 without it).
    taken = set(
        session.scalars(
            update(Delivery)
            .where(col(Delivery.id).in_([d.id for d, _, _ in rows]), _due_alert(now))
            .values(status="sending", leased_until=until, attempts=col(Delivery.attempts) + 1)
            .returning(col(Delivery.id))
            .execution_options(synchronize_session=False)
        )
    )
    ours = [row for row in rows if row[0].id in taken]
    for delivery, _, _ in ours:  # what the UPDATE wrote, without writing it again
        set_committed_value(delivery, "status", "sending")
        set_committed_value(delivery, "leased_until", until)
        set_committed_value(delivery, "attempts", delivery.attempts + 1)
    return _alerts(session, ours)


def release_leases(
    session: Session, delivery_ids: Collection[int], *, unattempted: Collection[int] = ()
) -> int:
    """The sender stops (shutdown): its alerts still ``sending`` go back to ``queued``,
    due as they were, so the next start sends them at once instead of after the lease.

    ``unattempted``: those of them whose send never began; their lease's attempt is
    uncounted. One whose send began may have reached Telegram (the ambiguous case of
    README "Delivery"): it keeps its attempt, and is sent again as after a crash, only
    sooner. Returns how many were released; an alert marked meanwhile is left alone.
    """
    if not delivery_ids:
        return 0
    uncounted = list(unattempted)
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(list(delivery_ids)), col(Delivery.status) == "sending")
        .values(
            status="queued",
            leased_until=None,
            attempts=case(
                (
                    and_(col(Delivery.id).in_(uncounted), col(Delivery.attempts) > 0),
                    col(Delivery.attempts) - 1,
                ),
                else_=col(Delivery.attempts),
            ),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def renew_leases(session: Session, delivery_ids: Collection[int], until: datetime) -> None:
    """Keep alerts still being sent (``sending``) leased until ``until``."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(list(delivery_ids)), col(Delivery.status) == "sending")
            .values(leased_until=until)
        )


def _alerts(
    session: Session, rows: Sequence[tuple[Delivery, Subscriber, Item]]
) -> list[Alert]:
    """The leased rows as alerts: their items' matched terms and their stories' outlets
    (who they are: ``store.feeds``) read in one query each for the whole batch (not two
    per alert)."""
    found = matches_by_item(session, {item.id for _, _, item in rows if item.id is not None})
    terms = {item_id: matched for item_id, (_, matched) in found.items()}
    sources = store_items.story_outlets(session, {delivery.story_id for delivery, _, _ in rows})
    seen_by = watches.watched(session, {(d.subscriber_id, d.story_id) for d, _, _ in rows})
    firsts = mentions.of_stories(session, {delivery.story_id for delivery, _, _ in rows})
    return [
        replace(
            _alert(delivery, subscriber, item, terms, sources),
            watches=seen_by.get((delivery.subscriber_id, delivery.story_id), ()),
            first_mentions=firsts.get(delivery.story_id, ()),
        )
        for delivery, subscriber, item in rows
    ]


def _alert(
    delivery: Delivery,
    subscriber: Subscriber,
    item: Item,
    terms_of: dict[int, tuple[str, ...]],
    sources_of: dict[int, list[Outlet]],
) -> Alert:
    assert delivery.id is not None and item.id is not None and subscriber.id is not None
    assert item.published is not None
    terms = terms_of.get(item.id, ())
    outlets = sources_of.get(delivery.story_id, [])
    also = [outlet.name for outlet in outlets if outlet.name != item.source]
    own = next((outlet for outlet in outlets if outlet.name == item.source), Outlet(item.source))
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
        country=own.country,
        kind=own.kind,
        outlets=tuple(outlets),
    )


def lease_edits(session: Session, now: datetime, *, limit: int = 100) -> list[Alert]:
    """Sent alerts whose story gained sources, due now: take them for editing (flag
    cleared; ``reflag_edit`` sets it again when the edit must be retried).

    Only sent alerts are ever flagged (``stories.flag_edits``); the status is checked
    here, not in SQL, where SQLite would read it through the status index (millions
    of ``sent`` entries) instead of ix_deliveries_edits."""
    due = or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now)
    rows = session.exec(
        select(Delivery, Subscriber, Item)
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .join(Item, col(Item.id) == col(Delivery.item_id))
        .where(_EDIT_PENDING, due, col(Subscriber.active))
        .order_by(col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)
    ).all()
    for delivery, _, _ in rows:
        delivery.edit_pending = False
        session.add(delivery)
    session.flush()
    return _alerts(session, [row for row in rows if row[0].status == "sent"])


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
    """Alerts owed (queued or sending), counted in ix_deliveries_owed."""
    return int(session.exec(select(func.count()).select_from(Delivery).where(_OWED)).one())


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
