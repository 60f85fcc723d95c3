"""Items, the topics they matched, and the stories they belong to."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, insert
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from bot.match.prefilter import search_text
from bot.types import Item as ItemRecord
from bot.types import Match, Outlet, StoredItem
from store.feeds import provenance_columns, where_provenance, with_feed
from store.models import Item, ItemTopic, Story, Topic
from store.search import matches_by_item, stored_page

# Bulk writes go to the tables (Core), not through the ORM's bulk layer: same SQL, a
# fraction of the Python per row (bench/ingest_bench.py).
_STORY = Story.__table__  # type: ignore[attr-defined]
_ITEM = Item.__table__  # type: ignore[attr-defined]
_ITEM_TOPIC = ItemTopic.__table__  # type: ignore[attr-defined]
# Listings never read the search index's words (store.search): the biggest column.
_NO_WORDS = defer(Item.search_text)  # type: ignore[arg-type]
# ``add_items``'s story for an unmatched item: none. Story ids start at 1.
NO_STORY = 0


def known_identities(session: Session, feed_id: int, identities: Iterable[str]) -> set[str]:
    wanted = list(set(identities))
    if not wanted:
        return set()
    found: set[str] = set()
    # Chunked IN lists: SQLite caps bound parameters (32,766 since 3.32).
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            session.exec(
                select(Item.identity).where(Item.feed_id == feed_id, col(Item.identity).in_(chunk))
            )
        )
    return found


def recent_published(session: Session, feed_id: int, limit: int = 20) -> list[datetime]:
    """Publication times of a feed's newest items (for its adaptive poll interval)."""
    return recent_published_by_feed(session, [feed_id], limit)[feed_id]


def recent_published_by_feed(
    session: Session, feed_ids: Sequence[int], limit: int = 20
) -> dict[int, list[datetime]]:
    """``recent_published`` for many feeds in one statement (a window per feed)."""
    if not feed_ids:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=col(Item.feed_id), order_by=col(Item.published).desc())
        .label("rank")
    )
    newest = (
        select(col(Item.feed_id), col(Item.published), rank)
        .where(col(Item.feed_id).in_(feed_ids), col(Item.published).is_not(None))
        .subquery()
    )
    found: dict[int, list[datetime]] = {feed_id: [] for feed_id in feed_ids}
    rows = session.execute(
        select(newest.c.feed_id, newest.c.published)
        .where(newest.c.rank <= limit)
        .order_by(newest.c.feed_id, newest.c.published.desc())
    )
    for feed_id, published in rows:
        found[feed_id].append(published)
    return found


def add_item(
    session: Session,
    feed_id: int | None,
    source: str,
    item: ItemRecord,
    now: datetime,
    *,
    story_id: int | None = None,
) -> Item:
    """Store one new item, in ``story_id`` or as a story of its own."""
    if story_id is None:
        story = Story(created_at=now)
        session.add(story)
        session.flush()
        story_id = story.id
    row = Item(
        feed_id=feed_id,
        identity=item.identity,
        source=source,
        title=item.title,
        link=item.link,
        summary=item.summary,
        author=item.author,
        language=item.language,
        published=item.published,
        fetched_at=now,
        story_id=story_id,
    )
    session.add(row)
    session.flush()
    return row


def add_items(
    session: Session,
    feed_id: int | None,
    source: str,
    records: Sequence[ItemRecord],
    stories: Sequence[int | None],
    now: datetime,
) -> list[tuple[int, int | None]]:
    """Store a feed's new items in a few statements; returns (item id, story id) each.

    ``stories[i]`` is an existing story id (> 0), a placeholder (< 0) shared by items of
    this batch that form a new story together, None (a story of its own), or
    ``NO_STORY``: an unmatched item, most of a feed, is in no story (issue 14: a row
    for each cost a table as big as ``items`` that nothing reads). Bulk Core inserts
    with ordered RETURNING: ORM objects cost ~0.1 ms each, which at hundreds of items
    per poll would cost more than parsing the feed.
    """
    if not records:
        return []
    placeholders: dict[int, int] = {}
    needed = [key for key in dict.fromkeys(k for k in stories if k is not None and k < 0)]
    alone = sum(1 for k in stories if k is None)
    fresh_ids: list[int] = []
    if needed or alone:
        fresh_ids = list(
            session.scalars(
                insert(_STORY).returning(_STORY.c.id, sort_by_parameter_order=True),
                [{"created_at": now}] * (len(needed) + alone),
            )
        )
    placeholders = dict(zip(needed, fresh_ids[: len(needed)], strict=True))
    spare = iter(fresh_ids[len(needed) :])
    resolved: list[int | None] = []
    for key in stories:
        if key is None:
            resolved.append(next(spare))
        elif key == NO_STORY:
            resolved.append(None)
        else:
            resolved.append(placeholders[key] if key < 0 else key)
    rows = [
        {
            "feed_id": feed_id,
            "identity": r.identity,
            "source": r.outlet or source,
            "title": r.title,
            "link": r.link,
            "summary": r.summary,
            "author": r.author,
            "language": r.language,
            "published": r.published,
            "fetched_at": now,
            "story_id": story,
            "search_text": r.words if r.words is not None else search_text(r.title, r.summary),
        }
        for r, story in zip(records, resolved, strict=True)
    ]
    returning = insert(_ITEM).returning(_ITEM.c.id, sort_by_parameter_order=True)
    ids = list(session.scalars(returning, rows))
    return list(zip(ids, resolved, strict=True))


def add_matches(
    session: Session, rows: Sequence[tuple[int, Match]], topic_ids: dict[str, int]
) -> None:
    """Record why items matched, in one statement."""
    values = [
        {
            "item_id": item_id,
            "topic_id": topic_ids[match.slug],
            "terms": json.dumps(list(match.terms), ensure_ascii=False),
            "evidence": match.evidence,
        }
        for item_id, match in rows
        if match.slug in topic_ids
    ]
    if values:
        session.execute(insert(_ITEM_TOPIC), values)


def record_matches(
    session: Session, item_id: int, matches: Sequence[Match], topic_ids: dict[str, int]
) -> None:
    for match in matches:
        topic_id = topic_ids.get(match.slug)
        if topic_id is None:
            continue
        session.add(
            ItemTopic(
                item_id=item_id,
                topic_id=topic_id,
                terms=json.dumps(list(match.terms), ensure_ascii=False),
                evidence=match.evidence,
            )
        )
    session.flush()


def item_terms(session: Session, item_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(topic slugs, matched terms) of one item, in topic order."""
    return matches_by_item(session, [item_id]).get(item_id, ((), ()))


def list_items(
    session: Session,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    matched_only: bool = False,
    country: str | None = None,
    kind: str | None = None,
) -> list[StoredItem]:
    """Newest first; ``country``/``kind``: only the items of who is speaking
    (``store.feeds``). Searching is ``bot.ingest.stored_rules.search``: the rule
    language, not SQL LIKE."""
    query = select(Item).order_by(col(Item.published).desc(), col(Item.id).desc())
    query = where_provenance(query, country, kind)
    if since is not None:
        query = query.where(col(Item.published) >= since)
    if topic is not None:
        query = query.where(
            col(Item.id).in_(
                select(ItemTopic.item_id)
                .join(Topic, col(Topic.id) == col(ItemTopic.topic_id))
                .where(Topic.slug == topic)
            )
        )
    elif matched_only:
        query = query.where(col(Item.id).in_(select(ItemTopic.item_id)))
    return stored_page(session, list(session.exec(query.options(_NO_WORDS).limit(limit))))


def get_item(session: Session, item_id: int) -> StoredItem | None:
    """One stored item, or None."""
    row = session.get(Item, item_id)
    return None if row is None else stored_page(session, [row])[0]


def story_members(session: Session, story_id: int) -> list[StoredItem]:
    """The items of one story, first published first."""
    rows = session.exec(
        select(Item)
        .options(_NO_WORDS)
        .where(Item.story_id == story_id)
        .order_by(col(Item.published), col(Item.id))
    )
    return stored_page(session, list(rows))


def item_evidence(session: Session, item_id: int) -> list[tuple[str, list[str], str]]:
    """(topic slug, matched terms, linking sentence) of one item, in topic order."""
    rows = session.exec(
        select(Topic.slug, ItemTopic.terms, ItemTopic.evidence)
        .join(ItemTopic, col(ItemTopic.topic_id) == col(Topic.id))
        .where(ItemTopic.item_id == item_id)
        .order_by(col(Topic.position))
    ).all()
    return [(slug, list(json.loads(terms)), evidence) for slug, terms, evidence in rows]


def count_items(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Item)).one())


def count_since(session: Session, since: datetime) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Item).where(col(Item.fetched_at) >= since)
        ).one()
    )


def count_by_topic_since(session: Session, since: datetime) -> dict[str, int]:
    """Items matched per topic slug, fetched since ``since``."""
    rows = session.exec(
        select(Topic.slug, func.count())
        .join(ItemTopic, col(ItemTopic.topic_id) == col(Topic.id))
        .join(Item, col(Item.id) == col(ItemTopic.item_id))
        .where(col(Item.fetched_at) >= since)
        .group_by(col(Topic.slug))
    ).all()
    return {slug: int(n) for slug, n in rows}


def recent_items(
    session: Session,
    *,
    limit: int = 2000,
    matched_only: bool = True,
    topics: Sequence[str] | None = None,
    country: str | None = None,
    kind: str | None = None,
) -> list[StoredItem]:
    """The newest items (matched ones by default), optionally only of ``topics`` and of
    ``country``/``kind`` (who is speaking, ``store.feeds``)."""
    query = select(Item).order_by(col(Item.published).desc(), col(Item.id).desc())
    query = where_provenance(query, country, kind)
    if topics is not None:
        query = query.where(
            col(Item.id).in_(
                select(ItemTopic.item_id)
                .join(Topic, col(Topic.id) == col(ItemTopic.topic_id))
                .where(col(Topic.slug).in_(list(topics)))
            )
        )
    elif matched_only:
        query = query.where(col(Item.id).in_(select(ItemTopic.item_id)))
    return stored_page(session, list(session.exec(query.options(_NO_WORDS).limit(limit))))


def story_outlets(session: Session, story_ids: Collection[int]) -> dict[int, list[Outlet]]:
    """The distinct outlets of each story (``stories.sources_of``'s names, first reporter
    first) with who they are (``store.feeds.provenance_columns``); a story without
    named sources is absent. One query per 500 stories."""
    found: dict[int, list[Outlet]] = {}
    wanted = sorted(set(story_ids))
    country, kind = provenance_columns()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            with_feed(select(col(Item.story_id), col(Item.source), country, kind))
            .where(col(Item.story_id).in_(chunk))
            .order_by(col(Item.story_id), col(Item.published), col(Item.id))
        )
        for story_id, name, code, what in rows:
            if story_id is None or not name:
                continue
            outlets = found.setdefault(story_id, [])
            if all(outlet.name != name for outlet in outlets):
                outlets.append(Outlet(name, code, what))
    return found
