"""the seed remembers what it wrote, so that db seed leaves the admin's work alone

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 10:00:00

``db seed`` reverted a topic the admin had edited and brought back the topics and feeds
they had removed. ``seed_records`` keeps, per seeded topic (slug), feed (URL) and for the
lexicon, the digest of what the seed last wrote (see ``store.seed``).

The table starts empty, also on a database seeded before this revision: what the seed
wrote then is unknown, so a row that differs from the seed is kept (as the admin's), and
a seeded topic or feed removed before this revision is added again once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seed_records",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )


def downgrade() -> None:
    op.drop_table("seed_records")
