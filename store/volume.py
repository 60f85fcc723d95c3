"""Unusual volume (``bot.volume``): stories per topic per day, and who was told today."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from bot.volume import BASELINE_DAYS, NoteStory
from store import topics as store_topics
from store.models import Item, ItemTopic, Subscriber, Subscription, Topic

STATE_KEY = "volume_notes"  # {"day": "2026-12-03", "told": {slug: [subscriber ids]}}


@dataclass(frozen=True, slots=True)
class TopicDay:
    """One enabled topic: its baseline days' counts, today's stories (first first)."""

    slug: str
    name: str
    days: list[int]
    today: list[NoteStory]


def topic_days(session: Session, today: datetime, now: datetime) -> list[TopicDay]:
    """Each enabled topic's distinct stories per UTC day over the ``BASELINE_DAYS``
    before ``today`` (midnight UTC), and today's until ``now``; a story counts on the
    day of its first item of that topic."""
    start = today - timedelta(days=BASELINE_DAYS)
    rows = session.exec(
        select(Topic.slug, Item.story_id, Item.published, Item.title, Item.link, Item.source)
        .join(ItemTopic, col(ItemTopic.topic_id) == col(Topic.id))
        .join(Item, col(Item.id) == col(ItemTopic.item_id))
        .where(
            col(Topic.enabled),
            col(Item.story_id).is_not(None),
            col(Item.published) >= start,
            col(Item.published) <= now,
        )
    ).all()
    first: dict[tuple[str, int], tuple[datetime, NoteStory]] = {}
    for slug, story_id, published, title, link, source in rows:
        key = (slug, story_id or 0)
        if key not in first or published < first[key][0]:
            first[key] = (published, NoteStory(title, link, source))
    days: dict[str, list[int]] = defaultdict(lambda: [0] * BASELINE_DAYS)
    stories_today: dict[str, list[tuple[datetime, NoteStory]]] = defaultdict(list)
    for (slug, _), (published, story) in first.items():
        offset = (published - start) // timedelta(days=1)
        if offset >= BASELINE_DAYS:
            stories_today[slug].append((published, story))
        else:
            days[slug][offset] += 1
    names = {t.slug: t.name for t in store_topics.list_topics(session, enabled_only=True)}
    def first_first(slug: str) -> list[NoteStory]:
        return [story for _, story in sorted(stories_today[slug], key=lambda pair: pair[0])]

    return [TopicDay(slug, name, days[slug], first_first(slug)) for slug, name in names.items()]


def has_baseline(session: Session, today: datetime) -> bool:
    """Whether stories were stored from before the baseline's first day: without 14 days
    of history, a first poll's every topic would look like a spike."""
    start = today - timedelta(days=BASELINE_DAYS)
    found = session.exec(
        select(Item.id).where(col(Item.story_id).is_not(None), col(Item.published) < start).limit(1)
    ).first()
    return found is not None


@dataclass(frozen=True, slots=True)
class Reader:
    subscriber_id: int
    chat_id: int
    language: str
    timezone: str | None
    quiet_start: str | None
    quiet_end: str | None


def readers(session: Session, slug: str) -> list[Reader]:
    """The active, unpaused subscribers of a topic, whatever their mode."""
    rows = session.exec(
        select(
            Subscriber.id,
            Subscriber.chat_id,
            Subscriber.language,
            Subscriber.timezone,
            Subscriber.quiet_start,
            Subscriber.quiet_end,
        )
        .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
        .join(Topic, col(Topic.id) == col(Subscription.topic_id))
        .where(Topic.slug == slug, col(Subscriber.active), ~col(Subscriber.paused))
        .order_by(col(Subscriber.id))
    ).all()
    return [Reader(sid or 0, chat, lang, zone, qs, qe) for sid, chat, lang, zone, qs, qe in rows]


def told(session: Session, day: date) -> dict[str, set[int]]:
    """Who was told of each topic's unusual day ``day`` (nothing for another day)."""
    stored = json.loads(store_topics.get_meta(session, STATE_KEY) or "{}")
    if stored.get("day") != day.isoformat():
        return {}
    return {slug: set(ids) for slug, ids in (stored.get("told") or {}).items()}


def mark_told(session: Session, day: date, slug: str, subscriber_id: int) -> None:
    state = told(session, day)
    state.setdefault(slug, set()).add(subscriber_id)
    value = {"day": day.isoformat(), "told": {s: sorted(ids) for s, ids in state.items()}}
    store_topics.put_meta(session, STATE_KEY, json.dumps(value))
