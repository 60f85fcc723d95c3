"""The stored rules as a matcher: lexicon and topics read from the store, compiled once.

Used by the pipeline (every poll), the CLI (``rules test``, ``feeds check``, …) and the
bot's ``/search``. Compiling the nine seeded topics takes milliseconds.
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Engine

from bot.match import Lexicon, Matcher, compile_rules, validate_rule
from bot.types import MatchInput, StoredItem, TopicRule
from store import items, topics
from store.db import transaction


def stored_lexicon(engine: Engine) -> Lexicon:
    with transaction(engine) as session:
        return Lexicon.from_mapping(topics.load_lexicon(session) or {})


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


def query_matcher(engine: Engine, query: str, *, gate: bool = True) -> Matcher:
    """One ad-hoc query (backtests, searches); ``gate=False`` drops the Mali–China gate,
    for searching stored items freely. Raises RuleSyntaxError with the column."""
    lexicon = stored_lexicon(engine)
    validate_rule(query, lexicon)
    if not gate:
        lexicon = Lexicon(aliases=lexicon.aliases)
    return compile_rules([TopicRule(slug="query", query=query, name=query)], lexicon)


def search(
    engine: Engine,
    query: str,
    *,
    since: datetime | None = None,
    window: int,
    limit: int,
    matched_only: bool = False,
) -> list[StoredItem]:
    """Stored items matching ``query`` (the rule language, without the Mali–China gate),
    newest first: the newest ``window`` items since ``since`` (only those a topic
    matched, with ``matched_only``) are read, at most ``limit`` returned. ``items
    search`` and ``/search`` both ask here.

    Raises RuleSyntaxError with the column."""
    matcher = query_matcher(engine, query, gate=False)
    with transaction(engine) as session:
        rows = items.list_items(session, since=since, limit=window, matched_only=matched_only)
    hits = (row for row in rows if matcher.match(MatchInput(row.title, row.summary, row.language)))
    return list(islice(hits, limit))
