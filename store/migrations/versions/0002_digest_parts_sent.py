"""digests remember how many of their parts Telegram accepted

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:20:00

A digest of several messages (and a chart) that failed halfway was sent again whole
when retried; with ``parts_sent`` the retry starts at the first part not yet accepted.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parts_sent", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_column("parts_sent")
