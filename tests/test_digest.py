"""Daily digests: timing as tables (minute by minute; over a real database through
restarts, crashes, downtime and changed settings), and the tick's content."""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from bot.clock import FixedClock
from bot.deliver.digest import (
    FIRST_DIGEST_SPAN,
    DigestPeriod,
    DigestReader,
    build_digest,
    digest_due,
    due_digests,
    render_digest,
)
from bot.deliver.digest_job import LEASE, DigestPlan, digest_tick, queue_due_digests
from bot.deliver.render import TELEGRAM_LIMIT, visible_len
from bot.errors import RetryLater
from bot.feedback import DIGEST_LINES_PER_MESSAGE
from bot.jobs import DIGEST_TICK_SECONDS
from bot.settings import Settings
from bot.timeparse import parse_hhmm
from bot.types import DigestStory, Item, Match, Preferences, SendReceipt
from store import digests, feeds, items, subscribers, topics
from store.db import transaction
from store.feeds import NewFeed
from store.models import Digest, Subscriber, Subscription
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


def reader(
    chat_id: int,
    zone: str = "Africa/Bamako",
    at: time = time(7, 30),
    *,
    last_at: datetime | None = None,
    last_day: str | None = None,
) -> DigestReader:
    prefs = Preferences(chat_id, chat_id, "fr", "digest", zone, at, None, ("security",))
    return DigestReader(prefs, last_at, last_day)


# Each row: the readers, now, and the digests due (chat, local day, start) — all ending now.
DUE_DIGESTS = [
    pytest.param(
        [reader(1)],
        utc(2, 23, 7, 30),
        [(1, date(2026, 2, 23), utc(2, 23, 7, 30) - FIRST_DIGEST_SPAN)],
        id="a reader's first digest looks back a day",
    ),
    pytest.param(
        [reader(1, last_at=utc(2, 22, 7, 31), last_day="2026-02-22")],
        utc(2, 23, 7, 45),
        [(1, date(2026, 2, 23), utc(2, 22, 7, 31))],
        id="the next covers everything since the last one",
    ),
    pytest.param(
        [reader(1, last_at=utc(2, 20, 7, 30), last_day="2026-02-20")],
        utc(2, 23, 9),
        [(1, date(2026, 2, 23), utc(2, 20, 7, 30))],
        id="days missed while down are one late digest covering the gap",
    ),
    pytest.param(
        [reader(1, last_at=utc(2, 23, 7, 30), last_day="2026-02-23")],
        utc(2, 23, 20),
        [],
        id="once a local day",
    ),
    pytest.param(
        [reader(1, "Asia/Shanghai"), reader(2, "America/New_York"), reader(3)],
        utc(2, 23, 7, 30),
        [
            (1, date(2026, 2, 23), utc(2, 22, 7, 30)),
            (3, date(2026, 2, 23), utc(2, 22, 7, 30)),
        ],
        id="each reader's own zone, in the readers' order (New York is still at 02:30)",
    ),
    pytest.param(
        [reader(1, at=time(18)), reader(2, at=time(6))],
        utc(2, 23, 7, 30),
        [(2, date(2026, 2, 23), utc(2, 22, 7, 30))],
        id="each reader's own time",
    ),
]


@pytest.mark.parametrize(("readers", "now", "expected"), DUE_DIGESTS)
def test_due_digests(
    readers: list[DigestReader], now: datetime, expected: list[tuple[int, date, datetime]]
) -> None:
    due = due_digests(readers, now)
    assert all(isinstance(period, DigestPeriod) and period.end == now for period in due)
    assert [(p.reader.chat_id, p.day, p.start) for p in due] == expected


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
    assert all(visible_len(m) <= TELEGRAM_LIMIT for m in messages)  # what Telegram counts
    story_lines = [line for m in messages for line in m.split("\n") if line[:1].isdigit()]
    assert all(
        line.startswith(("<b>#", "🗞")) or line in story_lines or not line
        for m in messages
        for line in m.split("\n")
    )
    # Numbered 1…400 across the messages, never more than one keyboard's worth a message.
    assert [int(line.split(".")[0]) for line in story_lines] == list(range(1, 401))
    assert all(
        sum(line[:1].isdigit() for line in m.split("\n")) <= DIGEST_LINES_PER_MESSAGE
        for m in messages
    )
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in messages[0]


@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        pytest.param("fr", 1, "— 1 sujet", id="one story is singular in French"),
        pytest.param("fr", 2, "— 2 sujets", id="two stories are plural in French"),
        pytest.param("en", 1, "— 1 story", id="one story is singular in English"),
        pytest.param("en", 3, "— 3 stories", id="three stories are plural in English"),
    ],
)
def test_the_header_counts_stories(language: str, count: int, expected: str) -> None:
    sections = build_digest([story(n, "security", 1) for n in range(count)], ["security"])
    [message] = render_digest(sections, language=language, day=date(2026, 2, 23))
    assert message.split("\n")[0].endswith(expected)


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


def tick(
    engine: Engine, clock: FixedClock, sender: RecordingSender, chart: str = "daily"
) -> list[DigestPlan]:
    """One digest tick; ``chart``: ``MCWATCH_DIGEST_CHART`` (here "daily" by default: the
    tests below are about a digest of two parts, its text and its chart)."""

    async def go() -> list[DigestPlan]:
        async with deps_for(engine, clock, sender, digest_chart=chart) as deps:
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


# -- Timing, minute by minute --------------------------------------------------------
# The scheduler asks "is a digest due?" every minute (bot.jobs.DIGEST_TICK_SECONDS); here
# the same question is asked for every minute of three local days, remembering the day
# a digest went out as the store does. Each row: the zone, the digest time, the first
# local day, the local times the digests come at (with their UTC offset), and the hours
# between consecutive digests, which show the 23- and 25-hour days of a change.
EVERY_MINUTE = [
    pytest.param(
        "Africa/Bamako",
        "07:30",
        date(2026, 3, 28),
        ("03-28T07:30+00:00", "03-29T07:30+00:00", "03-30T07:30+00:00"),
        (24, 24),
        id="Bamako (UTC+0, no daylight saving) gets its digest at 07:30 every 24 hours",
    ),
    pytest.param(
        "Asia/Shanghai",
        "07:30",
        date(2026, 2, 22),
        ("02-22T07:30+08:00", "02-23T07:30+08:00", "02-24T07:30+08:00"),
        (24, 24),
        id="Shanghai (UTC+8) gets it at 07:30 local, which is 23:30 UTC the evening before",
    ),
    pytest.param(
        "Europe/Paris",
        "07:30",
        date(2026, 3, 28),
        ("03-28T07:30+01:00", "03-29T07:30+02:00", "03-30T07:30+02:00"),
        (23, 24),
        id="Paris keeps 07:30 local across the spring change: once on the 23-hour day",
    ),
    pytest.param(
        "Europe/Paris",
        "07:30",
        date(2026, 10, 24),
        ("10-24T07:30+02:00", "10-25T07:30+01:00", "10-26T07:30+01:00"),
        (25, 24),
        id="Paris keeps 07:30 local across the autumn change: once on the 25-hour day",
    ),
    pytest.param(
        "America/New_York",
        "07:30",
        date(2026, 3, 7),
        ("03-07T07:30-05:00", "03-08T07:30-04:00", "03-09T07:30-04:00"),
        (23, 24),
        id="New York keeps 07:30 local across its spring change (8 March)",
    ),
    pytest.param(
        "America/New_York",
        "07:30",
        date(2026, 10, 31),
        ("10-31T07:30-04:00", "11-01T07:30-05:00", "11-02T07:30-05:00"),
        (25, 24),
        id="New York keeps 07:30 local across its autumn change (1 November)",
    ),
    pytest.param(
        "Europe/Paris",
        "02:30",
        date(2026, 3, 28),
        ("03-28T02:30+01:00", "03-29T03:00+02:00", "03-30T02:30+02:00"),
        (23.5, 23.5),
        id="a digest time the spring change skips (02:30) comes at 03:00, the first minute after",
    ),
    pytest.param(
        "Europe/Paris",
        "02:30",
        date(2026, 10, 24),
        ("10-24T02:30+02:00", "10-25T02:30+02:00", "10-26T02:30+01:00"),
        (24, 25),
        id="a digest time the autumn change repeats (02:30) comes once, at the first 02:30",
    ),
    pytest.param(
        "Africa/Bamako",
        "00:00",
        date(2026, 2, 23),
        ("02-23T00:00+00:00", "02-24T00:00+00:00", "02-25T00:00+00:00"),
        (24, 24),
        id="a digest at midnight belongs to the day that starts",
    ),
]


@pytest.mark.parametrize(("zone", "at", "first_day", "local_times", "hours"), EVERY_MINUTE)
def test_digest_comes_once_a_local_day_at_the_local_time(
    zone: str, at: str, first_day: date, local_times: tuple[str, ...], hours: tuple[float, ...]
) -> None:
    tz = ZoneInfo(zone)
    now = datetime.combine(first_day, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(first_day + timedelta(days=3), time(), tzinfo=tz).astimezone(UTC)
    digest_at = parse_hhmm(at)
    sent: list[datetime] = []
    last: str | None = None
    while now < end:
        day = digest_due(now, zone, digest_at, last)
        if day is not None:
            assert day == now.astimezone(tz).date()
            last = day.isoformat()
            sent.append(now)
        now += timedelta(seconds=DIGEST_TICK_SECONDS)
    assert [s.astimezone(tz).isoformat(timespec="minutes")[5:] for s in sent] == list(local_times)
    gaps = [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(sent)]
    assert gaps == list(hours)


# -- Timing over a real database: restarts, crashes, downtime, changed settings ------
@dataclass(frozen=True)
class Tick:
    """The scheduler's digest tick at ``at`` (UTC), in the running process."""

    at: datetime


@dataclass(frozen=True)
class Restart:
    """The process stops; the next tick runs in a new one (new deps, same database)."""


@dataclass(frozen=True)
class Crash:
    """A tick at ``at`` that dies after recording the due digests (``stage="queued"``)
    or after leasing them for sending (``stage="sending"``); then a new process."""

    at: datetime
    stage: str


@dataclass(frozen=True)
class Change:
    """The subscriber changes a setting at ``at`` (``/digesttime``, ``/timezone``)."""

    at: datetime
    settings: dict[str, str]


def on(month_day: str, hh_mm: str) -> datetime:
    month, day = (int(part) for part in month_day.split("-"))
    hour, minute = (int(part) for part in hh_mm.split(":"))
    return utc(month, day, hour, minute)


def ticks(*when: str) -> list[Tick]:
    """``ticks("02-23 07:29", …)``: UTC month-day and time."""
    return [Tick(on(*w.split())) for w in when]


# Each row: the subscriber's zone and digest time, what happens (UTC), and the UTC times
# their daily digest is completed. News is quiet in these rows (an empty digest is
# recorded and completed like a full one, without the chart): only timing is at stake.
LIFE = [
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [
            *ticks("02-23 07:29", "02-23 07:30"),
            Restart(),
            *ticks("02-23 07:31", "02-23 18:00", "02-24 07:30"),
        ],
        ("02-23 07:30", "02-24 07:30"),
        id="a restart after today's digest sends nothing more that day",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [Crash(on("02-23", "07:30"), "queued"), *ticks("02-23 07:31", "02-23 09:00")],
        ("02-23 07:31",),
        id="a crash after recording the digest: the next process sends it, once",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [
            Crash(on("02-23", "07:30"), "sending"),
            *ticks("02-23 07:35", "02-23 07:41", "02-23 09:00"),
        ],
        ("02-23 07:41",),
        id="a crash while sending: sent again once, when its 10-minute lease has run out",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [*ticks("02-23 07:00"), Restart(), *ticks("02-23 11:00", "02-23 11:01", "02-23 23:59")],
        ("02-23 11:00",),
        id="down over the digest time: sent late when back, once",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [*ticks("02-23 07:30"), Restart(), *ticks("02-25 09:00", "02-25 09:01", "02-26 07:30")],
        ("02-23 07:30", "02-25 09:00", "02-26 07:30"),
        id="down over two digest times: one digest when back, not two",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [
            *ticks("02-23 07:30"),
            Change(on("02-23", "12:00"), {"digest_time": "18:00"}),
            *ticks("02-23 18:00", "02-23 23:59", "02-24 07:30", "02-24 18:00"),
        ],
        ("02-23 07:30", "02-24 18:00"),
        id="a digest time moved later after today's digest: no second digest that day",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [
            *ticks("02-23 06:00"),
            Change(on("02-23", "06:05"), {"digest_time": "06:15"}),
            *ticks("02-23 06:15", "02-23 07:30"),
        ],
        ("02-23 06:15",),
        id="a digest time moved earlier before today's digest: it comes at the new time, once",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [
            *ticks("02-23 07:30"),
            Change(on("02-23", "10:00"), {"timezone": "America/New_York"}),
            *ticks("02-23 12:30", "02-23 23:59", "02-24 12:29", "02-24 12:30"),
        ],
        ("02-23 07:30", "02-24 12:30"),
        id="moving west (Bamako to New York) after today's digest: none again that day",
    ),
    pytest.param(
        "Africa/Bamako",
        "07:30",
        [
            *ticks("02-23 07:30"),
            Change(on("02-23", "12:00"), {"timezone": "Asia/Shanghai"}),
            *ticks("02-23 12:01", "02-23 23:29", "02-23 23:30"),
        ],
        ("02-23 07:30", "02-23 23:30"),
        id="moving east (Bamako to Shanghai): the next one at 07:30 on the next Shanghai day",
    ),
    # A known limit of the at-most-once key (subscriber, local date): the Shanghai
    # digest of the 24th already holds that date, so New York's 24th gets none.
    pytest.param(
        "Asia/Shanghai",
        "07:30",
        [
            *ticks("02-23 23:30"),
            Change(on("02-24", "01:00"), {"timezone": "America/New_York"}),
            *ticks("02-24 12:30", "02-25 12:30"),
        ],
        ("02-23 23:30", "02-25 12:30"),
        id="moving to a zone still on the day before (Shanghai to New York) skips a day there",
    ),
    pytest.param(
        "Europe/Paris",
        "07:30",
        [
            *ticks("03-28 06:29", "03-28 06:30"),
            Restart(),
            *ticks("03-29 01:00", "03-29 05:29", "03-29 05:30", "03-29 06:30"),
        ],
        ("03-28 06:30", "03-29 05:30"),
        id="Paris across the spring change, restarted in the night: 07:30 local both days",
    ),
    pytest.param(
        "Europe/Paris",
        "07:30",
        ticks("10-24 05:30", "10-25 01:00", "10-25 05:30", "10-25 06:30", "10-25 07:30"),
        ("10-24 05:30", "10-25 06:30"),
        id="Paris across the autumn change: 07:30 local both days, 05:30 UTC only once",
    ),
]


def completed(engine: Engine) -> list[tuple[str, datetime]]:
    """(local date, completed at) of each daily digest sent or found empty."""
    with transaction(engine) as session:
        rows = session.exec(
            select(Digest).where(col(Digest.status).in_(("sent", "empty"))).order_by(col(Digest.id))
        ).all()
        return [(row.local_date, row.sent_at) for row in rows if row.sent_at is not None]


@pytest.mark.parametrize(("zone", "at", "steps", "expected"), LIFE)
def test_digest_timing_through_restarts_downtime_and_changes(
    engine: Engine,
    zone: str,
    at: str,
    steps: list[Tick | Restart | Crash | Change],
    expected: tuple[str, ...],
) -> None:
    first = next(step.at for step in steps if not isinstance(step, Restart))
    clock = FixedClock(first)
    digest_reader(engine, clock)
    with transaction(engine) as session:
        subscribers.update_subscriber(session, 20, timezone=zone, digest_time=at)
    sender = RecordingSender()

    async def live() -> None:
        async with AsyncExitStack() as process:
            deps = await process.enter_async_context(deps_for(engine, clock, sender))
            for step in steps:
                if isinstance(step, Restart | Crash):
                    if isinstance(step, Crash):
                        clock.current = step.at
                        queue_due_digests(deps)
                        if step.stage == "sending":
                            with transaction(engine) as session:
                                digests.lease_digests(session, clock.now(), lease=LEASE)
                    await process.aclose()
                    deps = await process.enter_async_context(deps_for(engine, clock, sender))
                elif isinstance(step, Change):
                    clock.current = step.at
                    with transaction(engine) as session:
                        subscribers.update_subscriber(session, 20, **step.settings)
                else:
                    clock.current = step.at
                    await digest_tick(deps)

    asyncio.run(live())
    done = completed(engine)
    assert [when.strftime("%m-%d %H:%M") for _, when in done] == list(expected)
    assert len({day for day, _ in done}) == len(done)  # never two for one local day
    assert sender.sent == [] and sender.photos == []  # quiet news: nothing to say


@pytest.mark.parametrize(
    ("chart", "mode", "photo"),
    [
        pytest.param("weekly", "digest", False, id="by default a daily digest has no PNG"),
        pytest.param("weekly", "weekly", True, id="by default a weekly digest has the PNG"),
        pytest.param("daily", "digest", True, id="daily: every digest has the PNG"),
        pytest.param("off", "weekly", False, id="off: no digest has the PNG"),
    ],
)
def test_which_digests_carry_the_chart(engine: Engine, chart: str, mode: str, photo: bool) -> None:
    """Without the PNG a digest ends with the trend as a line of text, in its last
    message: one message a reader, half of Telegram's budget for a round."""
    clock = FixedClock(utc(2, 23, 7, 31))  # a Monday: a weekly reader's digest is due
    digest_reader(engine, clock)
    with transaction(engine) as session:
        subscribers.update_subscriber(session, 20, mode=mode)
    matched_item(engine, 1, utc(2, 23, 7))
    sender = RecordingSender()
    [plan] = tick(engine, clock, sender, chart=chart)
    assert (len(sender.photos) == 1) is photo
    [(_, text)] = sender.sent
    last = text.split("\n")[-1]
    if photo:
        assert "Histoire 1" in last and plan.chart is not None  # the stories, then the PNG
    else:
        assert last.startswith("Sujets par thème, 14 derniers jours") and last.endswith("(max 1)")
        assert "Histoire 1" in text and plan.chart is None  # one message: stories and trend


@dataclass
class ChartRefusedOnce(RecordingSender):
    """Telegram answers the first chart with 429 ``retry_after`` (a short one)."""

    retry_after: float = 3.0
    refused: int = 0

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt:
        if not self.refused:
            self.refused += 1
            raise RetryLater("Too Many Requests: retry after 1", self.retry_after)
        return await super().send_photo(chat_id, png, caption)


def test_a_short_429_on_the_chart_sends_neither_part_twice(engine: Engine) -> None:
    """The 429 is waited out in place, on the pacer's clock (the injected sleep moves
    the FixedClock: nothing sleeps), as for an alert (tests/test_send_policy.py)."""
    clock = FixedClock(utc(2, 23, 7, 30))
    digest_reader(engine, clock)
    matched_item(engine, 1, utc(2, 23, 7))
    sender = ChartRefusedOnce()

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    async def go() -> list[DigestPlan]:
        async with deps_for(engine, clock, sender, digest_chart="daily") as deps:
            deps.pacer = replace(deps.pacer, now=lambda: clock.now().timestamp(), sleep=sleep)
            return await digest_tick(deps)

    assert len(asyncio.run(go())) == 1  # sent in the first tick
    assert clock.now() == utc(2, 23, 7, 30) + timedelta(seconds=3)  # waited in place
    clock.advance(minutes=1)
    tick(engine, clock, sender)
    assert sender.refused == 1
    assert len(sender.sent) == 1 and len(sender.photos) == 1  # one message, one chart


@dataclass
class ChartDownOnce(RecordingSender):
    """The Bot API answers the first chart with a 5xx (a retry much later, backing off)."""

    refused: int = 0

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt:
        if not self.refused:
            self.refused += 1
            raise RetryLater("Bad Gateway", 5.0, backoff=True)
        return await super().send_photo(chat_id, png, caption)


def test_a_digest_that_failed_halfway_resumes_after_what_was_delivered(engine: Engine) -> None:
    clock = FixedClock(utc(2, 23, 7, 30))
    digest_reader(engine, clock)
    matched_item(engine, 1, utc(2, 23, 7))
    sender = ChartDownOnce()
    tick(engine, clock, sender)  # text accepted, chart refused: back in the queue
    assert (sender.refused, len(sender.sent), len(sender.photos)) == (1, 1, 0)
    clock.advance(minutes=1)
    tick(engine, clock, sender)  # the retry sends the chart only
    assert (len(sender.sent), len(sender.photos)) == (1, 1)
    clock.advance(hours=2)
    tick(engine, clock, sender)  # and nothing more that day
    assert (len(sender.sent), len(sender.photos)) == (1, 1)
    [(day, _)] = completed(engine)
    assert day == "2026-02-23"


def test_the_console_trend_is_a_line_of_text() -> None:
    from datetime import date, timedelta

    from bot.deliver.charts import trend_text

    days = [date(2026, 3, 1) + timedelta(days=n) for n in range(4)]
    line = trend_text(days, {"mining": [0, 1, 4, 2], "energy": [0, 0, 4, 0]}, language="en")
    assert line == "Stories per topic, last 14 days: ·▁█▂ (max 8)"
    assert trend_text(days, {}, language="fr") == (
        "Sujets par thème, 14 derniers jours\u00a0: ···· (max 0)"
    )


# -- `mcwatch digest` (the preview) shows what the job queues -------------------------
# (chat, mode, zone, digest time, paused, today's digest already sent) at 07:45 UTC.
READERS = [
    (20, "digest", None, None, False, False),  # the defaults: Bamako, 07:30 — due
    (21, "both", "Europe/Paris", None, False, False),  # 08:45 in Paris — due
    (22, "digest", "Asia/Shanghai", "18:00", False, False),  # 15:45 there — not yet
    (23, "digest", "America/New_York", None, False, False),  # 02:45 there — not yet
    (24, "digest", None, None, True, False),  # paused
    (25, "instant", None, None, False, False),  # wants no digest
    (26, "digest", None, "07:00", False, True),  # today's is done
]


def test_the_cli_preview_shows_the_digests_the_job_queues(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.digest import _digest
    from bot.cli.runtime import Runtime

    clock = FixedClock(utc(2, 23, 7, 45))
    for chat_id, mode, zone, at, paused, done in READERS:
        digest_reader(engine, clock, chat_id)
        with transaction(engine) as session:
            subscribers.update_subscriber(
                session, chat_id, mode=mode, timezone=zone, digest_time=at, paused=paused
            )
            if done:
                subscriber = subscribers.get_subscriber(session, chat_id)
                assert subscriber.id is not None
                digests.queue_digest(
                    session,
                    subscriber.id,
                    "2026-02-23",
                    utc(2, 22, 7),
                    utc(2, 23, 7),
                    utc(2, 23, 7),
                )
    runtime = Runtime(Settings(database_url=str(engine.url)), clock)
    runtime.__dict__["engine"] = engine  # the test's database, already migrated
    asyncio.run(_digest(runtime, False, None))
    shown = [
        int(line.split()[4])
        for line in capsys.readouterr().out.splitlines()
        if "digest for" in line
    ]

    async def job() -> None:
        async with deps_for(engine, clock) as deps:
            queue_due_digests(deps)

    asyncio.run(job())
    with transaction(engine) as session:
        queued = session.exec(
            select(Subscriber.chat_id)
            .join(Digest, col(Digest.subscriber_id) == col(Subscriber.id))
            .where(col(Digest.created_at) == clock.now())
            .order_by(col(Subscriber.id))
        ).all()
    assert shown == list(queued) == [20, 21]


def test_every_reader_is_read_with_their_topics_and_last_digest(engine: Engine) -> None:
    """More readers than one IN list holds (500 ids a query): none lost at a boundary."""
    now = utc(2, 23, 7, 45)
    with transaction(engine) as session:
        topic, _ = topics.upsert_topic(session, "security", name="Sécurité", query="securite")
        rows = [Subscriber(chat_id=n, mode="digest", created_at=now) for n in range(1, 1202)]
        session.add_all(rows)
        session.flush()
        for row in rows:
            assert row.id is not None and topic.id is not None
            session.add(Subscription(subscriber_id=row.id, topic_id=topic.id))
            if row.chat_id % 100 == 0:
                digests.queue_digest(session, row.id, "2026-02-22", now, now, now)
    with transaction(engine) as session:
        readers = digests.digest_readers(session, Settings())
    assert [r.preferences.chat_id for r in readers] == list(range(1, 1202))
    assert all(r.preferences.topics == ("security",) for r in readers)
    assert [r.preferences.chat_id for r in readers if r.last_local_date == "2026-02-22"] == list(
        range(100, 1202, 100)
    )


def test_a_digest_now_covers_what_came_since_the_last_daily_one(engine: Engine) -> None:
    """/digest and `digest --chat`: from the end of the last sent daily digest (read from
    the digests, the caller's preferences not read again), else the last day."""
    from bot.deliver.digest_job import digest_now

    clock = FixedClock(utc(2, 23, 7, 31))
    digest_reader(engine, clock)
    matched_item(engine, 1, utc(2, 22, 18))

    def now() -> DigestPlan:
        async def go() -> DigestPlan:
            async with deps_for(engine, clock, RecordingSender()) as deps:
                with transaction(engine) as session:
                    prefs = subscribers.preferences(session, 20, deps.settings)
                assert prefs is not None
                return digest_now(deps, prefs)

        return asyncio.run(go())

    assert now().stories == 1  # no daily digest yet: the last day
    [daily] = tick(engine, clock, RecordingSender())
    assert daily.stories == 1
    clock.current = utc(2, 23, 12)
    assert now().stories == 0  # nothing since the daily one
    matched_item(engine, 2, utc(2, 23, 11))
    assert now().stories == 1
