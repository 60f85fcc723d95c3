"""Topics and the lexicon (alias sets + relationship gate) they are matched with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from bot.errors import StoreError
from store.models import Meta, Topic
from store.snapshot import LEXICON_KEY  # the key's one name, readable without the ORM


def list_topics(session: Session, *, enabled_only: bool = False) -> list[Topic]:
    query = select(Topic).order_by(col(Topic.position), col(Topic.id))
    if enabled_only:
        query = query.where(col(Topic.enabled))
    return list(session.exec(query))


def get_topic(session: Session, slug: str) -> Topic:
    topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
    if topic is None:
        raise StoreError(f"no topic with slug {slug!r}")
    return topic


def find_topic(session: Session, slug: str) -> Topic | None:
    return session.exec(select(Topic).where(Topic.slug == slug)).first()


def upsert_topic(
    session: Session,
    slug: str,
    *,
    name: str,
    query: str,
    description: str = "",
    enabled: bool | None = None,
) -> tuple[Topic, bool]:
    """Create or update a topic by slug; returns (topic, created). Validate first!"""
    topic = find_topic(session, slug)
    created = topic is None
    if topic is None:
        position = len(list_topics(session))
        topic = Topic(slug=slug, name=name, query=query, description=description, position=position)
    else:
        topic.name, topic.query, topic.description = name, query, description
    if enabled is not None:
        topic.enabled = enabled
    session.add(topic)
    session.flush()
    return topic, created


def remove_topic(session: Session, slug: str) -> Topic:
    topic = get_topic(session, slug)
    session.delete(topic)
    session.flush()
    return topic


def topic_ids_by_slug(session: Session) -> dict[str, int]:
    return {t.slug: t.id for t in list_topics(session) if t.id is not None}


def save_lexicon(session: Session, lexicon: Mapping[str, Any]) -> None:
    _put_meta(session, LEXICON_KEY, json.dumps(lexicon, ensure_ascii=False, sort_keys=True))


def load_lexicon(session: Session) -> dict[str, Any] | None:
    value = get_meta(session, LEXICON_KEY)
    return None if value is None else dict(json.loads(value))


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return None if row is None else row.value


def _put_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        row = Meta(key=key, value=value)
    else:
        row.value = value
    session.add(row)
    session.flush()


put_meta = _put_meta
