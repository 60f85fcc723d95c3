"""Retention (``MCWATCH_RETENTION``) and ``mcwatch db vacuum``: what a year leaves behind.

Pruned, in batches of one short transaction each (the daemon keeps writing meanwhile):

- **unmatched items** fetched before the cutoff. Nothing reads them but ``items list``
  and searches; a matched item is the record of what was found and is never pruned. By
  ``fetched_at``, not ``published``: an archive feed still listing an old item would
  otherwise store it again at every poll, to see it pruned again.
- **sent and failed alerts** created before the cutoff, of *closed* stories only.
  The unique (subscriber, story, kind) row is the at-most-once guarantee: remove it
  and a report joining the story later would queue the alert again. A report joins a
  story within ``join_window`` of the story's reports (the repost window, 6 days), and
  is alerted only if it is at most ``MCWATCH_BACKLOG_DAYS`` old. A story whose newest
  report was published more than retention, and more than backlog + join window, ago
  can still gain a report, but never one that is alerted: its rows are dead weight.
  With ``MCWATCH_BACKLOG_DAYS=0`` every late report is news, so no alert row is pruned.
  An alert awaiting its edit (``edit_pending``) is kept.
- **stories left empty**: no item and no alert.

``release_unmatched_stories`` detaches the stories written for unmatched items before
issue 14 (one per item); such a story, without alerts, can never be joined (only
matched items are candidates, ``store.stories.candidates``), so it goes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Delete,
    Engine,
    Row,
    Table,
    bindparam,
    delete,
    exists,
    select,
    text,
    update,
)
from sqlmodel import Session

from bot.errors import StoreError
from store.db import transaction, where
from store.models import Delivery, Item, ItemTopic, Story

_ITEM: Table = Item.__table__  # type: ignore[attr-defined]
_ITEM_TOPIC: Table = ItemTopic.__table__  # type: ignore[attr-defined]
_DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]
_STORY: Table = Story.__table__  # type: ignore[attr-defined]

# Rows per transaction: a few tens of ms each on SQLite, so the poll and the outbox
# wait at most that long for the write lock (busy_timeout is 15 s).
BATCH = 2000


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What is old enough to go. ``alerts`` None: alert rows are all kept."""

    items: datetime
    alerts: datetime | None
    closed: datetime | None  # a story whose newest report is older is closed


def cutoffs(
    now: datetime, retention: timedelta, backlog: timedelta | None, join_window: timedelta
) -> Cutoffs:
    """The cutoffs ``prune`` applies (the reasoning is the module's docstring)."""
    if backlog is None:
        return Cutoffs(now - retention, None, None)
    return Cutoffs(now - retention, now - retention, now - max(retention, backlog + join_window))


@dataclass(frozen=True, slots=True)
class Pruned:
    items: int = 0
    alerts: int = 0
    stories: int = 0
    released: int = 0  # stories of unmatched items detached (older databases)


def prune(engine: Engine, limits: Cutoffs, *, dry_run: bool = False, batch: int = BATCH) -> Pruned:
    """Delete what ``limits`` says is old; ``dry_run``: the same work, rolled back."""
    items, stories = _prune_items(engine, limits.items, dry_run, batch)
    alerts = 0
    if limits.alerts is not None and limits.closed is not None:
        alerts = _prune_alerts(engine, limits.alerts, limits.closed, dry_run, batch)
    return Pruned(items=items, alerts=alerts, stories=stories)


def release_unmatched_stories(
    engine: Engine, *, dry_run: bool = False, batch: int = BATCH
) -> Pruned:
    """Detach unmatched items from stories that have no alert, and delete the stories
    left empty (one pass over ``items`` by id)."""
    released = 0
    alone = (
        _ITEM.c.story_id.is_not(None),
        ~exists().where(_ITEM_TOPIC.c.item_id == _ITEM.c.id),
        ~exists().where(_DELIVERY.c.story_id == _ITEM.c.story_id),
    )
    for session, rows in _item_batches(engine, alone, batch):
        session.execute(
            update(_ITEM).where(_ITEM.c.id.in_([r[0] for r in rows])).values(story_id=None)
        )
        released += _drop_empty_stories(session, {r[1] for r in rows})
        if dry_run:
            session.rollback()
    return Pruned(released=released)


def _prune_items(engine: Engine, before: datetime, dry_run: bool, batch: int) -> tuple[int, int]:
    # No alert of the item's story: an item whose topic was removed since it was
    # alerted keeps the row its story's alerts point to.
    unmatched = (
        _ITEM.c.fetched_at < before,
        ~exists().where(_ITEM_TOPIC.c.item_id == _ITEM.c.id),
        ~exists().where(_DELIVERY.c.story_id == _ITEM.c.story_id),
    )
    items = stories = 0
    for session, rows in _item_batches(engine, unmatched, batch):
        items += _deleted(
            session, delete(_ITEM).where(_ITEM.c.id.in_([r[0] for r in rows]), *unmatched)
        )
        stories += _drop_empty_stories(session, {r[1] for r in rows if r[1] is not None})
        if dry_run:
            session.rollback()
    return items, stories


def _item_batches(
    engine: Engine, conditions: tuple[ColumnElement[bool], ...], batch: int
) -> Iterator[tuple[Session, Sequence[Row[Any]]]]:
    """(id, story id) of the items meeting ``conditions``, ``batch`` at a time by id,
    each batch in a transaction of its own (committed when the caller asks for the next):
    a prune never holds the write lock for long."""
    after = 0
    while True:
        with transaction(engine) as session:
            rows = session.execute(
                select(_ITEM.c.id, _ITEM.c.story_id)
                .where(_ITEM.c.id > after, *conditions)
                .order_by(_ITEM.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return
            after = rows[-1][0]
            yield session, rows


def _prune_alerts(
    engine: Engine, before: datetime, closed: datetime, dry_run: bool, batch: int
) -> int:
    young_report = exists().where(
        _ITEM.c.story_id == _DELIVERY.c.story_id, _ITEM.c.published >= closed
    )
    done = (
        _DELIVERY.c.status.in_(("sent", "failed")),
        _DELIVERY.c.edit_pending.is_(False),
        _DELIVERY.c.created_at < before,
        ~young_report,
    )
    pruned = 0
    after = 0
    while True:
        with transaction(engine) as session:
            ids = list(
                session.scalars(
                    select(_DELIVERY.c.id)
                    .where(_DELIVERY.c.id > after, *done)
                    .order_by(_DELIVERY.c.id)
                    .limit(batch)
                )
            )
            if not ids:
                break
            after = ids[-1]
            # The conditions again: an edit flagged or a lease taken meanwhile wins.
            pruned += _deleted(session, delete(_DELIVERY).where(_DELIVERY.c.id.in_(ids), *done))
            if dry_run:
                session.rollback()
    return pruned


def _drop_empty_stories(session: Session, story_ids: set[int]) -> int:
    if not story_ids:
        return 0
    return _deleted(
        session,
        delete(_STORY).where(
            _STORY.c.id.in_(sorted(story_ids)),
            ~exists().where(_ITEM.c.story_id == _STORY.c.id),
            ~exists().where(_DELIVERY.c.story_id == _STORY.c.id),
        ),
    )


def _deleted(session: Session, statement: Delete) -> int:
    """Rows a DELETE removed (both drivers report it exactly)."""
    return int(cast("CursorResult[Any]", session.execute(statement)).rowcount)


@dataclass(frozen=True, slots=True)
class Vacuumed:
    before: int  # bytes
    after: int
    statement: str  # what ran: VACUUM (SQLite) or VACUUM ANALYZE (PostgreSQL)


def vacuum(engine: Engine) -> Vacuumed:
    """Give the space of deleted rows back (SQLite: the file shrinks) or to reuse
    (PostgreSQL: plain VACUUM returns only trailing pages, and takes no lock that
    stops the daemon, unlike VACUUM FULL), and refresh the planner's statistics.

    Neither runs inside a transaction: SQLite refuses VACUUM in one, PostgreSQL too.
    """
    before = database_size(engine)
    if engine.dialect.name == "sqlite":
        _room_for_a_copy(engine, before)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "sqlite":
            statement = "VACUUM"
            connection.exec_driver_sql(statement)
            # WAL mode: VACUUM wrote the new file into the WAL; a checkpoint puts it
            # back and truncates both, so the disk sees the space come back now.
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            # mcwatch's tables only: the database may hold others (and other schemas).
            names = ", ".join(f'"{name}"' for name in _tables())
            statement = f"VACUUM (ANALYZE) {names}"
            connection.exec_driver_sql(statement)
    done = "VACUUM" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
    return Vacuumed(before, database_size(engine), done)


def _room_for_a_copy(engine: Engine, size: int) -> None:
    """SQLite's VACUUM writes the whole database to a temporary file, then back through
    the WAL: with less free space than the database takes it fails half-way, after
    minutes of work. Say so before starting, as the full disk it is."""
    path = engine.url.database
    if not path or path == ":memory:":
        return
    if free_space(Path(path).resolve().parent) < size:
        raise StoreError(f"{where(engine.url)}: the disk is full (VACUUM needs room for a copy)")


def free_space(folder: Path) -> int:
    """Bytes free for this process on the file system holding ``folder``."""
    return shutil.disk_usage(folder).free


def database_size(engine: Engine) -> int:
    """Bytes the database takes: SQLite pages, or mcwatch's PostgreSQL tables with
    their indexes and TOAST."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(size)
        total = connection.execute(
            text(
                "SELECT coalesce(sum(pg_total_relation_size(to_regclass(name))), 0) "
                "FROM unnest(CAST(:names AS text[])) AS name"
            ).bindparams(bindparam("names", value=_tables()))
        ).scalar_one()
        return int(total)


def _tables() -> list[str]:
    from sqlmodel import SQLModel

    return sorted(SQLModel.metadata.tables)
