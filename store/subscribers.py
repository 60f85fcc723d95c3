"""Subscribers (Telegram chats), their topic subscriptions and their preferences.

A subscriber's choices leave the store as one ``Preferences`` value, with the settings'
defaults applied (``preferences``, ``preferences_of``); what the columns hold ("HH:MM"
text, None for "the default") stays here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, time

from sqlmodel import Session, col, delete, select

from bot.deliver.digest import DEFAULT_DIGEST_DAY
from bot.errors import StoreError
from bot.timeparse import format_hhmm, parse_hhmm
from bot.types import PreferenceDefaults, Preferences, Recipient
from store.models import Subscriber, Subscription, Topic


def find_subscriber(session: Session, chat_id: int) -> Subscriber | None:
    return session.exec(select(Subscriber).where(Subscriber.chat_id == chat_id)).first()


def get_subscriber(session: Session, chat_id: int) -> Subscriber:
    subscriber = find_subscriber(session, chat_id)
    if subscriber is None:
        raise StoreError(f"chat {chat_id} is not subscribed")
    return subscriber


def register(
    session: Session,
    chat_id: int,
    *,
    chat_type: str,
    title: str,
    language: str,
    now: datetime,
) -> tuple[Subscriber, bool]:
    """Register a chat (all enabled topics, instant mode) or reactivate it.

    Returns (subscriber, created). An existing subscriber keeps its choices.
    """
    subscriber = find_subscriber(session, chat_id)
    if subscriber is not None:
        subscriber.active = True
        subscriber.paused = False
        session.add(subscriber)
        session.flush()
        return subscriber, False
    subscriber = Subscriber(
        chat_id=chat_id,
        chat_type=chat_type,
        title=title[:200],
        language=language,
        created_at=now,
    )
    session.add(subscriber)
    session.flush()
    enabled = session.exec(select(Topic.id).where(col(Topic.enabled))).all()
    for topic_id in enabled:
        session.add(Subscription(subscriber_id=subscriber.id, topic_id=topic_id))
    session.flush()
    return subscriber, True


def forget(session: Session, chat_id: int) -> bool:
    """Delete everything mcwatch knows about a chat (its queue goes with it)."""
    subscriber = find_subscriber(session, chat_id)
    if subscriber is None:
        return False
    session.delete(subscriber)
    session.flush()
    return True


def subscribed_slugs(session: Session, subscriber_id: int) -> list[str]:
    return list(
        session.exec(
            select(Topic.slug)
            .join(Subscription, col(Subscription.topic_id) == col(Topic.id))
            .where(Subscription.subscriber_id == subscriber_id)
            .order_by(col(Topic.position))
        )
    )


def set_subscriptions(
    session: Session, subscriber_id: int, slugs: Iterable[str], *, subscribed: bool
) -> list[str]:
    """Add or remove subscriptions by slug; returns the slugs actually changed."""
    wanted = set(slugs)
    topics = session.exec(select(Topic).where(col(Topic.slug).in_(wanted))).all()
    current = set(subscribed_slugs(session, subscriber_id))
    changed: list[str] = []
    for topic in topics:
        assert topic.id is not None
        if subscribed and topic.slug not in current:
            session.add(Subscription(subscriber_id=subscriber_id, topic_id=topic.id))
            changed.append(topic.slug)
        elif not subscribed and topic.slug in current:
            session.exec(  # type: ignore[call-overload]
                delete(Subscription).where(
                    col(Subscription.subscriber_id) == subscriber_id,
                    col(Subscription.topic_id) == topic.id,
                )
            )
            changed.append(topic.slug)
    session.flush()
    return changed


def deactivate(session: Session, subscriber_id: int) -> None:
    """The chat blocked the bot: keep the row (for /stats), send nothing more."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is not None:
        subscriber.active = False
        session.add(subscriber)
        session.flush()


def instant_recipients(session: Session) -> list[Recipient]:
    """Active chats that want instant alerts, with their topics.

    Paused chats are included: their alerts are queued and held by the outbox
    (``lease_deliveries`` skips paused chats) until /resume — nothing is lost.
    """
    # Columns, not ORM objects: this runs once per feed with matches, over every
    # (subscriber, topic) pair, and entity loading was a fifth of a feed's ingest.
    rows = session.execute(
        select(Subscriber.id, Subscriber.chat_id, Subscriber.mode, Topic.slug)
        .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
        .join(Topic, col(Topic.id) == col(Subscription.topic_id))
        .where(
            col(Subscriber.active),
            col(Subscriber.mode).in_(("instant", "both")),
        )
    ).all()
    topics: dict[int, set[str]] = {}
    chats: dict[int, tuple[int, str]] = {}
    for subscriber_id, chat_id, mode, slug in rows:
        chats[subscriber_id] = (chat_id, mode)
        topics.setdefault(subscriber_id, set()).add(slug)
    return [
        Recipient(subscriber_id=sid, chat_id=chat, mode=mode, topics=frozenset(topics[sid]))
        for sid, (chat, mode) in sorted(chats.items())
    ]


def preferences(session: Session, chat_id: int, defaults: PreferenceDefaults) -> Preferences | None:
    """The chat's preferences (also of a chat that blocked the bot: ``active``), or None
    when mcwatch does not know it."""
    subscriber = find_subscriber(session, chat_id)
    if subscriber is None:
        return None
    [found] = preferences_of(session, [subscriber], defaults)
    return found


def id_chunks(rows: Sequence[Subscriber]) -> Iterator[list[int]]:
    """The rows' ids, 500 at a time: SQLite caps an IN list's bound parameters (32,766
    since 3.32), and a digest tick reads every digest reader at once."""
    ids = [row.id for row in rows if row.id is not None]
    for start in range(0, len(ids), 500):
        yield ids[start : start + 500]


def preferences_of(
    session: Session, rows: Sequence[Subscriber], defaults: PreferenceDefaults
) -> list[Preferences]:
    """``rows`` as ``Preferences``, in their order, their topics read together."""
    slugs: dict[int, list[str]] = {}
    for ids in id_chunks(rows):
        for subscriber_id, slug in session.execute(
            select(Subscription.subscriber_id, Topic.slug)
            .join(Topic, col(Topic.id) == col(Subscription.topic_id))
            .where(col(Subscription.subscriber_id).in_(ids))
            .order_by(col(Topic.position), col(Topic.id))
        ):
            slugs.setdefault(subscriber_id, []).append(slug)
    found = []
    for row in rows:
        assert row.id is not None
        # Columns hold "HH:MM" text, validated when written; None means "the default".
        digest_time = parse_hhmm(row.digest_time) if row.digest_time else defaults.digest_time
        quiet = None
        if row.quiet_start and row.quiet_end:
            quiet = (parse_hhmm(row.quiet_start), parse_hhmm(row.quiet_end))
        found.append(
            Preferences(
                subscriber_id=row.id,
                chat_id=row.chat_id,
                language=row.language,
                mode=row.mode,
                timezone=row.timezone or defaults.timezone,
                digest_time=digest_time,
                quiet=quiet,
                topics=tuple(slugs.get(row.id, ())),
                paused=row.paused,
                active=row.active,
            )
        )
    return found


def list_subscribers(session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).order_by(col(Subscriber.id))))


SETTABLE = frozenset(
    {
        "mode",
        "language",
        "timezone",
        "digest_time",
        "digest_day",
        "quiet_start",
        "quiet_end",
        "paused",
    }
)


def update_subscriber(session: Session, chat_id: int, **changes: object) -> Subscriber:
    """Change a subscriber's preferences (validated by the caller; a ``time`` is stored
    as "HH:MM"). StoreError if unknown."""
    unknown = set(changes) - SETTABLE
    if unknown:
        raise ValueError(f"not a subscriber setting: {', '.join(sorted(unknown))}")
    day = changes.get("digest_day")
    if day is not None and (not isinstance(day, int) or not 0 <= day <= 6):
        raise ValueError(f"digest_day must be 0 (Monday) to 6, got {day!r}")
    subscriber = get_subscriber(session, chat_id)
    for key, value in changes.items():
        setattr(subscriber, key, format_hhmm(value) if isinstance(value, time) else value)
    session.add(subscriber)
    session.flush()
    return subscriber


def digest_day(session: Session, chat_id: int) -> int:
    """The chat's weekly digest day, 0 = Monday … 6 (the default, Monday, when it chose
    none). StoreError if unknown."""
    day = get_subscriber(session, chat_id).digest_day
    return DEFAULT_DIGEST_DAY if day is None else day


def count_subscribers(session: Session) -> dict[str, int]:
    """Active, paused and blocked (inactive) subscribers."""
    rows = list_subscribers(session)
    return {
        "active": sum(1 for s in rows if s.active and not s.paused and s.chat_type != "console"),
        "paused": sum(1 for s in rows if s.active and s.paused),
        "inactive": sum(1 for s in rows if not s.active),
    }
