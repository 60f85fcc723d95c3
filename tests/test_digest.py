"""Daily digests: timing as a table, and the tick over a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.daily import DigestPlan, digest_tick
from bot.digest import build_digest, digest_due, render_digest
from bot.render import TELEGRAM_LIMIT, utf16_len
from bot.types import DigestStory, Item, Match
from store import feeds, items, subscribers, topics
from store.db import transaction
from store.feeds import NewFeed
from tests.support.builders import RecordingSender, add_subscriber, deps_for


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


DUE = [
    ("Bamako (UTC+0): due at 07:30", utc(2, 23, 7, 30), "Africa/Bamako", None, date(2026, 2, 23)),
    ("Bamako: not before 07:30", utc(2, 23, 7, 29), "Africa/Bamako", None, None),
    (
        "Paris (UTC+1 in winter): 07:30 local is 06:30 UTC",
        utc(2, 23, 6, 30),
        "Europe/Paris",
        None,
        date(2026, 2, 23),
    ),
    (
        "Paris after the spring change (UTC+2): 07:30 local is 05:30 UTC",
        utc(3, 30, 5, 30),
        "Europe/Paris",
        "2026-03-29",
        date(2026, 3, 30),
    ),
    (
        "Paris on the change day itself (29 March): 07:30 CEST is 05:30 UTC",
        utc(3, 29, 5, 30),
        "Europe/Paris",
        "2026-03-28",
        date(2026, 3, 29),
    ),
    (
        "New York on the autumn change day (1 November): 07:30 EST is 12:30 UTC",
        utc(11, 1, 12, 30),
        "America/New_York",
        "2026-10-31",
        date(2026, 11, 1),
    ),
    (
        "Beijing (UTC+8): the local day, not the UTC day",
        utc(2, 22, 23, 30),
        "Asia/Shanghai",
        "2026-02-22",
        date(2026, 2, 23),
    ),
    ("already sent today: not again", utc(2, 23, 9), "Africa/Bamako", "2026-02-23", None),
    (
        "after a restart the same day: still not again",
        utc(2, 23, 20),
        "Africa/Bamako",
        "2026-02-23",
        None,
    ),
    (
        "missed days are one late digest, today's",
        utc(2, 26, 15),
        "Africa/Bamako",
        "2026-02-23",
        date(2026, 2, 26),
    ),
]


@pytest.mark.parametrize(("case", "now", "zone", "last", "expected"), DUE, ids=[c[0] for c in DUE])
def test_digest_due(
    case: str, now: datetime, zone: str, last: str | None, expected: date | None
) -> None:
    assert digest_due(now, zone, time(7, 30), last) == expected


def story(n: int, topic: str, sources: int) -> DigestStory:
    return DigestStory(
        n,
        f"Story {n} <b>&</b>",
        f"https://e.org/{n}",
        "Studio Tamani",
        sources,
        topic,
        utc(2, 23, 8),
    )


def test_sections_by_coverage_then_stories_by_sources() -> None:
    sections = build_digest(
        [
            story(1, "energy", 1),
            story(2, "security", 2),
            story(3, "security", 3),
            story(4, "energy", 1),
        ],
        ["security", "defense", "energy"],
    )
    assert [s.topic for s in sections] == ["security", "energy"]
    assert [s.story_id for s in sections[0].stories] == [3, 2]


def test_long_digests_split_at_story_boundaries_and_escape() -> None:
    stories = [story(n, "security", 1 + n % 4) for n in range(400)]
    messages = render_digest(
        build_digest(stories, ["security"]), language="fr", day=date(2026, 2, 23)
    )
    assert len(messages) > 1
    assert all(utf16_len(m) <= TELEGRAM_LIMIT for m in messages)
    assert all(
        line.startswith(("•", "<b>#", "🗞")) or not line for m in messages for line in m.split("\n")
    )
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in messages[0]


def digest_reader(engine: Engine, clock: FixedClock, chat_id: int = 20) -> None:
    """A subscriber in digest mode, subscribed to the one topic."""
    with transaction(engine) as session:
        topics.upsert_topic(session, "security", name="Sécurité", query="securite")
    add_subscriber(engine, chat_id, clock)
    with transaction(engine) as session:
        subscribers.update_subscriber(session, chat_id, mode="digest")


def matched_item(engine: Engine, n: int, fetched: datetime, source: str = "A") -> None:
    with transaction(engine) as session:
        feed = feeds.find_feed_by_url(session, f"https://{source}.example/rss")
        if feed is None:
            feed = feeds.add_feed(session, NewFeed(url=f"https://{source}.example/rss"), fetched)
        assert feed.id
        row = items.add_item(
            session,
            feed.id,
            source,
            Item(f"g{n}", f"Histoire {n}", None, "", fetched, "fr"),
            fetched,
        )
        assert row.id
        items.record_matches(
            session, row.id, [Match("security", ("x",))], topics.topic_ids_by_slug(session)
        )


def tick(engine: Engine, clock: FixedClock, sender: RecordingSender) -> list[DigestPlan]:
    async def go() -> list[DigestPlan]:
        async with deps_for(engine, clock, sender) as deps:
            return await digest_tick(deps)

    return asyncio.run(go())


def test_one_digest_a_day_across_restarts_and_a_missed_day(engine: Engine) -> None:
    clock = FixedClock(utc(2, 23, 6))
    digest_reader(engine, clock)
    matched_item(engine, 1, utc(2, 22, 18))
    sender = RecordingSender()
    assert tick(engine, clock, sender) == []  # 06:00: too early
    clock.current = utc(2, 23, 7, 31)
    [plan] = tick(engine, clock, sender)
    assert plan.stories == 1 and plan.day == date(2026, 2, 23)
    assert len(sender.photos) == 1 and sender.photos[0][1].startswith(b"\x89PNG")
    assert tick(engine, clock, RecordingSender()) == []  # a "restart": nothing again
    # Down for two days; items kept arriving.
    matched_item(engine, 2, utc(2, 24, 10))
    matched_item(engine, 3, utc(2, 25, 10))
    clock.current = utc(2, 26, 9)
    [late] = tick(engine, clock, sender)
    assert late.stories == 2 and late.day == date(2026, 2, 26)  # the gap, once
    assert tick(engine, clock, sender) == []


def test_an_empty_day_sends_nothing_but_counts(engine: Engine) -> None:
    clock = FixedClock(utc(2, 23, 8))
    digest_reader(engine, clock)
    sender = RecordingSender()
    assert tick(engine, clock, sender) == [] and sender.sent == []
    matched_item(engine, 1, utc(2, 23, 9))
    assert tick(engine, clock, sender) == []  # today's (empty) digest is done
    clock.advance(days=1)
    [plan] = tick(engine, clock, sender)
    assert plan.stories == 1


def test_instant_only_subscribers_get_no_digest(engine: Engine) -> None:
    clock = FixedClock(utc(2, 23, 8))
    with transaction(engine) as session:
        topics.upsert_topic(session, "security", name="Sécurité", query="securite")
    add_subscriber(engine, 20, clock)  # instant mode
    matched_item(engine, 1, utc(2, 23, 7))
    assert tick(engine, clock, RecordingSender()) == []
