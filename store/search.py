"""Search candidates: the items a rule's prefilter lets through, newest first, in pages.

``bot.match.prefilter`` turns a rule into a condition on an item's words that every
item the matcher accepts satisfies; this module asks the database's full-text index
for the items that satisfy it, and the caller runs the exact matcher on them. Why the
index is built the way it is (migration 0006):

- the words are folded by Python (``items.search_text``, the matcher's own words), not
  by the database: PostgreSQL's parser, its ``simple`` dictionary and ``unaccent``
  split and fold by rules of their own (``œ``, ``ß``, apostrophes, French elision,
  letters the locale does not know), and one word they disagree on would be an item
  the prefilter drops and a full scan finds;
- SQLite: FTS5 with the ``ascii`` tokenizer, which splits on ASCII punctuation and
  spaces only (the folded words hold none) and keeps every non-ASCII character inside
  its word, so one word is one token in the index and in the query; ``detail=none``:
  positions are the matcher's business, and the index is a fraction of the size;
- PostgreSQL: the words cast to ``tsvector`` as written, queried with a ``::tsquery``
  literal (not ``to_tsquery``, which would parse and fold them again), under GIN.

Pages are read by keyset on (published, id), newest first: memory holds one page, and
a search that has its hits after the first page reads no more. The topics of a page
come in one query (``stored_page``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, cast, column, func, text, tuple_
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from bot.match.prefilter import (
    NOTHING,
    AllOf,
    AnyOf,
    Everything,
    Filter,
    Word,
    render_fts5,
    render_tsquery,
    search_text,
)
from bot.types import StoredItem
from store.feeds import item_provenance
from store.models import Item, ItemTopic, Topic

FIRST_PAGE = 100  # a search shows 5–20 hits: most are found in the first page
MAX_PAGE = 1000  # rows read at once after the first page (SQLite binds ≤ 32,766 ids)
_REINDEX_BATCH = 2000


def _text_condition(session: Session, condition: Word | AllOf | AnyOf) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        query = cast(bindparam("tsquery", render_tsquery(condition)), TSQUERY)
        return col(Item.search_text).op("@@")(query)
    fts = text("SELECT rowid FROM items_search WHERE items_search MATCH :fts").bindparams(
        fts=render_fts5(condition)
    )
    return col(Item.id).in_(fts.columns(column("rowid")))


def candidates(
    session: Session,
    condition: Filter,
    *,
    since: datetime | None = None,
    matched_only: bool = False,
    first_page: int | None = FIRST_PAGE,
) -> Iterator[list[StoredItem]]:
    """Pages of the items ``condition`` lets through (``Everything``: every item),
    published since ``since`` (only those a topic matched, with ``matched_only``),
    newest first.

    The first page (``first_page`` rows) is one query: a search usually ends there
    (None: no first page, for a caller that reads every candidate, such as a backtest).
    After it, the index is asked once more, for the keys of every remaining candidate
    (ids only, newest first: bytes per candidate, where rows are kilobytes), and the
    rows follow ``MAX_PAGE`` at a time by id. Asking the index again for every page
    would evaluate the whole condition (every word of the gate's sides) each time.
    Without a condition there is no index to ask: pages go by keyset on the table.
    """
    if condition == NOTHING:
        return
    where: list[Any] = []
    if not isinstance(condition, Everything):
        where.append(_text_condition(session, condition))
    if since is not None:
        where.append(col(Item.published) >= since)
    if matched_only:
        where.append(col(Item.id).in_(select(ItemTopic.item_id)))
    newest = (col(Item.published).desc(), col(Item.id).desc())
    without_words = defer(Item.search_text)  # type: ignore[arg-type]
    rows_query = select(Item).options(without_words).where(*where).order_by(*newest)
    if first_page is None and not isinstance(condition, Everything):
        yield from _by_keys(session, select(Item.id).where(*where).order_by(*newest))
        return
    size = first_page or MAX_PAGE
    rows = list(session.exec(rows_query.limit(size)))
    while rows:
        yield stored_page(session, rows)
        if len(rows) < size:
            return
        last = rows[-1]
        assert last.published is not None and last.id is not None
        after = tuple_(col(Item.published), col(Item.id)) < tuple_(last.published, last.id)
        if not isinstance(condition, Everything):
            yield from _by_keys(session, select(Item.id).where(*where, after).order_by(*newest))
            return
        rows = list(session.exec(rows_query.where(after).limit(MAX_PAGE)))
        size = MAX_PAGE


def _by_keys(session: Session, keys: Any) -> Iterator[list[StoredItem]]:
    """The rows of the ids ``keys`` selects, in its order, ``MAX_PAGE`` at a time."""
    ids = list(session.exec(keys))
    without_words = defer(Item.search_text)  # type: ignore[arg-type]
    for start in range(0, len(ids), MAX_PAGE):
        chunk = ids[start : start + MAX_PAGE]
        query = select(Item).options(without_words).where(col(Item.id).in_(chunk))
        found = {row.id: row for row in session.exec(query)}
        yield stored_page(session, [found[i] for i in chunk if i in found])


def count_since(session: Session, since: datetime | None) -> int:
    """Items published since ``since`` (all of them with None): a backtest's window."""
    query = select(func.count()).select_from(Item)
    if since is not None:
        query = query.where(col(Item.published) >= since)
    return int(session.exec(query).one())


def matches_by_item(
    session: Session, item_ids: Collection[int]
) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
    """``item_terms`` of many items in one query: (topic slugs, matched terms — once
    each), in topic order; items that matched nothing are absent."""
    if not item_ids:
        return {}
    rows = session.exec(
        select(ItemTopic.item_id, Topic.slug, ItemTopic.terms)
        .join(Topic, col(Topic.id) == col(ItemTopic.topic_id))
        .where(col(ItemTopic.item_id).in_(list(item_ids)))
        .order_by(col(ItemTopic.item_id), col(Topic.position))
    ).all()
    slugs: dict[int, list[str]] = {}
    terms: dict[int, list[str]] = {}
    for item_id, slug, raw in rows:
        slugs.setdefault(item_id, []).append(slug)
        seen = terms.setdefault(item_id, [])
        for term in json.loads(raw):
            if term not in seen:
                seen.append(term)
    return {item_id: (tuple(slugs[item_id]), tuple(terms[item_id])) for item_id in slugs}


def topics_by_item(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The topic slugs of each item of ``ids`` (in topic order), in one query."""
    found = matches_by_item(session, ids)
    return {item_id: found[item_id][0] if item_id in found else () for item_id in ids}

def stored_page(session: Session, rows: Sequence[Item]) -> list[StoredItem]:
    """Rows of ``items`` as ``StoredItem``s, their topics read in one query and who is
    speaking in another (``store.feeds.item_provenance``)."""
    ids = [row.id for row in rows if row.id is not None]
    topics = topics_by_item(session, ids)
    provenance = item_provenance(session, ids)
    result: list[StoredItem] = []
    for row in rows:
        assert row.id is not None and row.published is not None
        country, kind = provenance.get(row.id, (None, None))
        result.append(
            StoredItem(
                id=row.id,
                feed_id=row.feed_id,
                source=row.source,
                title=row.title,
                link=row.link,
                summary=row.summary,
                published=row.published,
                language=row.language,
                topics=topics[row.id],
                story_id=row.story_id,
                country=country,
                kind=kind,
            )
        )
    return result


def reindex(connection: Connection, batch: int = _REINDEX_BATCH) -> int:
    """Recompute ``items.search_text`` for every item, in batches by id (migration 0006;
    again for any migration that changes what ``text.py`` calls a word). SQLite's
    triggers carry the new words into ``items_search``. Returns the items rewritten."""
    postgres = connection.dialect.name == "postgresql"
    select_batch = text(
        "SELECT id, title, summary FROM items WHERE id > :after ORDER BY id LIMIT :n"
    )
    if postgres:
        update = text(
            "UPDATE items SET search_text = CAST(u.words AS tsvector) "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:texts AS text[])) AS u(id, words) "
            "WHERE items.id = u.id"
        )
    else:
        update = text("UPDATE items SET search_text = :words WHERE id = :id")
    done = 0
    after = 0
    while True:
        rows = connection.execute(select_batch, {"after": after, "n": batch}).all()
        if not rows:
            return done
        values = [(row.id, search_text(row.title, row.summary or "")) for row in rows]
        if postgres:
            ids = [item_id for item_id, _ in values]
            connection.execute(update, {"ids": ids, "texts": [words for _, words in values]})
        else:
            connection.execute(update, [{"id": i, "words": w} for i, w in values])
        done += len(rows)
        after = rows[-1].id
