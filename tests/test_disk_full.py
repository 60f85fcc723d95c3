"""A full disk (issue 14, point 5): one line per command, and the daemon waits and retries.

The disk is filled for real, as SQLite sees it: ``PRAGMA max_page_count`` on every
connection caps the file at the pages it holds once a filler table took the rest, so a
write that needs one more page gets SQLITE_FULL, "database or disk is full" — the
error a full file system gives. (The cap is a connection's, hence the hook on
``store.db._sqlite_pragmas``, which every engine runs on connect.)
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import store.db
import store.retention
from bot.cli import app
from bot.clock import FixedClock
from bot.jobs import _guarded, poll_tick
from store import feeds, items
from store.db import make_engine, transaction
from store.migrate import upgrade
from tests.support.builders import deps_for, seeded

FULL = "the disk is full"
ENTRY = (
    "<item><guid>g{n}</guid><title>Bamako et Pékin signent l'accord {n} sur la sécurité"
    "</title><description>{text}</description></item>"
)


def big_feed(count: int = 300) -> bytes:
    """A feed whose items need many pages: more than a full disk has."""
    text = "Le Mali et la Chine coopèrent pour la sécurité à Bamako. " * 30
    entries = "".join(ENTRY.format(n=n, text=text) for n in range(count))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Le Sahel</title><language>fr</language>{entries}</channel></rss>"
    ).encode()


@dataclass
class Disk:
    """The database file and its cap; ``full = False`` lifts it for new connections."""

    path: Path
    pages: int = 0
    full: bool = True

    def fill(self, *, feeds_too: bool = False) -> None:
        """Take every free page (a filler table), and with ``feeds_too`` the room left
        in the feeds table's pages, so that even one more feed needs a page."""
        connection = sqlite3.connect(self.path)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count={pages + 40}")
        connection.execute("CREATE TABLE filler (b BLOB)")
        _until_full(connection, "INSERT INTO filler VALUES (randomblob(1500))")
        if feeds_too:
            _until_full(
                connection,
                "INSERT INTO feeds (url, name, enabled, failures) "
                "VALUES ('https://filler.invalid/' || hex(randomblob(8)), '', 0, 0)",
            )
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.close()


def _until_full(connection: sqlite3.Connection, statement: str) -> None:
    for _ in range(100_000):
        try:
            connection.execute(statement)
            connection.commit()
        except sqlite3.OperationalError as exc:
            assert "database or disk is full" in str(exc)
            connection.rollback()
            return
    raise AssertionError("the disk never filled")


@pytest.fixture
def disk(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    """The CLI's database (``./data/mcwatch.db``), migrated and seeded without the
    internet's feeds, capped at its size once filled."""
    path = env / "data" / "mcwatch.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    seeded(engine, FixedClock())
    engine.dispose()
    cap = Disk(path)
    pragmas = store.db._sqlite_pragmas

    def capped(dbapi_connection: Any, record: Any) -> None:
        pragmas(dbapi_connection, record)
        if cap.full and cap.pages:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA max_page_count={cap.pages}")
            cursor.close()

    monkeypatch.setattr(store.db, "_sqlite_pragmas", capped)
    yield cap


def one_line(result: Any) -> str:
    """The output of a failed command: exactly one line, no traceback."""
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return str(lines[0])


def test_feeds_add_says_the_disk_is_full(disk: Disk, feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/f.rss", big_feed(1))
    disk.fill(feeds_too=True)
    result = CliRunner().invoke(app, ["feeds", "add", feed_server.url("/f.rss")])
    assert result.exit_code == 1
    assert one_line(result) == f"mcwatch: error: data/mcwatch.db: {FULL}"


def test_db_vacuum_says_the_disk_is_full(disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    # VACUUM copies the whole file first; whether that copy fits in the capped file
    # depends on how the schema packs, so the file system's free space (which cannot
    # run out for real here) is what says there is no room for it.
    disk.fill()
    monkeypatch.setattr(store.retention, "free_space", lambda folder: 0)
    result = CliRunner().invoke(app, ["db", "vacuum"])
    assert result.exit_code == 1
    assert one_line(result) == (
        f"mcwatch: error: data/mcwatch.db: {FULL} (VACUUM needs room for a copy)"
    )
    assert sqlite3.connect(disk.path).execute("PRAGMA page_count").fetchone()[0] == disk.pages


def test_db_vacuum_runs_when_its_copy_fits(env: Path) -> None:
    engine = make_engine(f"sqlite:///{env / 'data' / 'mcwatch.db'}")
    upgrade(engine)
    engine.dispose()
    result = CliRunner().invoke(app, ["db", "vacuum"])
    assert result.exit_code == 0, result.output
    assert "VACUUM data/mcwatch.db" in result.output


def test_reading_goes_on_when_the_disk_is_full(disk: Disk) -> None:
    disk.fill()
    listed = CliRunner().invoke(app, ["items", "list", "--json"])
    assert listed.exit_code == 0 and listed.output.strip() == "[]"
    assert CliRunner().invoke(app, ["feeds", "list"]).exit_code == 0


# A full disk met while storing a feed is the database's failure, not the feed's: the
# poll stops with one line (no "internal error" recorded against the feed) and the next
# tick stores everything.


def test_poll_says_the_disk_is_full_in_one_line(disk: Disk, feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/f.rss", big_feed())
    assert CliRunner().invoke(app, ["feeds", "add", feed_server.url("/f.rss")]).exit_code == 0
    disk.fill()
    result = CliRunner().invoke(app, ["poll", "--all"])
    assert one_line(result) == f"mcwatch: error: data/mcwatch.db: {FULL}"
    assert result.exit_code == 1
    engine = make_engine(f"sqlite:///{disk.path}")
    with transaction(engine) as session:
        [feed] = feeds.list_feeds(session)
        assert (feed.failures, feed.last_error) == (0, None)  # not the feed's fault
        assert items.count_items(session) == 0  # nothing half-written
    engine.dispose()


def test_the_poll_tick_logs_one_line_and_retries(
    disk: Disk,
    feed_server,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FixedClock()
    engine = make_engine(f"sqlite:///{disk.path}")
    feed_server.serve("/f.rss", big_feed())
    with transaction(engine) as session:
        feeds.add_feed(session, feeds.NewFeed(url=feed_server.url("/f.rss")), clock.now())
    engine.dispose()  # connections made from here on are capped
    disk.fill()

    async def tick() -> None:
        async with deps_for(engine, clock) as deps:
            await _guarded("poll_tick", lambda: poll_tick(deps), deps)

    caplog.set_level(logging.INFO)
    asyncio.run(tick())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"poll_tick failed: {disk.path}: {FULL}"]
    assert not any(r.exc_info for r in caplog.records if r.levelno > logging.DEBUG)

    disk.full = False  # space again: the next tick that finds the feed due stores it
    engine.dispose()
    caplog.clear()
    clock.advance(minutes=11)  # past the poll's claim on the feed (POLL_LEASE)
    asyncio.run(tick())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with transaction(engine) as session:
        assert items.count_items(session) == 300
    engine.dispose()
