"""Personal watches (``/watch``): the readers' own rules and the stories they found."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import Select

from bot.watches import MAX_WATCHES, WatchRule, normalise, same_query
from store.db import upsert_insert
from store.models import Subscriber, Watch, WatchHit


class WatchRefused(ValueError):
    """Why a watch was not added: ``reason`` is ``limit`` or ``duplicate``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def add(session: Session, subscriber_id: int, query: str, now: datetime) -> Watch:
    """Store a (checked) watch; WatchRefused past ``MAX_WATCHES`` or for a repeat."""
    existing = list_of(session, subscriber_id)
    if any(same_query(watch.query, query) for watch in existing):
        raise WatchRefused("duplicate")
    if len(existing) >= MAX_WATCHES:
        raise WatchRefused("limit")
    watch = Watch(subscriber_id=subscriber_id, query=normalise(query), created_at=now)
    session.add(watch)
    session.flush()
    return watch


def list_of(session: Session, subscriber_id: int) -> list[Watch]:
    """A reader's watches, oldest first (the numbers of ``/watches``)."""
    return list(
        session.exec(
            select(Watch).where(Watch.subscriber_id == subscriber_id).order_by(col(Watch.id))
        )
    )


def hit_counts(session: Session, watch_ids: Collection[int]) -> dict[int, int]:
    """Stories each watch found since it was added."""
    if not watch_ids:
        return {}
    rows = session.exec(
        select(WatchHit.watch_id, func.count())
        .where(col(WatchHit.watch_id).in_(list(watch_ids)))
        .group_by(col(WatchHit.watch_id))
    )
    return {watch_id: count for watch_id, count in rows}


def remove(session: Session, subscriber_id: int, number: int) -> Watch | None:
    """Remove the reader's ``number``-th watch (1-based, as ``/watches`` numbers them);
    None when there is no such watch."""
    watches = list_of(session, subscriber_id)
    if not 1 <= number <= len(watches):
        return None
    watch = watches[number - 1]
    session.delete(watch)
    session.flush()
    return watch


def active_rules(session: Session) -> list[WatchRule]:
    """Every watch of an active reader (paused ones too: the outbox holds their alerts)."""
    rows = session.execute(
        select(Watch.id, Watch.subscriber_id, Watch.query, Subscriber.mode)
        .join(Subscriber, col(Subscriber.id) == col(Watch.subscriber_id))
        .where(col(Subscriber.active))
        .order_by(col(Watch.id))
    ).all()
    return [WatchRule(wid, sid, query, mode) for wid, sid, query, mode in rows]


def record_hits(session: Session, hits: Sequence[tuple[int, int]], now: datetime) -> None:
    """Record (watch id, story id) pairs once each (a later copy of a story it already
    found, or a second worker, adds nothing)."""
    if not hits:
        return
    values = [
        {"watch_id": watch_id, "story_id": story_id, "created_at": now}
        for watch_id, story_id in dict.fromkeys(hits)
    ]
    table = WatchHit.__table__  # type: ignore[attr-defined]
    statement = upsert_insert(session)(table).on_conflict_do_nothing()
    session.execute(statement, values)


def watched(
    session: Session, pairs: Collection[tuple[int, int]]
) -> dict[tuple[int, int], tuple[str, ...]]:
    """For (subscriber id, story id) pairs: the queries of that reader's watches that
    found that story (the alert's "👁 Your watch" line)."""
    if not pairs:
        return {}
    subscribers = {sid for sid, _ in pairs}
    stories = {story for _, story in pairs}
    rows = session.execute(
        select(Watch.subscriber_id, WatchHit.story_id, Watch.query)
        .join(WatchHit, col(WatchHit.watch_id) == col(Watch.id))
        .where(
            col(Watch.subscriber_id).in_(list(subscribers)),
            col(WatchHit.story_id).in_(list(stories)),
        )
        .order_by(col(Watch.id))
    ).all()
    found: dict[tuple[int, int], tuple[str, ...]] = {}
    for subscriber_id, story_id, query in rows:
        key = (subscriber_id, story_id)
        if key in pairs:
            found[key] = (*found.get(key, ()), query)
    return found


def found_story_ids(subscriber_id: int) -> Select[tuple[int]]:
    """The stories a reader's watches found, as a subquery (a digest adds them to the
    reader's topics)."""
    return (
        select(WatchHit.story_id)
        .join(Watch, col(Watch.id) == col(WatchHit.watch_id))
        .where(Watch.subscriber_id == subscriber_id)
    )
