"""The stored rules as a matcher: lexicon and topics read from the store, compiled once.

Used by the pipeline (every poll), the CLI (``rules test``, ``feeds check``, …) and the
bot's ``/search``. Compiling the nine seeded topics takes milliseconds. Searches and
backtests read only the candidates of the full-text index (``matching_pages``).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine

from bot.errors import RuleSyntaxError
from bot.match import Lexicon, Matcher, compile_rules, validate_rule
from bot.match.prefilter import prefilter
from bot.types import MatchInput, StoredItem, TopicRule
from bot.watches import rule_name
from store import topics
from store.db import transaction
from store.search import FIRST_PAGE, candidates


def stored_lexicon(engine: Engine) -> Lexicon:
    return _parsed_lexicon(_stored_lexicon_text(engine), True)


def _stored_lexicon_text(engine: Engine) -> str:
    with transaction(engine) as session:
        return topics.get_meta(session, topics.LEXICON_KEY) or "{}"


@lru_cache(maxsize=8)
def _parsed_lexicon(stored: str, gate: bool) -> Lexicon:
    """Parsing the seeded lexicon (≈5,000 terms) takes ~100 ms, a third of what a search
    may take (issue 14): a lexicon is immutable, so one parse serves every search until
    the stored text changes."""
    if not gate:  # the alias sets of the one parse, not a second parse
        return Lexicon(aliases=_parsed_lexicon(stored, True).aliases)
    return Lexicon.from_mapping(json.loads(stored))


def stored_rules(
    engine: Engine, *, include_disabled: bool = False
) -> tuple[list[TopicRule], dict[str, Any]]:
    """The enabled topics' (or every topic's) rules and the stored lexicon, as data: what
    a worker process compiles its own matcher from."""
    with transaction(engine) as session:
        rows = topics.list_topics(session, enabled_only=not include_disabled)
        rules = [TopicRule(slug=t.slug, query=t.query, name=t.name) for t in rows]
        return rules, topics.load_lexicon(session) or {}


def stored_matcher(engine: Engine, *, include_disabled: bool = False) -> Matcher:
    """Every enabled topic (or every topic) of the store, with the stored lexicon."""
    rules, lexicon = stored_rules(engine, include_disabled=include_disabled)
    return compile_rules(rules, Lexicon.from_mapping(lexicon))


def _query_lexicon(engine: Engine, query: str, *, gate: bool) -> Lexicon:
    """The lexicon an ad-hoc query compiles with; ``gate=False``: the alias sets alone,
    without the Mali–China gate or the entity table."""
    stored = _stored_lexicon_text(engine)
    validate_rule(query, _parsed_lexicon(stored, True))
    return _parsed_lexicon(stored, gate)


def _compile_query(lexicon: Lexicon, query: str) -> Matcher:
    return compile_rules([TopicRule(slug="query", query=query, name=query)], lexicon)


def query_matcher(engine: Engine, query: str, *, gate: bool = True) -> Matcher:
    """One ad-hoc query (backtests, searches); ``gate=False`` drops the Mali–China gate,
    for searching stored items freely. Raises RuleSyntaxError with the column."""
    return _compile_query(_query_lexicon(engine, query, gate=gate), query)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: how many candidates the index let through, and the hits."""

    candidates: int
    hits: list[StoredItem]


def matching_pages(
    engine: Engine,
    query: str,
    *,
    gate: bool,
    since: datetime | None = None,
    matched_only: bool = False,
    every: bool = False,
) -> Generator[Page, None, None]:
    """Every stored item published since ``since`` that ``query`` matches (with or
    without the Mali–China gate; only items a topic matched, with ``matched_only``),
    newest first, a page at a time: the database's full-text index proposes the
    candidates (``bot.match.prefilter``: a superset of the matches), the matcher
    decides. Exactly what a scan of every item would find. ``every``: the caller reads
    every page (a backtest), so no small first page is read apart. Raises
    RuleSyntaxError."""
    lexicon = _query_lexicon(engine, query, gate=gate)
    matcher = _compile_query(lexicon, query)
    condition = prefilter(query, lexicon)
    with transaction(engine) as session:
        first_page = None if every else FIRST_PAGE
        pages = candidates(
            session, condition, since=since, matched_only=matched_only, first_page=first_page
        )
        for page in pages:
            hits = [i for i in page if matcher.matches(MatchInput(i.title, i.summary, i.language))]
            yield Page(len(page), hits)


def search(
    engine: Engine,
    query: str,
    *,
    since: datetime | None = None,
    limit: int,
    matched_only: bool = False,
) -> list[StoredItem]:
    """Stored items matching ``query`` (the rule language, without the Mali–China gate),
    newest first, at most ``limit``, since ``since`` (only those a topic matched, with
    ``matched_only``). ``items search`` and ``/search`` both ask here.

    Raises RuleSyntaxError with the column."""
    found: list[StoredItem] = []
    pages = matching_pages(engine, query, gate=False, since=since, matched_only=matched_only)
    with closing(pages):  # ends the read transaction as soon as enough was found
        for page in pages:
            found += page.hits
            if len(found) >= limit:
                break
    return found[:limit]


def watch_stories(engine: Engine, query: str, since: datetime) -> int:
    """How many stories a watch would have found since ``since`` (RuleSyntaxError, with
    the column, for a query that is no rule): items the topics
    matched (about Mali and China) that the query matches, counted once per story."""
    stories: set[int] = set()
    for page in matching_pages(
        engine, query, gate=False, since=since, matched_only=True, every=True
    ):
        stories.update(
            item.story_id if item.story_id is not None else -item.id for item in page.hits
        )
    return len(stories)


@lru_cache(maxsize=4)
def watch_matcher(lexicon_text: str, queries: tuple[str, ...]) -> Matcher:
    """Every reader's watches as one matcher, one pass over an item whatever their
    number: each distinct query (``bot.watches.distinct_queries``) is a rule named
    ``bot.watches.rule_name(index)``, without the Mali–China gate, which the topics
    already passed. Compiled again only when a watch or the lexicon changes, not per
    poll nor per item."""
    lexicon = _parsed_lexicon(lexicon_text, False)
    checked = _parsed_lexicon(lexicon_text, True)
    valid = []
    for index, query in enumerate(queries):
        try:  # checked when added; an alias set removed since may have broken it
            validate_rule(query, checked)
        except RuleSyntaxError:
            continue
        valid.append(TopicRule(slug=rule_name(index), query=query, name=query))
    return compile_rules(valid, lexicon)


def stored_lexicon_text(session: Any) -> str:
    """The stored lexicon's text, read in the caller's transaction (``watch_matcher``'s
    key)."""
    return topics.get_meta(session, topics.LEXICON_KEY) or "{}"


def entity_names(lexicon_text: str) -> tuple[str, ...]:
    """The names of the stored lexicon's entity table (first mentions, ``bot.mentions``)."""
    return tuple(entity.name for entity in _parsed_lexicon(lexicon_text, True).entities)
