"""Builders for tests: deps over a real database, a fixed clock, a recording sender."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.deliver.pacing import Limits, Pacer
from bot.deps import Deps, open_deps
from bot.errors import DeliveryError
from bot.ingest.fetch import FetchLimits
from bot.seed_files import seed
from bot.settings import Settings
from bot.types import DeliveryIntent, Item, SendReceipt
from store import deliveries, feeds, items, subscribers
from store.db import transaction
from store.feeds import NewFeed


@dataclass
class RecordingSender:
    """Our own seam, faked: records messages; ``fail`` maps chat ids to an error."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    fail: dict[int, DeliveryError] = field(default_factory=dict)
    edits: list[tuple[int, int, str]] = field(default_factory=list)
    photos: list[tuple[int, bytes]] = field(default_factory=list)

    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt:
        if chat_id in self.fail:
            raise self.fail[chat_id]
        self.sent.append((chat_id, text))
        return SendReceipt(message_id=len(self.sent))

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, reply_markup: Any = None
    ) -> None:
        if chat_id in self.fail:
            raise self.fail[chat_id]
        self.edits.append((chat_id, message_id, text))

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt:
        self.photos.append((chat_id, png))
        return SendReceipt(message_id=1000 + len(self.photos))


def seeded(engine: Engine, clock: FixedClock) -> Engine:
    """Seeded topics and lexicon, no seeded (internet) feeds."""
    seed(engine, clock, with_feeds=False)
    return engine


def add_feed(engine: Engine, url: str, clock: FixedClock, name: str = "Test feed") -> int:
    with transaction(engine) as session:
        feed = feeds.add_feed(session, NewFeed(url=url, name=name), clock.now())
        assert feed.id is not None
        return feed.id


def add_subscriber(
    engine: Engine,
    chat_id: int,
    clock: FixedClock,
    *,
    language: str = "fr",
    chat_type: str = "private",
) -> int:
    with transaction(engine) as session:
        subscriber, _ = subscribers.register(
            session,
            chat_id,
            chat_type=chat_type,
            title=f"chat {chat_id}",
            language=language,
            now=clock.now(),
        )
        assert subscriber.id is not None
        return subscriber.id


FANOUT_LINK = "https://fanout.example/{n}"
_FANOUT_STORY = re.compile(r"https://fanout\.example/(\d+)")


def queue_fanout(
    engine: Engine, now: datetime, recipients: Sequence[Sequence[int]]
) -> int:
    """A fan-out as the pipeline queues it: story ``n`` (one item) is queued as an alert
    for each subscriber id in ``recipients[n]``, story after story, in one transaction.

    Returns how many alerts were queued. Each alert links to
    ``FANOUT_LINK.format(n=n)``; ``fanout_story`` reads ``n`` back from a sent message.
    """
    planned: list[tuple[int, DeliveryIntent]] = []
    with transaction(engine) as session:
        for n, subscriber_ids in enumerate(recipients):
            item = Item(
                identity=f"fanout:{n}",
                title=f"Bamako et Pékin : dépêche {n}",
                link=FANOUT_LINK.format(n=n),
                summary="Le Mali et la Chine ont signé un accord.",
                published=now,
                language="fr",
            )
            row = items.add_item(session, None, "Fanout", item, now)
            assert row.id is not None and row.story_id is not None
            planned += [
                (row.story_id, DeliveryIntent(sid, row.id, ("security",)))
                for sid in subscriber_ids
            ]
        return deliveries.queue_alerts_bulk(session, planned, now)


def fanout_story(text: str | None) -> int | None:
    """The story number of a ``queue_fanout`` alert, from its text."""
    found = _FANOUT_STORY.search(text or "")
    return int(found.group(1)) if found else None


def no_pacing() -> Pacer:
    """A pacer that never waits (tests drive time themselves)."""
    return Pacer(
        limits=Limits(private_interval=0, group_per_minute=10**9, overall_per_second=10**9)
    )


@asynccontextmanager
async def deps_for(
    engine: Engine, clock: FixedClock, sender: Any | None = None, **settings: Any
) -> AsyncIterator[Deps]:
    async with open_deps(
        Settings(database_url=str(engine.url), **settings),
        engine,
        sender or RecordingSender(),
        clock=clock,
        pacer=no_pacing(),
        fetch_limits=FetchLimits(timeout=5.0),
    ) as deps:
        deps.jitter = lambda: 0.0
        yield deps
