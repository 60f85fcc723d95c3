"""Stories: items grouped as one event, and what that means for sent alerts."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from bot.types import StoredItem
from store.models import Delivery, Item, ItemTopic

# Any 64-bit key of our own: the ASCII of "mcwatch" and a zero byte.
STORY_LOCK_KEY = 0x6D63776174636800


def lock_story_decisions(session: Session) -> None:
    """Until this transaction ends, no other worker decides stories: two workers storing
    copies of one event at once would each read the candidates before the other's commit
    and each start the story (issue 14: 20–60 duplicate alerts in 400 with 2–4 workers).
    Taken only by polls with matches. PostgreSQL: a transaction-scoped advisory lock.
    SQLite: the database's write lock, taken now rather than at the first insert (the
    driver begins a transaction only at a write, so the candidates would otherwise be
    read outside it); an UPDATE that changes nothing takes it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STORY_LOCK_KEY})
    else:
        session.execute(text("UPDATE meta SET value = value WHERE 0"))


def candidates(session: Session, start: datetime, end: datetime) -> list[StoredItem]:
    """Matched items published in [start, end]: the ones a new item may join."""
    rows = session.exec(
        select(Item)
        .where(
            col(Item.published) >= start,
            col(Item.published) <= end,
            col(Item.id).in_(select(ItemTopic.item_id)),
        )
        .order_by(col(Item.published))
    )
    return [
        StoredItem(
            id=row.id or 0,
            feed_id=row.feed_id,
            source=row.source,
            title=row.title,
            link=row.link,
            summary=row.summary,
            published=row.published or start,
            language=row.language,
            topics=(),
            story_id=row.story_id,
        )
        for row in rows
    ]


def sources(session: Session, story_id: int) -> list[str]:
    """Distinct outlet names of a story's items, first reporter first."""
    return sources_of(session, [story_id]).get(story_id, [])


def sources_of(session: Session, story_ids: Collection[int]) -> dict[int, list[str]]:
    """``sources`` of many stories in one query (a lease batch, a digest): story id →
    outlet names; a story without named sources is absent."""
    found: dict[int, list[str]] = {}
    if not story_ids:
        return found
    rows = session.exec(
        select(Item.story_id, Item.source)
        .where(col(Item.story_id).in_(list(story_ids)))
        .order_by(col(Item.story_id), col(Item.published), col(Item.id))
    )
    for story_id, name in rows:
        if story_id is None or not name:
            continue
        names = found.setdefault(story_id, [])
        if name not in names:
            names.append(name)
    return found


def flag_edits(session: Session, story_id: int) -> int:
    """A new source joined: every alert of this story already sent gets an edit queued."""
    rows = session.exec(
        select(Delivery).where(
            Delivery.story_id == story_id,
            Delivery.kind == "alert",
            Delivery.status == "sent",
            col(Delivery.message_id).is_not(None),
        )
    ).all()
    for row in rows:
        row.edit_pending = True
        session.add(row)
    return len(rows)
