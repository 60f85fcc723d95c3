"""indexes that fit the outbox's queries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:30:00

The delivery tick asks, every 2 s, for alerts "queued and due, or sending with an
expired lease" and for sent alerts with an edit pending. At a year of history almost
every row is ``sent``: partial indexes over the rows still owed (a handful) answer
those questions without reading the millions that are done (issue 14). Items are
counted by ``fetched_at`` for /stats and the digest.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OWED = sa.text("status IN ('queued', 'sending')")
_EDITS = sa.text("edit_pending")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_owed",
        "deliveries",
        ["kind", "next_attempt_at"],
        sqlite_where=_OWED,
        postgresql_where=_OWED,
    )
    op.create_index(
        "ix_deliveries_edits",
        "deliveries",
        ["id"],
        sqlite_where=_EDITS,
        postgresql_where=_EDITS,
    )
    op.create_index("ix_items_fetched_at", "items", ["fetched_at"])


def downgrade() -> None:
    op.drop_index("ix_items_fetched_at", table_name="items")
    op.drop_index("ix_deliveries_edits", table_name="deliveries")
    op.drop_index("ix_deliveries_owed", table_name="deliveries")
