"""What `mcwatch run` says about the watch when it starts: counts, not rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from store.models import Feed, Topic


@dataclass(frozen=True, slots=True)
class Overview:
    topics_enabled: int
    feeds_enabled: int
    next_poll_at: datetime | None  # the soonest enabled feed's; None: never polled yet


def overview(session: Session) -> Overview:
    topics = session.exec(select(func.count()).select_from(Topic).where(Topic.enabled)).one()
    feeds, next_at = session.exec(
        select(func.count(), func.min(Feed.next_poll_at)).where(Feed.enabled)
    ).one()
    if next_at is not None and next_at.tzinfo is None:  # SQLite hands back naive UTC
        next_at = next_at.replace(tzinfo=UTC)
    return Overview(int(topics), int(feeds), next_at)
