"""Retention and ``mcwatch db vacuum`` (issue 14, point 6), and stories for matched items
only (point 1), on a real SQLite file and a real PostgreSQL server.

What must never go: a matched item, anything younger than the retention, and an alert
row that still stops a story from being sent twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import select as orm_select
from typer.testing import CliRunner

from bot.cli import app
from bot.clock import FixedClock, SystemClock
from bot.deliver.outbox import deliver_pending
from bot.errors import SettingsError
from bot.ingest.dedupe import THRESHOLDS
from bot.ingest.pipeline import PollOutcome, poll
from bot.settings import load_settings
from bot.types import DeliveryIntent, Item, Match
from store import deliveries, items, retention, topics
from store.db import make_engine, transaction, where
from store.migrate import upgrade
from store.models import Delivery, Story
from store.models import Item as ItemRow
from tests.support.builders import RecordingSender, add_feed, add_subscriber, deps_for, seeded

DAY = timedelta(days=1)
REPORT = """<item><guid>{guid}</guid><title>Sécurité : Bamako et Pékin se concertent</title>
<link>https://example.org/{guid}</link><pubDate>{date}</pubDate>
<description>L'ambassadeur de Chine et le ministre malien de la Sécurité ont parlé à Bamako
de la protection des ressortissants chinois.</description></item>"""
UNMATCHED = """<item><guid>{guid}</guid><title>Une machine à coudre primée à Ségou</title>
<link>https://example.org/{guid}</link><pubDate>{date}</pubDate>
<description>Un artisan de Ségou remporte un prix.</description></item>"""


def rss(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Le Sahel</title><language>fr</language>{''.join(entries)}</channel></rss>"
    ).encode()


def rfc822(at: datetime) -> str:
    return at.strftime("%a, %d %b %Y %H:%M:%S +0000")


def poll_and_send(engine: Engine, clock: FixedClock, **settings: object) -> list[PollOutcome]:
    async def go() -> list[PollOutcome]:
        async with deps_for(engine, clock, RecordingSender(), **settings) as deps:
            outcomes = await poll(deps, include_not_due=True)
            await deliver_pending(deps)
            return outcomes

    return asyncio.run(go())


def count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


# --- stories only for matched items ------------------------------------------------


def test_an_unmatched_item_is_stored_in_no_story(engine: Engine, feed_server) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    seeded(engine, clock)
    now = rfc822(clock.now())
    feed_server.serve(
        "/f.rss", rss(REPORT.format(guid="m1", date=now), UNMATCHED.format(guid="u1", date=now))
    )
    add_feed(engine, feed_server.url("/f.rss"), clock)
    [outcome] = poll_and_send(engine, clock)
    assert (outcome.new_items, outcome.matched) == (2, 1)
    with transaction(engine) as session:
        stored = {row.identity: row for row in session.exec(orm_select(ItemRow))}
    unmatched = next(row for key, row in stored.items() if key.endswith("u1"))
    matched = next(row for key, row in stored.items() if key.endswith("m1"))
    assert unmatched.story_id is None and matched.story_id is not None
    assert count(engine, Story) == 1  # the matched item's; none for the other


def test_add_items_tells_no_story_from_a_story_of_its_own(engine: Engine) -> None:
    clock = FixedClock()
    records = [_record(f"i{n}", clock.now()) for n in range(4)]
    with transaction(engine) as session:
        stored = items.add_items(
            session, None, "Src", records, [items.NO_STORY, None, -1, -1], clock.now()
        )
    (_, none), (_, alone), (_, first), (_, second) = stored
    assert none is None
    assert alone is not None and first is not None and alone != first == second
    assert count(engine, Story) == 2


# --- prune ---------------------------------------------------------------------------


def _record(identity: str, published: datetime) -> Item:
    return Item(
        identity=identity,
        title=f"Bamako et Pékin : dépêche {identity}",
        link=f"https://example.org/{identity}",
        summary="Le Mali et la Chine ont signé un accord.",
        published=published,
        language="fr",
    )


def _unmatched(engine: Engine, identity: str, at: datetime, *, story: int | None) -> int:
    """An unmatched item fetched at ``at``; ``story=None``: a story of its own, as
    mcwatch wrote them before issue 14."""
    with transaction(engine) as session:
        [(item_id, _)] = items.add_items(session, None, "Src", [_record(identity, at)], [story], at)
        return item_id


def _alerted(
    engine: Engine, identity: str, at: datetime, subscriber: int, *, status: str = "sent"
) -> tuple[int, int]:
    """A matched item published and fetched at ``at``, its alert queued then (and sent
    when ``status`` says so). Returns (item id, story id)."""
    with transaction(engine) as session:
        [(item_id, story_id)] = items.add_items(
            session, None, "Src", [_record(identity, at)], [None], at
        )
        assert story_id is not None
        items.add_matches(
            session, [(item_id, Match("security", ("chine",)))], topics.topic_ids_by_slug(session)
        )
        intent = DeliveryIntent(subscriber, item_id, ("security",))
        deliveries.queue_alerts_bulk(session, [(story_id, intent)], at)
        delivery_id = session.exec(orm_select(Delivery.id).where(Delivery.item_id == item_id)).one()
        assert delivery_id is not None
        if status == "sent":
            deliveries.mark_sent(session, delivery_id, at, message_id=1)
        elif status == "failed":
            deliveries.mark_failed(session, delivery_id, "given up")
        elif status == "edit":
            deliveries.mark_sent(session, delivery_id, at, message_id=1)
            row = session.get(Delivery, delivery_id)
            assert row is not None
            row.edit_pending = True
    return item_id, story_id


def _ids(engine: Engine, table: type) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(select(table.id)).scalars())  # type: ignore[attr-defined]


def test_prune_takes_only_old_unmatched_items(engine: Engine) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    subscriber = add_subscriber(engine, 11, clock)
    old, now = clock.now(), clock.now() + 100 * DAY
    gone = _unmatched(engine, "old-unmatched", old, story=items.NO_STORY)
    legacy = _unmatched(engine, "old-legacy", old, story=None)  # with a story of its own
    young = _unmatched(engine, "young-unmatched", now - 29 * DAY, story=items.NO_STORY)
    matched, _ = _alerted(engine, "old-matched", old, subscriber)
    stories_before = count(engine, Story)
    limits = retention.cutoffs(now, 30 * DAY, 3 * DAY, THRESHOLDS.repost_window)
    pruned = retention.prune(engine, limits)
    assert (pruned.items, pruned.stories) == (2, 1)
    left = _ids(engine, ItemRow)
    assert gone not in left and legacy not in left
    assert {young, matched} <= left
    assert count(engine, Story) == stories_before - 1  # the legacy item's story went too
    assert retention.prune(engine, limits) == retention.Pruned()  # nothing left to do


def test_a_dry_run_counts_the_same_and_changes_nothing(engine: Engine) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    subscriber = add_subscriber(engine, 11, clock)
    old, now = clock.now(), clock.now() + 100 * DAY
    for n in range(5):
        _unmatched(engine, f"u{n}", old, story=None)
    _alerted(engine, "m", old, subscriber)
    limits = retention.cutoffs(now, 30 * DAY, 3 * DAY, THRESHOLDS.repost_window)
    before = (_ids(engine, ItemRow), _ids(engine, Story), _ids(engine, Delivery))
    dry = retention.prune(engine, limits, dry_run=True, batch=2)  # several batches
    assert (_ids(engine, ItemRow), _ids(engine, Story), _ids(engine, Delivery)) == before
    expected = retention.Pruned(items=5, alerts=1, stories=5)
    assert dry == retention.prune(engine, limits, batch=2) == expected


# (age of the alert and of its story's newest report, in days; status; kept?)
ALERTS = [
    pytest.param(100, "sent", False, id="a sent alert of a long-closed story goes"),
    pytest.param(100, "failed", False, id="a failed one too"),
    pytest.param(100, "queued", True, id="an alert still owed stays, however old"),
    pytest.param(100, "edit", True, id="a sent alert awaiting its edit stays"),
    pytest.param(20, "sent", True, id="younger than the retention: stays"),
]


@pytest.mark.parametrize(("age", "status", "kept"), ALERTS)
def test_which_alerts_are_pruned(engine: Engine, age: int, status: str, kept: bool) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    subscriber = add_subscriber(engine, 11, clock)
    now = clock.now() + 200 * DAY
    _alerted(engine, "m", now - age * DAY, subscriber, status=status)
    pruned = retention.prune(
        engine, retention.cutoffs(now, 30 * DAY, 3 * DAY, THRESHOLDS.repost_window)
    )
    assert pruned.alerts == (0 if kept else 1)
    assert count(engine, Delivery) == (1 if kept else 0)


@pytest.mark.parametrize(
    ("days", "kept"),
    [
        pytest.param(8, True, id="a story a late report can still join and alert: kept"),
        pytest.param(10, False, id="beyond backlog + join window (9 days): pruned"),
    ],
)
def test_a_short_retention_waits_for_the_story_to_close(
    engine: Engine, days: int, kept: bool
) -> None:
    """Retention 7d, backlog 3d, repost window 6d: an alert older than 7 days is kept
    while a report published up to 9 days after its story's newest could still be
    alerted (a repost joins within 6 days; one published 3 days ago is news)."""
    clock = FixedClock()
    seeded(engine, clock)
    subscriber = add_subscriber(engine, 11, clock)
    now = clock.now() + 100 * DAY
    _alerted(engine, "m", now - days * DAY, subscriber)
    limits = retention.cutoffs(now, 7 * DAY, 3 * DAY, THRESHOLDS.repost_window)
    assert retention.prune(engine, limits).alerts == (0 if kept else 1)


def test_a_story_joined_recently_keeps_its_old_alerts(engine: Engine) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    subscriber = add_subscriber(engine, 11, clock)
    now = clock.now() + 100 * DAY
    _, story = _alerted(engine, "first", now - 60 * DAY, subscriber)
    with transaction(engine) as session:  # a report of the same story, 2 days old
        items.add_items(session, None, "Other", [_record("late", now - 2 * DAY)], [story], now)
    limits = retention.cutoffs(now, 30 * DAY, 3 * DAY, THRESHOLDS.repost_window)
    assert retention.prune(engine, limits).alerts == 0


@pytest.mark.parametrize("backlog_days", [3, 0], ids=["backlog 3 days", "backlog off"])
def test_a_late_copy_of_a_pruned_story_is_not_alerted_again(
    engine: Engine,
    feed_server,
    backlog_days: int,  # type: ignore[no-untyped-def]
) -> None:
    """The at-most-once row of a story is pruned only when no report can join it and be
    alerted: after the prune, a copy of a 100-day-old report arriving now joins the story
    and reaches nobody a second time. With the backlog off (every late report is news)
    the rows are kept, or this copy would be alerted again."""
    clock = FixedClock()
    seeded(engine, clock)
    add_subscriber(engine, 11, clock)
    published = rfc822(clock.now())
    feed_server.serve("/a.rss", rss(REPORT.format(guid="a1", date=published)))
    add_feed(engine, feed_server.url("/a.rss"), clock, name="A")
    [first] = poll_and_send(engine, clock, backlog_days=backlog_days)
    assert first.queued == 1
    with transaction(engine) as session:
        assert deliveries.count_by_status(session) == {"sent": 1}
    clock.advance(days=100)
    backlog = timedelta(days=backlog_days) if backlog_days else None
    limits = retention.cutoffs(clock.now(), 30 * DAY, backlog, THRESHOLDS.repost_window)
    pruned = retention.prune(engine, limits)
    assert pruned.alerts == (1 if backlog_days else 0)
    feed_server.serve("/b.rss", rss(REPORT.format(guid="b1", date=published)))
    add_feed(engine, feed_server.url("/b.rss"), clock, name="B")
    outcomes = poll_and_send(engine, clock, backlog_days=backlog_days)
    [late] = [o for o in outcomes if o.name == "B"]
    assert (late.matched, late.queued) == (1, 0)
    with transaction(engine) as session:
        stored = session.exec(orm_select(ItemRow.story_id)).all()
    assert len(stored) == 2 and len(set(stored)) == 1  # the copy joined the story


def test_release_detaches_legacy_stories_of_unmatched_items(engine: Engine) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    subscriber = add_subscriber(engine, 11, clock)
    legacy = [_unmatched(engine, f"u{n}", clock.now(), story=None) for n in range(3)]
    _, story = _alerted(engine, "m", clock.now(), subscriber)
    assert retention.release_unmatched_stories(engine, dry_run=True).released == 3
    assert count(engine, Story) == 4
    assert retention.release_unmatched_stories(engine, batch=2).released == 3
    assert _ids(engine, Story) == {story}
    with transaction(engine) as session:
        for item_id in legacy:
            row = session.get(ItemRow, item_id)
            assert row is not None and row.story_id is None  # the item stays


# --- MCWATCH_RETENTION ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("365d", timedelta(days=365)), ("90d", timedelta(days=90)), (" 2w ", timedelta(weeks=2))],
)
def test_retention_is_read_as_a_duration(tmp_path: Path, value: str, expected: timedelta) -> None:
    assert load_settings({"MCWATCH_RETENTION": value}, tmp_path).retention == expected


def test_retention_is_off_unless_set(tmp_path: Path) -> None:
    assert load_settings({}, tmp_path).retention is None
    assert load_settings({"MCWATCH_RETENTION": " "}, tmp_path).retention is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a year", "MCWATCH_RETENTION must be a duration such as 30m, 12h, 7d or 2w, got 'a year'"),
        ("90", "MCWATCH_RETENTION must be a duration such as"),
        ("3d", "MCWATCH_RETENTION must be at least 7d (a repost joins its story up to 6 days"),
        ("0d", "MCWATCH_RETENTION must be at least 7d"),
        ("99999999999d", "MCWATCH_RETENTION is too long"),
    ],
)
def test_a_bad_retention_is_named(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"MCWATCH_RETENTION": value}, tmp_path)
    assert str(caught.value).startswith(message)


def test_a_bad_retention_stops_the_cli_with_one_line(env: Path) -> None:
    result = CliRunner().invoke(app, ["db", "vacuum"], env={"MCWATCH_RETENTION": "2d"})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "mcwatch: MCWATCH_RETENTION must be at least 7d (a repost joins its story up to "
        "6 days later), got '2d'"
    ]


# --- mcwatch db vacuum ---------------------------------------------------------------


def test_db_vacuum_prunes_then_vacuums(env: Path, database_url: str) -> None:
    """Through the CLI: the dry run says what would go and leaves it; the real run prunes,
    vacuums and says so in one line."""
    runner = CliRunner()
    url = {"MCWATCH_DATABASE_URL": database_url}
    assert runner.invoke(app, ["db", "upgrade"], env=url).exit_code == 0
    engine = make_engine(database_url)
    clock = FixedClock(SystemClock().now() - 100 * DAY)  # the CLI's clock is the system's
    seeded(engine, clock)
    subscriber = add_subscriber(engine, 11, clock)
    for n in range(300):
        _unmatched(engine, f"u{n}", clock.now(), story=items.NO_STORY)
    _alerted(engine, "m", clock.now(), subscriber)
    _unmatched(engine, "young", SystemClock().now(), story=items.NO_STORY)
    name = where(database_url)

    kept = runner.invoke(app, ["db", "vacuum"], env=url)
    assert kept.exit_code == 0, kept.output
    [line] = kept.output.splitlines()
    assert line.startswith("kept everything (MCWATCH_RETENTION is not set); VACUUM")

    env30 = {**url, "MCWATCH_RETENTION": "30d"}
    dry = runner.invoke(app, ["db", "vacuum", "--dry-run"], env=env30)
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith(
        "would prune 300 unmatched items and 1 sent or failed alert older than 30d; "
        f"nothing changed in {name} (--dry-run)"
    )
    assert count(engine, ItemRow) == 302 and count(engine, Delivery) == 1

    done = runner.invoke(app, ["db", "vacuum"], env=env30)
    assert done.exit_code == 0, done.output
    [line] = done.output.splitlines()
    head, vacuumed = line.split("; ")
    assert head == "pruned 300 unmatched items and 1 sent or failed alert older than 30d"
    statement = "VACUUM " if database_url.startswith("sqlite") else "VACUUM ANALYZE "
    assert vacuumed.startswith(f"{statement}{name}: ")
    assert " → " in vacuumed
    assert count(engine, ItemRow) == 2 and count(engine, Delivery) == 0
    engine.dispose()


def test_vacuum_gives_sqlite_space_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    upgrade(engine)
    clock = FixedClock()
    for n in range(2000):
        _unmatched(engine, f"u{n}", clock.now(), story=items.NO_STORY)
    retention.prune(engine, retention.cutoffs(clock.now() + 30 * DAY, 7 * DAY, None, DAY))
    done = retention.vacuum(engine)
    assert done.statement == "VACUUM"
    assert done.after < done.before
    assert done.after == (tmp_path / "v.db").stat().st_size  # the file shrank, WAL folded
    engine.dispose()


def test_db_vacuum_drops_the_stories_of_unmatched_items(env: Path) -> None:
    """A database from before issue 14 has a story per unmatched item: vacuum drops them
    (retention or not); with the backlog off, it says why alerts are kept."""
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine("sqlite:///data/mcwatch.db")
    clock = FixedClock(SystemClock().now() - 100 * DAY)
    seeded(engine, clock)
    for n in range(3):
        _unmatched(engine, f"legacy{n}", SystemClock().now(), story=None)
    _unmatched(engine, "old", clock.now(), story=None)
    settings = {"MCWATCH_RETENTION": "30d", "MCWATCH_BACKLOG_DAYS": "0"}
    result = runner.invoke(app, ["db", "vacuum"], env=settings)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "dropped 4 stories of unmatched items; pruned 1 unmatched item older than 30d "
        "(sent alerts kept: with MCWATCH_BACKLOG_DAYS=0 a late report is news); VACUUM "
        "data/mcwatch.db: "
    )
    assert count(engine, Story) == 0 and count(engine, ItemRow) == 3
    engine.dispose()
