"""Run Alembic migrations from code (``mcwatch db upgrade``; ``mcwatch run`` on start).

Alembic is imported only when a migration may be needed: every command first asks
``is_ready``, which reads the ``alembic_version`` table with plain SQLAlchemy and
compares it with ``HEAD_REVISION`` (kept here, next to the migrations; a test checks it
against Alembic's own head, so it cannot drift).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"

# The newest revision of migrations/versions/. Adding a migration: set this to its id.
HEAD_REVISION = "0010"
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision. Returns (before, after) revisions."""
    from alembic import command

    config = alembic_config(engine)
    before = current_revision(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def is_current(connection: Connection) -> bool:
    """True when the schema is at ``HEAD_REVISION``, without importing Alembic; False
    when it is older, newer, empty or unknown (then ``upgrade`` decides)."""
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table(VERSION_TABLE):
        return False
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return [row[0] for row in rows] == [HEAD_REVISION]


def is_ready(engine: Engine) -> bool:
    """The schema is current and the database seeded (the seed recorded something or
    a topic exists, as ``store.seed.is_seeded`` asks): one connection, no Alembic, no
    seed files. An admin who removed every topic is not seeded again behind their back."""
    from sqlalchemy import text

    with engine.connect() as connection:
        if not is_current(connection):
            return False
        seeded = text(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM seed_records) OR EXISTS (SELECT 1 FROM topics)"
        )
        return connection.execute(seeded).first() is not None


# pg_advisory_lock's key for "this database is being migrated or seeded" (any bigint;
# this one spells "mcwatch" in ASCII, so it cannot collide by accident with a small id).
STARTUP_LOCK_KEY = 0x6D63776174636800


@contextmanager
def startup_lock(engine: Engine) -> Iterator[None]:
    """One process at a time migrates and seeds: any number of workers may start at once
    on an empty database (the others wait here, then find it ready).

    PostgreSQL: a session advisory lock, held on a connection of its own. SQLite: an
    exclusive ``flock`` on ``<database>.lock`` beside the file (SQLite's own locks are
    taken and released per statement by Alembic, too fine to serialise a migration).
    An in-memory database belongs to one process: nothing to lock.
    """
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK_KEY}
                )
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    with Path(f"{database}.lock").open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
