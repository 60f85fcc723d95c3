"""Feeds: the watch list and each feed's health and schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bot.errors import StoreError
from bot.ids import MAX_ROW_ID
from bot.types import FeedRef
from store.models import Feed

# Feed ids are an SQL INTEGER (store/migrations 0001): 32 bits on PostgreSQL, which


@dataclass(frozen=True, slots=True)
class NewFeed:
    url: str
    name: str = ""
    language: str | None = None
    interval: int | None = None
    enabled: bool = True


def feed_status(feed: Feed) -> str:
    """ok | failing | disabled | new (never polled): `feeds health`, /metrics, /healthz."""
    if not feed.enabled:
        return "disabled"
    if feed.failures:
        return "failing"
    return "ok" if feed.last_ok else "new"


def list_feeds(session: Session) -> list[Feed]:
    return list(session.exec(select(Feed).order_by(col(Feed.id))))


def get_feed(session: Session, feed_id: int) -> Feed:
    feed = session.get(Feed, feed_id) if 1 <= feed_id <= MAX_ROW_ID else None
    if feed is None:
        raise StoreError(f"no feed with id {feed_id}")
    return feed


def find_feed_by_url(session: Session, url: str) -> Feed | None:
    return session.exec(select(Feed).where(Feed.url == url)).first()


def add_feed(session: Session, new: NewFeed, now: datetime) -> Feed:
    """Add a feed, due at once. A URL already watched is refused (StoreError)."""
    if find_feed_by_url(session, new.url) is not None:
        raise StoreError(f"feed already watched: {new.url}")
    feed = Feed(
        url=new.url,
        name=new.name or new.url,
        language=new.language,
        enabled=new.enabled,
        interval=new.interval,
        created_at=now,
        next_poll_at=now,
    )
    session.add(feed)
    session.flush()
    return feed


def ensure_feeds(session: Session, new_feeds: Sequence[NewFeed], now: datetime) -> int:
    """Add the feeds not yet watched (by URL); returns how many were added."""
    added = 0
    for new in new_feeds:
        if find_feed_by_url(session, new.url) is None:
            add_feed(session, new, now)
            added += 1
    return added


def remove_feed(session: Session, feed_id: int) -> Feed:
    """Stop watching a feed. Its items stay (their source name is kept on them)."""
    feed = get_feed(session, feed_id)
    session.delete(feed)
    session.flush()
    return feed


def set_feed_enabled(session: Session, feed_id: int, enabled: bool, now: datetime) -> Feed:
    feed = get_feed(session, feed_id)
    feed.enabled = enabled
    if enabled:
        feed.next_poll_at = now
    session.add(feed)
    return feed


def claim_due_feeds(
    session: Session,
    now: datetime,
    *,
    lease: timedelta,
    include_not_due: bool = False,
    feed_id: int | None = None,
) -> list[FeedRef]:
    """Take the feeds to poll now and push their next poll ``lease`` ahead, so that a
    second poller (the daemon and a CLI ``poll``) never polls the same feed at once.
    The poll's result overwrites ``next_poll_at``; a crashed poll retries after the lease.
    """
    if feed_id is not None and not 1 <= feed_id <= MAX_ROW_ID:
        raise StoreError(f"no feed with id {feed_id}")
    if feed_id is not None:
        query = select(Feed).where(Feed.id == feed_id)
    else:
        query = select(Feed).where(col(Feed.enabled))
        if not include_not_due:
            query = query.where(
                or_(col(Feed.next_poll_at).is_(None), col(Feed.next_poll_at) <= now)
            )
    # Healthy feeds first: a failing feed (likely slow or broken) is polled last, so it
    # cannot hold a fetch slot that a healthy feed is waiting for.
    ordered = query.order_by(col(Feed.failures), col(Feed.id))
    rows = list(session.exec(ordered.with_for_update(skip_locked=True)))
    if feed_id is not None and not rows:
        raise StoreError(f"no feed with id {feed_id}")
    for feed in rows:
        feed.next_poll_at = now + lease
        session.add(feed)
    session.flush()
    return [as_ref(feed) for feed in rows]


def as_ref(feed: Feed) -> FeedRef:
    assert feed.id is not None
    return FeedRef(
        id=feed.id,
        url=feed.url,
        etag=feed.etag,
        last_modified=feed.last_modified,
        language=feed.language,
        name=feed.name,
    )


def record_fetch_success(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    next_poll_at: datetime,
    etag: str | None,
    last_modified: str | None,
    new_url: str | None = None,
) -> None:
    feed = get_feed(session, feed_id)
    feed.last_polled_at = now
    feed.last_ok = now
    feed.last_error = None
    feed.failures = 0
    feed.next_poll_at = next_poll_at
    if etag is not None or last_modified is not None:
        feed.etag, feed.last_modified = etag, last_modified
    if new_url and new_url != feed.url and find_feed_by_url(session, new_url) is None:
        feed.url = new_url
    session.add(feed)


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A feed that answered 304: what its health record becomes."""

    feed_id: int
    next_poll_at: datetime
    etag: str | None
    last_modified: str | None


def get_feeds(session: Session, feed_ids: Sequence[int]) -> dict[int, Feed]:
    """The feeds of ``feed_ids`` that exist, by id, in one statement."""
    if not feed_ids:
        return {}
    rows = session.exec(select(Feed).where(col(Feed.id).in_(feed_ids)))
    return {row.id: row for row in rows if row.id is not None}


def record_unchanged(session: Session, unchanged: Sequence[Unchanged], *, now: datetime) -> None:
    """``record_fetch_success`` for many 304s at once: one bulk UPDATE by primary key."""
    rows: list[dict[str, object]] = []
    for feed in unchanged:
        row: dict[str, object] = {
            "id": feed.feed_id,
            "last_polled_at": now,
            "last_ok": now,
            "last_error": None,
            "failures": 0,
            "next_poll_at": feed.next_poll_at,
        }
        if feed.etag is not None or feed.last_modified is not None:
            row["etag"], row["last_modified"] = feed.etag, feed.last_modified
        rows.append(row)
    if rows:
        session.execute(update(Feed), rows)


def record_fetch_failure(
    session: Session, feed_id: int, *, now: datetime, error: str, next_poll_at: datetime
) -> int:
    """Remember why a feed failed; returns its count of consecutive failures.

    ``error`` is a ``bot.text.failure`` (a catalogue key and its arguments, a few hundred
    characters at most, so the bound below never cuts one); ``bot.text.describe`` renders
    it in the reader's language."""
    feed = get_feed(session, feed_id)
    feed.last_polled_at = now
    feed.last_error = error[:1000]
    feed.failures += 1
    feed.next_poll_at = next_poll_at
    session.add(feed)
    return feed.failures


def failing_feeds(session: Session) -> list[Feed]:
    """Enabled feeds whose last poll failed, worst first."""
    return list(
        session.exec(
            select(Feed)
            .where(col(Feed.enabled), col(Feed.failures) > 0)
            .order_by(col(Feed.failures).desc(), col(Feed.id))
        )
    )
