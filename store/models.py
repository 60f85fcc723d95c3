"""Tables. Times are stored as naive UTC and returned timezone-aware (``UTCDateTime``),
so SQLite and PostgreSQL behave the same.

Identity rules the guarantees rest on:
- ``items``: unique (feed_id, identity) — an item seen again is ignored.
- ``deliveries``: unique (subscriber_id, story_id, kind) — a story reaches a subscriber
  at most once per kind, even across restarts and crashes.
- ``seed_records``: primary key (kind, key) — what the seed last wrote of one topic,
  feed or lexicon, so that ``db seed`` can tell the admin's edits and removals from its
  own (``store.seed``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use the clock's aware time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _search_text(context: Any) -> str:
    """``items.search_text`` of the row being inserted (a column default, so add_item,
    add_items and the test builders all write it)."""
    from bot.match.prefilter import search_text

    row = context.get_current_parameters()
    return search_text(row["title"], row.get("summary") or "")


def _dt(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Feed(SQLModel, table=True):
    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    name: str = ""
    language: str | None = None
    enabled: bool = True
    interval: int | None = None  # seconds; None → MCWATCH_POLL_INTERVAL
    etag: str | None = None
    last_modified: str | None = None
    last_polled_at: datetime | None = _dt()
    last_ok: datetime | None = _dt()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    failures: int = 0
    next_poll_at: datetime | None = _dt(index=True)
    created_at: datetime | None = _dt()
    # Who is speaking (issue 15, migration 0008): ISO 3166 alpha-2 code and one of
    # bot.provenance.KINDS; None: not said.
    country: str | None = None
    kind: str | None = None


class Topic(SQLModel, table=True):
    __tablename__ = "topics"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True)
    name: str = ""
    description: str = ""
    query: str = Field(sa_column=Column(Text, nullable=False))
    enabled: bool = True
    position: int = 0


class Meta(SQLModel, table=True):
    """Small documents keyed by name: the lexicon (alias sets + gate), bot offsets."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class SeedRecord(SQLModel, table=True):
    """The digest of what the seed last wrote of one thing: a topic (key: its slug), a
    feed (its URL) or the lexicon (key ``lexicon``). A record without its row means the
    admin removed it; a row whose digest differs from the record, that they edited it.
    Rows of ``topics`` and ``feeds`` are never filtered by it (see ``store.seed``)."""

    __tablename__ = "seed_records"

    kind: str = Field(primary_key=True)  # topic | feed | lexicon
    key: str = Field(sa_column=Column(Text, primary_key=True))
    digest: str  # sha256 hex of the content as the seed wrote it
    recorded_at: datetime | None = _dt(nullable=False)


class Story(SQLModel, table=True):
    """One event, however many outlets report it (``cluster_id`` in the CLI's JSON)."""

    __tablename__ = "stories"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime | None = _dt(index=True)


class Item(SQLModel, table=True):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("feed_id", "identity", name="uq_items_feed_identity"),
        # PostgreSQL searches search_text (a tsvector) through this GIN index. SQLite's
        # index is the FTS5 table items_search (migration 0006); here the name holds no
        # row there (WHERE 0), so the two databases keep one model.
        Index(
            "ix_items_search_text",
            "search_text",
            postgresql_using="gin",
            sqlite_where=text("0"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("feeds.id", ondelete="SET NULL"), index=True)
    )
    identity: str = Field(sa_column=Column(Text, nullable=False))
    source: str = ""  # the feed's name when the item arrived (survives feed removal)
    title: str = Field(sa_column=Column(Text, nullable=False))
    link: str | None = Field(default=None, sa_column=Column(Text))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    author: str | None = None
    language: str = "other"
    published: datetime | None = _dt(nullable=False, index=True)
    fetched_at: datetime | None = _dt(nullable=False, index=True)
    story_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)
    )
    # The matcher's words of title and summary, for the search index (store/search.py):
    # filled from the row itself by every SQLAlchemy insert, never written by hand.
    search_text: str | None = Field(
        default=None,
        sa_column=Column(
            Text().with_variant(TSVECTOR(), "postgresql"),
            nullable=False,
            default=_search_text,
        ),
    )


class ItemTopic(SQLModel, table=True):
    """Why an item belongs to a topic: the matched terms and the linking sentence."""

    __tablename__ = "item_topics"

    item_id: int = Field(
        sa_column=Column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    )
    topic_id: int = Field(
        sa_column=Column(ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True)
    )
    terms: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    evidence: str = Field(default="", sa_column=Column(Text, nullable=False))


class Subscriber(SQLModel, table=True):
    """A Telegram chat that receives alerts: a private user, a group or a channel."""

    __tablename__ = "subscribers"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    chat_type: str = "private"
    title: str = ""  # user's name or group title, for admin listings
    language: str = "fr"  # interface language
    mode: str = "instant"  # instant | digest | both | weekly
    active: bool = True  # False once the user blocked the bot
    paused: bool = False
    timezone: str | None = None  # None → MCWATCH_TIMEZONE
    digest_time: str | None = None  # "HH:MM"; None → MCWATCH_DIGEST_TIME
    digest_day: int | None = None  # weekly digest: 0 = Monday … 6; None → Monday
    quiet_start: str | None = None
    quiet_end: str | None = None
    last_digest_at: datetime | None = _dt()
    created_at: datetime | None = _dt()


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"

    subscriber_id: int = Field(
        sa_column=Column(ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    )
    topic_id: int = Field(
        sa_column=Column(ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True)
    )


class Delivery(SQLModel, table=True):
    """A message owed to a subscriber. Written before sending; the outbox drains it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "story_id", "kind", name="uq_deliveries_once"),
        # A story's deliveries (a new source joined: flag the sent alerts for an edit)
        # are read inside a poll's write transaction; the unique key leads with the
        # subscriber and cannot serve them (issue 14: 826 ms a feed at 3 M rows).
        Index("ix_deliveries_story_id", "story_id"),
        # Deleting an item (retention) looks up its alerts: ON DELETE CASCADE (0007).
        Index("ix_deliveries_item_id", "item_id"),
        # The outbox's two questions, every 2 s: what is owed (queued or sending), and
        # which sent alerts await an edit. Partial: a year holds millions of sent rows
        # and a handful owed (migration 0005).
        Index(
            "ix_deliveries_owed",
            "kind",
            "next_attempt_at",
            sqlite_where=text("status IN ('queued', 'sending')"),
            postgresql_where=text("status IN ('queued', 'sending')"),
        ),
        Index(
            "ix_deliveries_edits",
            "id",
            sqlite_where=text("edit_pending"),
            postgresql_where=text("edit_pending"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False)
    )
    story_id: int = Field(
        sa_column=Column(ForeignKey("stories.id", ondelete="CASCADE"), nullable=False)
    )
    item_id: int = Field(
        sa_column=Column(ForeignKey("items.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = "alert"
    status: str = Field(default="queued", index=True)  # queued | sending | sent | failed
    topics: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON slugs
    attempts: int = 0
    next_attempt_at: datetime | None = _dt(index=True)
    leased_until: datetime | None = _dt()
    sent_at: datetime | None = _dt()
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # A later source joined the story after this alert was sent: edit the message to add
    # "also reported by …" (instead of sending the story again).
    edit_pending: bool = Field(default=False, index=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = _dt()


class Digest(SQLModel, table=True):
    """One daily digest of one subscriber: written before sending, at most one a day."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("subscriber_id", "local_date", name="uq_digests_daily"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False)
    )
    local_date: str  # YYYY-MM-DD in the subscriber's timezone
    period_start: datetime | None = _dt(nullable=False)
    period_end: datetime | None = _dt(nullable=False)
    status: str = Field(default="queued", index=True)  # queued | sending | sent | failed
    attempts: int = 0
    # Messages (then the chart) Telegram accepted: a retry resumes after them.
    parts_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = _dt()
    leased_until: datetime | None = _dt()
    sent_at: datetime | None = _dt()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = _dt()


class Verdict(SQLModel, table=True):
    """A reader's verdict on an alert (issue 15): per subscriber, item and the alert's
    topic slug (its first topic, "general" included; "" only for an alert without one),
    changeable; deleted with the subscriber (``/stop``)."""

    __tablename__ = "verdicts"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "item_id", "topic", name="uq_verdicts_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False)
    )
    item_id: int = Field(
        sa_column=Column(ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    topic: str = ""
    verdict: str = "relevant"  # relevant | not_relevant
    reason: str | None = None  # after not_relevant: wrong_topic | not_mali_china | duplicate
    created_at: datetime | None = _dt()
    updated_at: datetime | None = _dt(index=True)


class DigestLine(SQLModel, table=True):
    """A story as a digest showed it to a subscriber (issue 15): what a verdict button
    under a digest message names (``bot.feedback``: ``d:<id>:…``). One row per
    subscriber, item and topic, however many digests showed it; deleted with either."""

    __tablename__ = "digest_lines"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "item_id", "topic", name="uq_digest_lines_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False)
    )
    item_id: int = Field(
        sa_column=Column(ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    topic: str = ""
    created_at: datetime | None = _dt()


class Watch(SQLModel, table=True):
    """A reader's own rule in the rule language (issue 15: ``/watch``)."""

    __tablename__ = "watches"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(
            ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    query: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = _dt()


class WatchHit(SQLModel, table=True):
    """A story a watch found (issue 15: the hit count ``/watches`` shows)."""

    __tablename__ = "watch_hits"
    __table_args__ = (UniqueConstraint("watch_id", "story_id", name="uq_watch_hits_once"),)

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(
        sa_column=Column(ForeignKey("watches.id", ondelete="CASCADE"), nullable=False)
    )
    story_id: int = Field(
        sa_column=Column(
            ForeignKey("stories.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime | None = _dt()


class Mention(SQLModel, table=True):
    """The first story that named an entity (issue 15: "first mention", once each)."""

    __tablename__ = "mentions"

    entity: str = Field(primary_key=True)
    story_id: int | None = Field(
        default=None,
        sa_column=Column(ForeignKey("stories.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    first_seen: datetime | None = _dt()
