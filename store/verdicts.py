"""Readers' verdicts on their alerts (``verdicts``; the buttons: ``bot.feedback``).

One row per subscriber, item and topic (``uq_verdicts_once``), written by an upsert so
that two quick presses, even racing in two transactions, leave one row. A verdict is
about what the delivery row says — its subscriber, item and main topic — never about
what a button claims. Rows go with their subscriber (``/stop``) and with their item
(retention): ON DELETE CASCADE on both keys (SQLite: ``PRAGMA foreign_keys``, store.db).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.feedback import LabelSource, VerdictRecord, VerdictState, verdict_topic
from store.db import upsert_insert
from store.models import Delivery, DigestLine, Item, ItemTopic, Subscriber, Topic, Verdict


@dataclass(frozen=True, slots=True)
class VerdictTarget:
    """What a verdict button is about, read from its delivery row."""

    delivery_id: int  # the alert's delivery row, or the digest line's row
    subscriber_id: int
    item_id: int
    topic: str


def target(session: Session, delivery_id: int, chat_id: int) -> VerdictTarget | None:
    """The alert ``delivery_id`` if it is a sent alert of ``chat_id``'s subscriber; None
    for anything else (another chat's, a digest, one not sent, one gone with its item)."""
    row = session.exec(
        select(Delivery)
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.kind) == "alert",
            col(Delivery.status) == "sent",
            col(Subscriber.chat_id) == chat_id,
        )
    ).first()
    if row is None or row.id is None:
        return None
    return VerdictTarget(row.id, row.subscriber_id, row.item_id, _main_topic(row.topics))


def _main_topic(raw: str) -> str:
    return verdict_topic(tuple(json.loads(raw or "[]")))


def current(session: Session, found: VerdictTarget) -> VerdictState | None:
    row = session.exec(
        select(Verdict).where(
            col(Verdict.subscriber_id) == found.subscriber_id,
            col(Verdict.item_id) == found.item_id,
            col(Verdict.topic) == found.topic,
        )
    ).first()
    return None if row is None else VerdictState(row.verdict, row.reason)


def record(session: Session, found: VerdictTarget, state: VerdictState, now: datetime) -> None:
    """Store ``state`` as the verdict on ``found``: one row, changed in place, its
    ``updated_at`` moved only when the verdict changed."""
    statement = upsert_insert(session)(Verdict.__table__).values(  # type: ignore[attr-defined]
        subscriber_id=found.subscriber_id,
        item_id=found.item_id,
        topic=found.topic,
        verdict=state.verdict,
        reason=state.reason,
        created_at=now,
        updated_at=now,
    )
    table = Verdict.__table__  # type: ignore[attr-defined]
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["subscriber_id", "item_id", "topic"],
            set_={
                "verdict": statement.excluded.verdict,
                "reason": statement.excluded.reason,
                "updated_at": statement.excluded.updated_at,
            },
            where=table.c.verdict.is_distinct_from(statement.excluded.verdict)
            | table.c.reason.is_distinct_from(statement.excluded.reason),
        )
    )


def press(
    session: Session,
    delivery_id: int,
    chat_id: int,
    decide: Callable[[VerdictState | None], VerdictState],
    now: datetime,
) -> VerdictState | None:
    """A verdict button pressed in ``chat_id``: the new state (``decide(current)``), or
    None when the delivery is not one of that chat's sent alerts (nothing written)."""
    return _press(session, target(session, delivery_id, chat_id), decide, now)


def press_line(
    session: Session,
    line_id: int,
    chat_id: int,
    decide: Callable[[VerdictState | None], VerdictState],
    now: datetime,
) -> VerdictState | None:
    """A verdict button under a digest message: as ``press``, for a digest line of the
    chat's subscriber (None for any other: nothing written)."""
    return _press(session, line_target(session, line_id, chat_id), decide, now)


def _press(
    session: Session,
    found: VerdictTarget | None,
    decide: Callable[[VerdictState | None], VerdictState],
    now: datetime,
) -> VerdictState | None:
    if found is None:
        return None
    state = decide(current(session, found))
    record(session, found, state, now)
    return state


# -- digest lines: what the buttons under a digest message name -----------------------
def digest_lines(
    session: Session, subscriber_id: int, shown: Sequence[tuple[int, str]], now: datetime
) -> dict[tuple[int, str], int]:
    """The line id of each (item, topic) a digest of ``subscriber_id`` shows, written
    if new: one row per subscriber, item and topic, so a digest planned again (a resumed
    send, ``/digest`` then the daily one) names the same rows."""
    if not shown:
        return {}
    wanted = list(dict.fromkeys(shown))
    insert = upsert_insert(session)
    session.execute(
        insert(DigestLine.__table__)  # type: ignore[attr-defined]
        .values(
            [
                {"subscriber_id": subscriber_id, "item_id": item, "topic": topic, "created_at": now}
                for item, topic in wanted
            ]
        )
        .on_conflict_do_nothing(index_elements=["subscriber_id", "item_id", "topic"])
    )
    rows = session.exec(
        select(DigestLine.id, DigestLine.item_id, DigestLine.topic).where(
            col(DigestLine.subscriber_id) == subscriber_id,
            col(DigestLine.item_id).in_(sorted({item for item, _ in wanted})),
        )
    ).all()
    found = {(item, topic): line_id for line_id, item, topic in rows if line_id is not None}
    return {key: found[key] for key in wanted if key in found}


def line_target(session: Session, line_id: int, chat_id: int) -> VerdictTarget | None:
    """The digest line ``line_id`` if it is one of ``chat_id``'s subscriber; else None."""
    row = session.exec(
        select(DigestLine)
        .join(Subscriber, col(Subscriber.id) == col(DigestLine.subscriber_id))
        .where(col(DigestLine.id) == line_id, col(Subscriber.chat_id) == chat_id)
    ).first()
    if row is None or row.id is None:
        return None
    return VerdictTarget(row.id, row.subscriber_id, row.item_id, row.topic)


def line_states(
    session: Session, line_ids: Collection[int], chat_id: int
) -> dict[int, VerdictState]:
    """The verdict given on each of these digest lines of ``chat_id`` (absent: none, or
    not that chat's), in one query: to redraw a digest message's buttons."""
    if not line_ids:
        return {}
    rows = session.exec(
        select(DigestLine.id, Verdict)
        .join(Subscriber, col(Subscriber.id) == col(DigestLine.subscriber_id))
        .join(
            Verdict,
            (col(Verdict.subscriber_id) == col(DigestLine.subscriber_id))
            & (col(Verdict.item_id) == col(DigestLine.item_id))
            & (col(Verdict.topic) == col(DigestLine.topic)),
        )
        .where(col(DigestLine.id).in_(list(line_ids)), col(Subscriber.chat_id) == chat_id)
    ).all()
    return {
        line_id: VerdictState(verdict.verdict, verdict.reason)
        for line_id, verdict in rows
        if line_id is not None
    }


def states_of(session: Session, delivery_ids: Collection[int]) -> dict[int, VerdictState]:
    """The verdict given on each of these alerts (absent: none), in one query: to redraw
    their buttons when an alert is edited ("also reported by")."""
    if not delivery_ids:
        return {}
    rows = session.exec(
        select(Delivery.id, Delivery.topics, Verdict)
        .join(
            Verdict,
            (col(Verdict.subscriber_id) == col(Delivery.subscriber_id))
            & (col(Verdict.item_id) == col(Delivery.item_id)),
        )
        .where(col(Delivery.id).in_(list(delivery_ids)))
    ).all()
    return {
        delivery_id: VerdictState(verdict.verdict, verdict.reason)
        for delivery_id, topics, verdict in rows
        if delivery_id is not None and verdict.topic == _main_topic(topics)
    }


def alerts_sent_by_topic(session: Session, since: datetime) -> dict[str, int]:
    """Alerts sent since ``since``, counted under their main topic (``bot.feedback``).
    Grouped by the stored topic list first: a month has few distinct lists."""
    rows = session.exec(
        select(Delivery.topics, func.count())
        .where(
            col(Delivery.kind) == "alert",
            col(Delivery.status) == "sent",
            col(Delivery.sent_at) >= since,
        )
        .group_by(col(Delivery.topics))
    ).all()
    counts: Counter[str] = Counter()
    for topics, n in rows:
        counts[_main_topic(topics)] += int(n)
    return dict(counts)


def records_since(session: Session, since: datetime) -> list[VerdictRecord]:
    """Every verdict given or changed since ``since``, with its item's title and the
    terms that fired for its topic."""
    rows = session.exec(
        select(Verdict, Item.title)
        .join(Item, col(Item.id) == col(Verdict.item_id))
        .where(col(Verdict.updated_at) >= since)
        .order_by(col(Verdict.id))
    ).all()
    terms = _terms(session, {verdict.item_id for verdict, _ in rows})
    return [
        VerdictRecord(
            verdict.item_id,
            title,
            verdict.topic,
            verdict.verdict,
            verdict.reason,
            terms.get((verdict.item_id, verdict.topic), ()),
        )
        for verdict, title in rows
    ]


def _terms(session: Session, item_ids: Collection[int]) -> dict[tuple[int, str], tuple[str, ...]]:
    """(item, topic slug) → the terms that matched it, as the pipeline stored them."""
    if not item_ids:
        return {}
    rows = session.exec(
        select(ItemTopic.item_id, Topic.slug, ItemTopic.terms)
        .join(Topic, col(Topic.id) == col(ItemTopic.topic_id))
        .where(col(ItemTopic.item_id).in_(list(item_ids)))
    ).all()
    return {(item_id, slug): tuple(json.loads(raw or "[]")) for item_id, slug, raw in rows}


def label_sources_since(session: Session, since: datetime) -> list[LabelSource]:
    """Every verdict given or changed since ``since``, with the text ``rules eval``
    matches (``rules feedback --export``)."""
    rows = session.exec(
        select(Verdict, Item)
        .join(Item, col(Item.id) == col(Verdict.item_id))
        .where(col(Verdict.updated_at) >= since)
        .order_by(col(Verdict.item_id), col(Verdict.id))
    ).all()
    return [
        LabelSource(
            verdict.item_id,
            item.title,
            item.summary,
            item.language,
            verdict.topic,
            verdict.verdict,
            verdict.reason,
        )
        for verdict, item in rows
    ]
