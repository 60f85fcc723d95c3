"""an index on deliveries.story_id

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:45:00

When a new source joins a story, the poll flags that story's sent alerts for an edit
(``store.stories.flag_edits``), inside its write transaction. The only index holding
``story_id`` was the unique key (subscriber, story, kind), which leads with the
subscriber: the look-up read the whole table (issue 14 measured 826 ms a feed with
matches at 3 M deliveries on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_story_id", "deliveries", ["story_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_story_id", table_name="deliveries")
