"""the analyst's loop: provenance of feeds, weekly digests, verdicts, personal watches

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:00:00

Issue 15: who is speaking (``feeds.country``, an ISO 3166 code, and ``feeds.kind``, one
of ``bot.provenance.KINDS``); the day of a weekly digest (``subscribers.digest_day``,
0 = Monday); a reader's verdict on an alert (``verdicts``: one per subscriber, item and
topic, changeable); a reader's own rules (``watches``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("country", sa.String(), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(), nullable=True))
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("digest_day", sa.Integer(), nullable=True))
    op.create_table(
        "verdicts",
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
        sa.Column("verdict", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("subscriber_id", "item_id", "topic", name="uq_verdicts_once"),
    )
    op.create_index("ix_verdicts_item_id", "verdicts", ["item_id"])
    op.create_index("ix_verdicts_updated_at", "verdicts", ["updated_at"])
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_watches_subscriber_id", "watches", ["subscriber_id"])


def downgrade() -> None:
    op.drop_index("ix_watches_subscriber_id", table_name="watches")
    op.drop_table("watches")
    op.drop_index("ix_verdicts_updated_at", table_name="verdicts")
    op.drop_index("ix_verdicts_item_id", table_name="verdicts")
    op.drop_table("verdicts")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("digest_day")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("kind")
        batch.drop_column("country")
