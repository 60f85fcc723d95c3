"""Subscribers (Telegram chats) and their topic subscriptions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, delete, select

from bot.errors import StoreError
from bot.types import Recipient
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


def list_subscribers(session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).order_by(col(Subscriber.id))))


SETTABLE = frozenset(
    {"mode", "language", "timezone", "digest_time", "quiet_start", "quiet_end", "paused"}
)


def update_subscriber(session: Session, chat_id: int, **changes: object) -> Subscriber:
    """Change a subscriber's preferences (validated by the caller). StoreError if unknown."""
    unknown = set(changes) - SETTABLE
    if unknown:
        raise ValueError(f"not a subscriber setting: {', '.join(sorted(unknown))}")
    subscriber = get_subscriber(session, chat_id)
    for key, value in changes.items():
        setattr(subscriber, key, value)
    session.add(subscriber)
    session.flush()
    return subscriber


def count_subscribers(session: Session) -> dict[str, int]:
    """Active, paused and blocked (inactive) subscribers."""
    rows = list_subscribers(session)
    return {
        "active": sum(1 for s in rows if s.active and not s.paused and s.chat_type != "console"),
        "paused": sum(1 for s in rows if s.active and s.paused),
        "inactive": sum(1 for s in rows if not s.active),
    }
