"""Daily and weekly digests: who wants one, what a period holds, and the at-most-once
record (one digest a subscriber and local day, whichever kind)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, func, select

from bot.deliver.digest import DEFAULT_DIGEST_DAY, DIGEST_MODES, WEEKLY, DigestReader
from bot.types import DigestStory, PreferenceDefaults
from store.items import story_outlets
from store.models import Digest, Item, ItemTopic, Subscriber, Subscription, Topic
from store.subscribers import id_chunks, preferences_of
from store.watches import found_story_ids

# Ids bound in one IN (...): well under SQLite's 32,766 parameters, and a digest's stories
# are a few dozen.
_IDS_PER_QUERY = 1000


def digest_readers(session: Session, defaults: PreferenceDefaults) -> list[DigestReader]:
    """Active, unpaused subscribers in digest, both or weekly mode, with their
    preferences, the local date of their last digest and their weekly day."""
    query = select(Subscriber).where(col(Subscriber.active), col(Subscriber.paused).is_(False))
    query = query.where(col(Subscriber.mode).in_(DIGEST_MODES))
    rows = list(session.exec(query.order_by(col(Subscriber.id))))
    last_dates: dict[int, str] = {}
    for ids in id_chunks(rows):
        last_dates.update(
            session.execute(
                select(Digest.subscriber_id, func.max(Digest.local_date))
                .where(col(Digest.subscriber_id).in_(ids))
                .group_by(col(Digest.subscriber_id))
            ).all()
        )
    return [
        DigestReader(
            preferences,
            row.last_digest_at,
            last_dates.get(preferences.subscriber_id),
            DEFAULT_DIGEST_DAY if row.digest_day is None else row.digest_day,
        )
        for row, preferences in zip(rows, preferences_of(session, rows, defaults), strict=True)
    ]


def last_digest_end(session: Session, subscriber_id: int) -> datetime | None:
    """The end of the period the subscriber's last sent digest covered (what a digest
    now starts from), read from the digests, not the subscriber: the caller has the
    subscriber's preferences already (one read of the subscriber per update)."""
    end = session.exec(
        select(func.max(Digest.period_end)).where(
            Digest.subscriber_id == subscriber_id, Digest.status == "sent"
        )
    ).one()
    if isinstance(end, datetime) and end.tzinfo is None:  # SQLite hands back naive UTC
        end = end.replace(tzinfo=UTC)
    return end if isinstance(end, datetime) else None


def queue_digest(
    session: Session,
    subscriber_id: int,
    local_date: str,
    start: datetime,
    end: datetime,
    now: datetime,
) -> int | None:
    """Record a day's digest before it is sent; None if that day's exists (at most once)."""
    digest = Digest(
        subscriber_id=subscriber_id,
        local_date=local_date,
        period_start=start,
        period_end=end,
        status="queued",
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(digest)
    except IntegrityError:
        return None
    return digest.id


@dataclass(frozen=True, slots=True)
class LeasedDigest:
    digest_id: int
    subscriber_id: int
    chat_id: int
    language: str
    timezone: str | None
    local_date: str
    period_start: datetime
    period_end: datetime
    attempts: int
    parts_sent: int = 0
    weekly: bool = False  # the subscriber's mode when it was leased: "Your week"


def lease_digests(session: Session, now: datetime, *, lease: timedelta) -> list[LeasedDigest]:
    """Digests due now (queued, or left "sending" by a crash past their lease)."""
    due = or_(
        and_(col(Digest.status) == "queued", col(Digest.next_attempt_at) <= now),
        and_(col(Digest.status) == "sending", col(Digest.leased_until) < now),
    )
    rows = session.exec(
        select(Digest, Subscriber)
        .join(Subscriber, col(Subscriber.id) == col(Digest.subscriber_id))
        .where(due, col(Subscriber.active))
        .order_by(col(Digest.id))
        .with_for_update(skip_locked=True, of=Digest)
    ).all()
    if not rows:
        return []
    until = now + lease
    # Conditional, as an alert's lease (store.deliveries.lease_deliveries): on SQLite
    # the SELECT holds no lock, and a second sender (`digest --send` beside a daemon)
    # may have read the same rows; only those still due when this runs are ours.
    taken = set(
        session.scalars(
            update(Digest)
            .where(col(Digest.id).in_([digest.id for digest, _ in rows]), due)
            .values(status="sending", leased_until=until, attempts=col(Digest.attempts) + 1)
            .returning(col(Digest.id))
            .execution_options(synchronize_session=False)
        )
    )
    leased = []
    for digest, sub in rows:
        assert digest.id is not None and digest.period_start and digest.period_end
        if digest.id not in taken:
            continue
        set_committed_value(digest, "status", "sending")
        set_committed_value(digest, "leased_until", until)
        set_committed_value(digest, "attempts", digest.attempts + 1)
        leased.append(
            LeasedDigest(
                digest.id,
                digest.subscriber_id,
                sub.chat_id,
                sub.language,
                sub.timezone,
                digest.local_date,
                digest.period_start,
                digest.period_end,
                digest.attempts,
                digest.parts_sent,
                sub.mode == WEEKLY,
            )
        )
    return leased


def release_digests(session: Session, digest_ids: Sequence[int]) -> int:
    """The sender stops (shutdown): its digests still ``sending`` go back to ``queued``,
    due now, so the next start resumes them (after the parts already recorded as sent)
    instead of waiting out the lease. Returns how many were released."""
    if not digest_ids:
        return 0
    released = session.scalars(
        update(Digest)
        .where(col(Digest.id).in_(list(digest_ids)), col(Digest.status) == "sending")
        .values(status="queued", leased_until=None)
        .returning(col(Digest.id))
        .execution_options(synchronize_session=False)
    ).all()
    return len(released)


def record_digest_part(session: Session, digest_id: int, parts_sent: int) -> None:
    """Telegram accepted the digest's first ``parts_sent`` parts (own transaction, right
    after each, as alerts are marked sent)."""
    digest = session.get(Digest, digest_id)
    if digest is not None:
        digest.parts_sent = parts_sent
        session.add(digest)


def close_digest(
    session: Session,
    digest_id: int,
    now: datetime,
    *,
    status: str,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """sent | empty (nothing to say) | queued again (retry_at) | failed (with the reason)."""
    digest = session.get(Digest, digest_id)
    if digest is None:
        return
    digest.status, digest.last_error, digest.leased_until = status, error, None
    if retry_at is not None:
        digest.next_attempt_at = retry_at
    if status in ("sent", "empty"):
        digest.sent_at = now
        subscriber = session.get(Subscriber, digest.subscriber_id)
        if subscriber is not None:
            subscriber.last_digest_at = digest.period_end
            session.add(subscriber)
    session.add(digest)


def drop_for_subscriber(session: Session, subscriber_id: int, reason: str) -> int:
    """Give up every pending digest of a chat (it blocked the bot; ``bot.deliver.outbox.blocked``):
    failed with ``reason``, so that a /start later does not bring back stale ones."""
    rows = session.exec(
        select(Digest).where(
            Digest.subscriber_id == subscriber_id,
            col(Digest.status).in_(("queued", "sending")),
        )
    ).all()
    for row in rows:
        row.status, row.last_error, row.leased_until = "failed", reason[:500], None
        session.add(row)
    return len(rows)


def stories_between(
    session: Session,
    subscriber_id: int | None,
    start: datetime,
    end: datetime,
    backlog: timedelta | None = None,
) -> list[DigestStory]:
    """Stories with items that arrived in [start, end) in the subscriber's topics
    (every topic when ``subscriber_id`` is None) or found by their watches, one entry
    per story. With
    ``backlog``, items published more than that before ``start`` are archive, not news,
    and left out."""
    topic_rows = session.exec(select(Topic.id, Topic.slug, Topic.position)).all()
    position = {tid: pos for tid, _, pos in topic_rows}
    slug_of = {tid: slug for tid, slug, _ in topic_rows}
    query = (
        select(Item, ItemTopic.topic_id)
        .join(ItemTopic, col(ItemTopic.item_id) == col(Item.id))
        .where(col(Item.fetched_at) >= start, col(Item.fetched_at) < end)
    )
    if backlog is not None:
        query = query.where(col(Item.published) >= start - backlog)
    watched: list[tuple[Item, int]] = []
    if subscriber_id is not None:
        # The stories the reader's own watches (/watch) found, under their own topics:
        # a reader who follows "huawei" but not energy sees Huawei's grid deal in energy.
        watched = list(
            session.exec(query.where(col(Item.story_id).in_(found_story_ids(subscriber_id))))
        )
        # ``+ 0``: the period's items are read by time (ix_items_fetched_at or
        # ix_items_published, a day of a year), then their topics. On the topic index
        # SQLite, without statistics, read every item the topics ever matched instead:
        # 1.1 s a reader at a year of history, 4 ms this way.
        query = query.where(
            (col(ItemTopic.topic_id) + 0).in_(
                select(Subscription.topic_id).where(Subscription.subscriber_id == subscriber_id)
            )
        )
    first: dict[int, Item] = {}
    topics: dict[int, set[int]] = defaultdict(set)
    # Sorted here, not by SQL: an ORDER BY on published leads SQLite to walk the whole
    # published index (to skip a sort) instead of reading the period by fetched_at.
    rows = list(session.exec(query).all())
    subscribed = {item.story_id for item, _ in rows}
    rows += [row for row in watched if row[0].story_id not in subscribed]
    rows.sort(key=lambda row: (row[0].published, row[0].id))
    for item, topic_id in rows:
        key = item.story_id or -(item.id or 0)
        first.setdefault(key, item)
        topics[key].add(topic_id)
    story_ids = [item.story_id for item in first.values() if item.story_id is not None]
    sources_of = _source_counts(session, story_ids)
    outlets_of = story_outlets(session, story_ids)  # the line's "3 sources: 🇲🇱 2 · 🇨🇳 1"
    stories = []
    for key, item in first.items():
        assert item.published is not None
        sources = sources_of.get(item.story_id, 1) if item.story_id is not None else 1
        primary = min(topics[key], key=lambda tid: position.get(tid, 0))
        stories.append(
            DigestStory(
                story_id=key,
                title=item.title,
                link=item.link,
                source=item.source,
                sources=sources,
                topic=slug_of.get(primary, "?"),
                published=item.published,
                outlets=tuple(outlets_of.get(item.story_id, ())) if item.story_id else (),
                item_id=item.id or 0,
            )
        )
    return stories


def _source_counts(session: Session, story_ids: Sequence[int]) -> dict[int, int]:
    """Distinct sources per story, for a whole digest in one query per chunk of ids."""
    counts: dict[int, int] = {}
    unique = sorted(set(story_ids))
    for start in range(0, len(unique), _IDS_PER_QUERY):
        chunk = unique[start : start + _IDS_PER_QUERY]
        rows = session.execute(
            select(Item.story_id, func.count(func.distinct(Item.source)))
            .where(col(Item.story_id).in_(chunk))
            .group_by(col(Item.story_id))
        ).all()
        counts.update({story_id: int(n) or 1 for story_id, n in rows})
    return counts


def daily_story_counts(
    session: Session, days: Sequence[date], zone: ZoneInfo
) -> dict[str, list[int]]:
    """Stories per topic per local day (``days`` in order) for the trend chart."""
    if not days:
        return {}
    start = datetime.combine(days[0], time(), tzinfo=zone).astimezone(UTC)
    rows = session.exec(
        select(Item.published, Item.story_id, Topic.slug)
        .join(ItemTopic, col(ItemTopic.item_id) == col(Item.id))
        .join(Topic, col(Topic.id) == col(ItemTopic.topic_id))
        .where(col(Item.published) >= start)
    ).all()
    index = {day: i for i, day in enumerate(days)}
    seen: set[tuple[str, int, date]] = set()
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for published, story_id, slug in rows:
        day = published.astimezone(zone).date()
        if day in index and (slug, story_id or 0, day) not in seen:
            seen.add((slug, story_id or 0, day))
            counts[slug][index[day]] += 1
    return dict(counts)
