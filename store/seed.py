"""Load validated seed data (topics, lexicon, feeds) into the database, idempotently."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from store import feeds, topics
from store.feeds import NewFeed


@dataclass(frozen=True, slots=True)
class TopicSeed:
    slug: str
    name: str
    query: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class SeedReport:
    topics_added: int
    topics_updated: int
    feeds_added: int


def apply_seed(
    session: Session,
    *,
    topic_seeds: Sequence[TopicSeed],
    lexicon: Mapping[str, Any],
    feed_seeds: Sequence[NewFeed],
    now: datetime,
    update_topics: bool = True,
) -> SeedReport:
    """Upsert topics by slug, replace the lexicon, add feeds not yet watched (by URL).

    Running it twice changes nothing the second time. With ``update_topics=False``
    existing topics keep an admin's edits (first start never overwrites).
    """
    added = updated = 0
    for seed in topic_seeds:
        existing = topics.find_topic(session, seed.slug)
        if existing is not None and not update_topics:
            continue
        if existing is not None and (existing.name, existing.query, existing.description) == (
            seed.name,
            seed.query,
            seed.description,
        ):
            continue
        _, created = topics.upsert_topic(
            session, seed.slug, name=seed.name, query=seed.query, description=seed.description
        )
        added += created
        updated += not created
    topics.save_lexicon(session, lexicon)
    feeds_added = feeds.ensure_feeds(session, feed_seeds, now)
    return SeedReport(added, updated, feeds_added)


def is_seeded(session: Session) -> bool:
    return bool(topics.list_topics(session))
