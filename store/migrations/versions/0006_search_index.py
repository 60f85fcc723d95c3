"""a full-text index of every item's words, for search and backtests

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00

``items search``, ``/search`` and ``rules backtest`` read every item of their window
into Python (43 s at 300,000 items, issue 14). ``items.search_text`` holds the
matcher's own words of each item (``bot.match.prefilter.search_text``), written by
Python so the index folds exactly as the matcher does; the database indexes them:

- SQLite: the FTS5 table ``items_search`` over ``items.search_text`` (external content,
  ``ascii`` tokenizer: the words are already folded, and it keeps every non-ASCII
  character inside its word), kept current by triggers on ``items``. A later migration
  that recreates ``items`` (batch mode) must recreate these triggers.
- PostgreSQL: ``search_text`` is a ``tsvector`` of those words, as written (no parser,
  no dictionary, no ``unaccent``: their folding is not the matcher's), under a GIN index.

Backfilled here, in batches; ``store.search.reindex`` does the same for a later
migration that changes what a word is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from store.search import reindex

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE items_search USING fts5(search_text, content='items', "
    "content_rowid='id', tokenize='ascii', detail='none', columnsize=0)"
)
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER items_search_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_search(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
    """CREATE TRIGGER items_search_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_search(items_search, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    END""",
    """CREATE TRIGGER items_search_update AFTER UPDATE OF search_text ON items BEGIN
        INSERT INTO items_search(items_search, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
        INSERT INTO items_search(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
)


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # NOT NULL needs a default to be added in place (no table copy); every mcwatch
        # writer fills the column (a column default in store.models), never with ''.
        op.add_column(
            "items", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
        )
        reindex(connection)
        op.execute(_SQLITE_FTS)
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute("INSERT INTO items_search(items_search) VALUES ('rebuild')")
        op.create_index("ix_items_search_text", "items", ["search_text"], sqlite_where=sa.text("0"))
        return
    op.add_column("items", sa.Column("search_text", postgresql.TSVECTOR(), nullable=True))
    reindex(connection)
    op.alter_column("items", "search_text", nullable=False)
    op.create_index("ix_items_search_text", "items", ["search_text"], postgresql_using="gin")
    # The planner weighs the GIN index by the tables' statistics; with autovacuum off
    # (issue 14's probe) nothing else gathers them. Without those of item_topics,
    # `/search`'s "a topic matched it" was planned as 12,000 index probes (427 ms at
    # 300,000 items) instead of the GIN index first (30 ms).
    op.execute("ANALYZE items")
    op.execute("ANALYZE item_topics")


def downgrade() -> None:
    connection = op.get_bind()
    op.drop_index("ix_items_search_text", table_name="items")
    if connection.dialect.name == "sqlite":
        for name in ("items_search_insert", "items_search_delete", "items_search_update"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE items_search")
        op.execute("ALTER TABLE items DROP COLUMN search_text")  # SQLite ≥ 3.35, no copy
        return
    op.drop_column("items", "search_text")
