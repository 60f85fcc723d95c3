"""Feeds: the watch list, each feed's health and schedule, and who is speaking.

Who is speaking (issue 15, ``bot.provenance``): a feed's ``country`` and ``kind``. An
item's are its feed's, except for an item of a news search (kind ``search``) credited
to another outlet (``items.source`` is then the outlet the search names, not the feed's
name): that outlet's, when a feed we watch has its name (case aside, by the database's
``lower``), else unknown. ``provenance_columns`` says so once, in SQL, for what the
alerts show and what ``items list --country`` and ``/latest country:`` filter alike.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.errors import StoreError
from bot.ids import MAX_ROW_ID
from bot.provenance import SEARCH
from bot.types import FeedRef
from store.models import Feed, Item


@dataclass(frozen=True, slots=True)
class NewFeed:
    url: str
    name: str = ""
    language: str | None = None
    interval: int | None = None
    enabled: bool = True
    country: str | None = None  # ISO 3166 alpha-2, upper-case (bot.provenance.parse_country)
    kind: str | None = None  # one of bot.provenance.KINDS


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
        country=new.country,
        kind=new.kind,
        created_at=now,
        next_poll_at=now,
    )
    session.add(feed)
    session.flush()
    return feed


EDITABLE = ("name", "language", "interval", "country", "kind")


def edit_feed(session: Session, feed_id: int, changes: Mapping[str, Any]) -> Feed:
    """Set the ``EDITABLE`` fields of ``changes`` (None clears all but the name; values
    already validated by the caller). The seed keeps such an edit (``store.seed``)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise StoreError(f"a feed has no editable field {', '.join(sorted(unknown))}")
    feed = get_feed(session, feed_id)
    for field, value in changes.items():
        if field == "name" and not value:
            raise StoreError("a feed's name cannot be empty")
        setattr(feed, field, value)
    session.add(feed)
    session.flush()
    return feed


# The feed an item of a news search is credited to (module docstring).
_OUTLET = aliased(Feed, name="outlet_feed")


def _credited(column: Any) -> Any:
    """``column`` of the first watched feed (not a search) named as the item's source."""
    return (
        select(column)
        .where(
            func.lower(col(_OUTLET.name)) == func.lower(col(Item.source)),
            or_(col(_OUTLET.kind).is_(None), col(_OUTLET.kind) != SEARCH),
        )
        .order_by(col(_OUTLET.id))
        .limit(1)
        .scalar_subquery()
    )


def provenance_columns() -> tuple[ColumnElement[str | None], ColumnElement[str | None]]:
    """(country, kind) of an item, as SQL over ``items`` outer-joined to its ``feeds``
    row (``with_feed``): its feed's, or, for a search's item credited to an outlet, that
    outlet's feed's (module docstring)."""
    credited = and_(col(Feed.kind) == SEARCH, col(Item.source) != col(Feed.name))
    country = case((credited, _credited(_OUTLET.country)), else_=col(Feed.country))
    kind = case((credited, _credited(_OUTLET.kind)), else_=col(Feed.kind))
    return country, kind


S = TypeVar("S", bound=Select[Any])


def with_feed(query: S) -> S:
    """``query`` over ``items`` with each item's feed row (None once the feed is gone)."""
    return query.outerjoin(Feed, col(Feed.id) == col(Item.feed_id))


def where_provenance(query: S, country: str | None = None, kind: str | None = None) -> S:
    """``query`` over ``items`` narrowed to the items of ``country`` and/or ``kind``."""
    if country is None and kind is None:
        return query
    found_country, found_kind = provenance_columns()
    query = with_feed(query)
    if country is not None:
        query = query.where(found_country == country)
    if kind is not None:
        query = query.where(found_kind == kind)
    return query


def item_provenance(
    session: Session, item_ids: Collection[int]
) -> dict[int, tuple[str | None, str | None]]:
    """(country, kind) of each of ``item_ids``, in one query per 500 ids."""
    found: dict[int, tuple[str | None, str | None]] = {}
    wanted = sorted(set(item_ids))
    country, kind = provenance_columns()
    for start in range(0, len(wanted), 500):  # SQLite's cap on bound parameters
        chunk = wanted[start : start + 500]
        rows = session.execute(
            with_feed(select(col(Item.id), country, kind)).where(col(Item.id).in_(chunk))
        )
        found.update({item_id: (c, k) for item_id, c, k in rows})
    return found


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
    limit: int | None = None,
) -> list[FeedRef]:
    """Take up to ``limit`` feeds to poll now and push their next poll to ``now + lease``,
    so that no other poller (another worker, a CLI ``poll``) polls them meanwhile.

    The lease lives in ``next_poll_at`` itself: ``now + lease`` is the claim's token,
    which ``renew_claims`` and ``release_claims`` compare before they touch a row, so
    they never undo a poll's result (which overwrites ``next_poll_at``) nor a claim
    another poller took after this one expired. A crashed poller's feeds come due again
    when the lease ends.

    One ``UPDATE … RETURNING``: on PostgreSQL the rows are picked ``FOR UPDATE SKIP
    LOCKED``, so concurrent workers split the due feeds instead of queueing on each
    other's locks; on SQLite the statement takes the write lock at once (a read then a
    write would fail with SQLITE_BUSY when another writer came between).
    """
    if feed_id is not None and not 1 <= feed_id <= MAX_ROW_ID:
        raise StoreError(f"no feed with id {feed_id}")
    if feed_id is not None:
        picked = select(Feed.id).where(Feed.id == feed_id)
    else:
        picked = select(Feed.id).where(col(Feed.enabled))
        if not include_not_due:
            picked = picked.where(
                or_(col(Feed.next_poll_at).is_(None), col(Feed.next_poll_at) <= now)
            )
    # Healthy feeds first: a failing feed (likely slow or broken) is polled last, so it
    # cannot hold a fetch slot that a healthy feed is waiting for.
    picked = picked.order_by(col(Feed.failures), col(Feed.id)).limit(limit)
    claimed = session.execute(
        update(Feed)
        .where(col(Feed.id).in_(picked.with_for_update(skip_locked=True).scalar_subquery()))
        .values(next_poll_at=now + lease)
        .returning(*_REF_COLUMNS, col(Feed.failures))
        .execution_options(synchronize_session=False)
    ).all()
    if feed_id is not None and not claimed:
        raise StoreError(f"no feed with id {feed_id}")
    # RETURNING follows no order: the order of the pick is restored here.
    ordered = sorted(claimed, key=lambda row: (row.failures, row.id))
    return [FeedRef(*row[: len(_REF_COLUMNS)]) for row in ordered]


# The columns of a FeedRef, in its field order.
_REF_COLUMNS = (
    col(Feed.id),
    col(Feed.url),
    col(Feed.etag),
    col(Feed.last_modified),
    col(Feed.language),
    col(Feed.name),
)


def claim_tokens(session: Session, feed_ids: Collection[int]) -> set[datetime]:
    """The leases ``feed_ids`` are held under now (a poll given feeds another call
    claimed learns its tokens here)."""
    if not feed_ids:
        return set()
    rows = session.exec(
        select(Feed.next_poll_at).where(col(Feed.id).in_(list(feed_ids))).distinct()
    )
    return {row for row in rows if row is not None}


def renew_claims(
    session: Session, feed_ids: Collection[int], tokens: Collection[datetime], until: datetime
) -> set[int]:
    """Extend to ``until`` the claim of the ``feed_ids`` still held under one of
    ``tokens``; returns the ids renewed (a feed already polled, removed, or taken over
    by another poller after the lease ran out is left alone)."""
    return _move_claims(session, feed_ids, tokens, until)


def release_claims(
    session: Session, feed_ids: Collection[int], tokens: Collection[datetime], now: datetime
) -> int:
    """Give back the claimed feeds a poller will not poll (it is stopping): due at
    ``now`` for the next poller, instead of waiting out the lease. Returns how many."""
    return len(_move_claims(session, feed_ids, tokens, now))


def _move_claims(
    session: Session, feed_ids: Collection[int], tokens: Collection[datetime], to: datetime
) -> set[int]:
    """Set ``next_poll_at`` to ``to`` for the feeds still claimed under one of ``tokens``
    (a claim's token is the ``next_poll_at`` it wrote); the ids moved."""
    if not feed_ids or not tokens:
        return set()
    moved = session.execute(
        update(Feed)
        .where(col(Feed.id).in_(list(feed_ids)), col(Feed.next_poll_at).in_(list(tokens)))
        .values(next_poll_at=to)
        .returning(col(Feed.id))
        .execution_options(synchronize_session=False)
    )
    return set(moved.scalars())


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
