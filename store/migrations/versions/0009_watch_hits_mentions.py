"""the analyst's loop, second part: what a personal watch found, and first mentions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 21:40:00

Issue 15: ``watch_hits`` is one row per watch and story it found (the count ``/watches``
shows; the story's alert is an ordinary delivery row, so a reader subscribed to the
story's topic and watching it too gets it once). ``mentions`` holds the first story
that named each entity (company, site, lender, official), so "first mention" is said
once per entity, whatever retention prunes later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_hits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "watch_id",
            sa.Integer(),
            sa.ForeignKey("watches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "story_id",
            sa.Integer(),
            sa.ForeignKey("stories.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("watch_id", "story_id", name="uq_watch_hits_once"),
    )
    op.create_index("ix_watch_hits_story_id", "watch_hits", ["story_id"])
    op.create_table(
        "mentions",
        sa.Column("entity", sa.String(), primary_key=True),
        sa.Column(
            "story_id",
            sa.Integer(),
            sa.ForeignKey("stories.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("first_seen", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_mentions_story_id", "mentions", ["story_id"])


def downgrade() -> None:
    op.drop_index("ix_mentions_story_id", table_name="mentions")
    op.drop_table("mentions")
    op.drop_index("ix_watch_hits_story_id", table_name="watch_hits")
    op.drop_table("watch_hits")
