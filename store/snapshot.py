"""The stored rules read with the standard library's SQLite driver, without SQLAlchemy.

``mcwatch rules test`` reads nine topics and the lexicon, then matches one text: loading
SQLAlchemy, SQLModel and the models costs more than all of that (≈0.35 s of a 0.7 s
command; issue 11 asks for ≤ 0.5 s). On a SQLite database that is ready — schema at
``HEAD_REVISION``, seeded, as ``store.migrate.is_ready`` asks — this module reads them
with ``sqlite3``, read-only. Anything else (PostgreSQL, an in-memory or missing
database, an older or newer schema, nothing seeded, a locked or broken file) answers
None, and the caller takes the full path, which migrates and seeds first.

The two queries are the ORM's (``store.topics.list_topics``, ``load_lexicon``); a test
checks both paths return the same rules.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.types import TopicRule
from store.migrate import HEAD_REVISION, VERSION_TABLE

LEXICON_KEY = "lexicon"  # the meta row of the lexicon (store.topics uses this name too)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///…`` URL (relative, or absolute with four slashes);
    None for any other URL, an in-memory database or one with options."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) and not url.startswith("sqlite+pysqlite:///"):
        return None
    path = url.split(":///", 1)[1]
    if not path or path == ":memory:" or "?" in path:
        return None
    return Path(path)


def read_rules(url: str) -> tuple[list[TopicRule], dict[str, Any]] | None:
    """The enabled topics' rules, in topic order, and the stored lexicon, or None when
    this path cannot answer (see the module's doc)."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        connection.execute("PRAGMA busy_timeout=15000")
        versions = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
        if [row[0] for row in versions] != [HEAD_REVISION]:
            return None
        rows = connection.execute(
            "SELECT slug, query, name FROM topics WHERE enabled ORDER BY position, id"
        ).fetchall()
        seeded = rows or connection.execute("SELECT 1 FROM seed_records LIMIT 1").fetchone()
        if not seeded:
            return None  # not seeded yet: the full path seeds it
        found = connection.execute("SELECT value FROM meta WHERE key = ?", (LEXICON_KEY,))
        lexicon_row = found.fetchone()
        lexicon = dict(json.loads(lexicon_row[0])) if lexicon_row else {}
    except (sqlite3.Error, ValueError):
        return None  # no such table, a locked or broken file, a bad lexicon: the full path
    finally:
        connection.close()
    return [TopicRule(slug=slug, query=query, name=name) for slug, query, name in rows], lexicon
