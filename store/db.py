"""Engine creation and transactions.

SQLite gets WAL (readers never block the writer: the bot answers /latest while a poll
writes), foreign keys (off by default in SQLite) and a busy timeout. PostgreSQL needs
nothing special. Schema changes go through Alembic only (``store.migrate``).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session

from bot.errors import StoreError

# The extra that brings each non-SQLite driver (pyproject's optional dependencies).
_DRIVERS = {"psycopg": "postgres"}


def upsert_insert(session: Session) -> Any:
    """The dialect's ``insert`` (PostgreSQL's or SQLite's), the one with
    ``on_conflict_do_nothing`` / ``on_conflict_do_update``: mcwatch runs on those two."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Build the engine for ``url``; creates the SQLite file's folder if needed.

    Raises StoreError, in one line, when the driver is not installed or the SQLite
    file's folder cannot be made.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    driver = parsed.get_driver_name()
    if driver in _DRIVERS and importlib.util.find_spec(driver) is None:
        raise StoreError(
            f"the {parsed.get_backend_name()} driver ({driver}) is not installed: "
            f"pip install 'mcwatch[{_DRIVERS[driver]}]'"
        )
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the database folder {folder}: {exc.strerror or exc}; "
                    "check MCWATCH_DATABASE_URL"
                ) from None
        kwargs["connect_args"] = {"timeout": 15}
    else:
        kwargs["pool_pre_ping"] = True
        # No JIT: mcwatch's queries are small, and on tables without fresh statistics
        # (autovacuum off, a restored dump) the planner's guesses cross the JIT cost
        # threshold, so compiling a query took 20–600 ms to save nothing — a digest's
        # outlet query at a year of history: 0.6 s with JIT, 8 ms without (issue 14).
        # Added to the URL's own ``options`` (a search_path, say), never in their place.
        given = parsed.query.get("options")
        given = given[-1] if isinstance(given, tuple) else given
        kwargs["connect_args"] = {"options": f"{given} -c jit=off" if given else "-c jit=off"}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    # WAL + NORMAL is durable across application crashes; only an OS crash may lose the
    # last transactions (SQLite docs, "WAL mode" §5).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def where(url: str | URL) -> str:
    """The database named for a person: the SQLite file, or host:port/name (no password)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database or ":memory:")
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


# (a pattern in the driver's message, what it means to the admin) — first match wins.
_DIAGNOSES: tuple[tuple[str, str], ...] = (
    (
        "file is not a database",
        "{where} is not an SQLite database (corrupt, or another "
        "kind of file): move it away or point MCWATCH_DATABASE_URL at another file",
    ),
    (
        "database disk image is malformed",
        "{where} is damaged: restore it from a backup or move it away",
    ),
    (
        "unable to open database file",
        "cannot open {where}: the folder is missing or not "
        "writable; check MCWATCH_DATABASE_URL and the folder's permissions",
    ),
    ("readonly database", "{where} is read-only: mcwatch needs to write to it"),
    ("disk i/o error", "cannot read or write {where} (disk I/O error)"),
    ("database or disk is full", "{where}: the disk is full"),
    ("no such table", "the database schema is out of date: run mcwatch db upgrade"),
    ("relation .* does not exist", "the database schema is out of date: run mcwatch db upgrade"),
    (
        "database .* does not exist",
        "database {name!r} does not exist on {host}: create it "
        "(createdb {name}) or fix MCWATCH_DATABASE_URL",
    ),
    (
        "password authentication failed",
        "the database at {host} refused the user or password in MCWATCH_DATABASE_URL",
    ),
    ("no password supplied", "the database at {host} wants a password in MCWATCH_DATABASE_URL"),
    (
        "connection refused",
        "cannot reach the database at {host} (is PostgreSQL running "
        "and listening there?); check MCWATCH_DATABASE_URL",
    ),
    (
        "could not translate host name|failed to resolve host",
        "cannot resolve the database host in MCWATCH_DATABASE_URL ({host})",
    ),
    ("timeout expired", "the database at {host} did not answer in time"),
    ("database is locked", "{where} is locked by another process that keeps writing; try again"),
)


@contextmanager
def database_errors(url: str | URL) -> Iterator[None]:
    """Turn the driver's failures into a StoreError of one line (``describe``)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(describe_database_error(exc, url)) from exc


def is_outage(exc: BaseException) -> bool:
    """The database could not do the work (disk full, server gone, locked): not a bug of
    the request that met it, and not worth recording against a feed's health."""
    return isinstance(exc, OperationalError)


def database_failure(exc: BaseException, url: str | URL) -> str | None:
    """The one line for ``exc`` if it is a database failure, else None."""
    return describe_database_error(exc, url) if isinstance(exc, SQLAlchemyError) else None


def describe_database_error(exc: SQLAlchemyError, url: str | URL) -> str:
    """One line for a database failure, naming the database and what to do.

    Never the password: the URL is shown as ``where`` gives it."""
    parsed = make_url(url) if isinstance(url, str) else url
    text = " ".join(str(getattr(exc, "orig", None) or exc).split()).lower()
    fields = {
        "where": where(parsed),
        "host": f"{parsed.host or 'localhost'}:{parsed.port or 5432}",
        "name": parsed.database or "",
    }
    for fragment, message in _DIAGNOSES:
        if re.search(fragment, text):
            return message.format(**fields)
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return f"the database {fields['where']} failed: {first}"
