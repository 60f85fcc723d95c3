"""First mentions (``bot.mentions``): the first story that named each entity."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from bot.mentions import Named, NameIndex
from store.db import upsert_insert
from store.models import Item, Mention, Meta

PRIMED_KEY = "mentions_primed"  # the history stored before the feature ran was read
_CHUNK = 2_000  # items read at a time when priming: a year of matched items is ~20 k


def _insert(session: Session, table: Any) -> Any:
    return upsert_insert(session)(table).on_conflict_do_nothing()


def known(session: Session, entities: Collection[str]) -> set[str]:
    """Which of ``entities`` a stored story already named."""
    if not entities:
        return set()
    rows = session.exec(select(Mention.entity).where(col(Mention.entity).in_(list(entities))))
    return set(rows)


def recorded_since(session: Session) -> datetime | None:
    """When the first recorded name was seen (None: none yet)."""
    return session.exec(select(func.min(Mention.first_seen))).one()


def record(session: Session, rows: Sequence[tuple[str, int, datetime, bool]]) -> None:
    """Keep (entity, story id, first seen, announced) rows, once per entity: a story is
    kept only when announced, the one its alert names it in (``of_stories``)."""
    if not rows:
        return
    values = [
        {"entity": entity, "story_id": story if announced else None, "first_seen": seen}
        for entity, story, seen, announced in rows
    ]
    session.execute(_insert(session, Mention.__table__), values)  # type: ignore[attr-defined]


def of_stories(session: Session, story_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
    """The entities each story was announced as the first mention of."""
    if not story_ids:
        return {}
    rows = session.exec(
        select(Mention.story_id, Mention.entity)
        .where(col(Mention.story_id).in_(list(story_ids)))
        .order_by(col(Mention.first_seen), col(Mention.entity))
    )
    found: dict[int, tuple[str, ...]] = {}
    for story_id, entity in rows:
        if story_id is not None:
            found[story_id] = (*found.get(story_id, ()), entity)
    return found


def prime(session: Session, index: NameIndex) -> bool:
    """Once: record the names of the history stored before first mentions existed,
    silently (they are no news). Returns whether it ran now."""
    if session.get(Meta, PRIMED_KEY) is not None:
        return False
    seen: set[str] = set()
    for chunk in _history(session, index):
        rows = []
        for item in chunk:
            for entity in item.entities:
                if entity not in seen:
                    seen.add(entity)
                    rows.append((entity, item.story_id, item.published, False))
        record(session, rows)
    session.execute(
        _insert(session, Meta.__table__),  # type: ignore[attr-defined]
        [{"key": PRIMED_KEY, "value": "1"}],
    )
    return True


def _history(session: Session, index: NameIndex) -> Iterator[list[Named]]:
    """The stored matched items (those in a story), oldest first, in chunks, with the
    names each holds."""
    last: tuple[datetime, int] | None = None
    while True:
        query = select(Item.id, Item.story_id, Item.published, Item.title, Item.summary).where(
            col(Item.story_id).is_not(None)
        )
        if last is not None:
            query = query.where(
                (col(Item.published) > last[0])
                | ((col(Item.published) == last[0]) & (col(Item.id) > last[1]))
            )
        rows = session.exec(query.order_by(col(Item.published), col(Item.id)).limit(_CHUNK)).all()
        if not rows:
            return
        last = (rows[-1][2], rows[-1][0])
        yield [
            Named(story, published, index.find(title, summary), False)
            for _, story, published, title, summary in rows
            if story is not None
        ]
