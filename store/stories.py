"""Stories: items grouped as one event, and what that means for sent alerts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.types import StoredItem
from store.models import Delivery, Item, ItemTopic


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
    names: list[str] = []
    for name in session.exec(
        select(Item.source)
        .where(Item.story_id == story_id)
        .order_by(col(Item.published), col(Item.id))
    ):
        if name and name not in names:
            names.append(name)
    return names


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
