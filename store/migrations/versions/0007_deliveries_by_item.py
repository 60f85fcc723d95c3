"""an index on deliveries.item_id

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:40:00

Deleting an item (retention, ``mcwatch db vacuum``) makes the database look for the
alerts that point at it (the foreign key's ON DELETE CASCADE); with no index on
``deliveries.item_id`` that is a scan of every delivery per item: 92 ms an item at
300,000 deliveries on SQLite, more than 120 s for 20,000 items on PostgreSQL; 0.58 s
with it (issue 14).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_item_id", "deliveries", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_item_id", table_name="deliveries")
