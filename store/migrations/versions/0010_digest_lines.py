"""verdicts under digests: the stories a digest showed, one row per reader, item, topic

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:30:00

Issue 15: the verdict buttons under a digest message name a ``digest_lines`` row, as the
buttons under an alert name its delivery row: the row, not the button, says whose
verdict it is and on which item and topic. Deleted with the subscriber (``/stop``) and
with the item (retention).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("subscriber_id", "item_id", "topic", name="uq_digest_lines_once"),
    )
    op.create_index("ix_digest_lines_item_id", "digest_lines", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_digest_lines_item_id", table_name="digest_lines")
    op.drop_table("digest_lines")
