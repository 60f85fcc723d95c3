"""Everything pure about one fetched feed, decided before the store is touched.

``prepare`` parses the body, normalises every entry (one item per identity, the first
kept), matches each item and fingerprints the matched ones for story grouping: the
CPU-bound stages of a poll. The pipeline runs it in a
thread for a small poll and, for a big one, in a pool of worker processes sized to the
machine (``MCWATCH_WORKERS``), so that parsing and matching use every core while the main
process fetches and writes. Both paths call this one function on the same inputs, so they
store the same items, matches and stories (``tests/test_pool.py``).

A worker compiles its own matcher once, from the rules and lexicon it is started with
(``start_worker``): a compiled matcher holds automata that are not pickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.errors import ParseError
from bot.ingest.dedupe import Fingerprint, fingerprint
from bot.ingest.normalize import names_outlet_in_title, normalize_entry
from bot.match import Lexicon, Matcher, compile_rules
from bot.match.prefilter import search_text
from bot.text import failure
from bot.types import Item, Match, MatchInput, ParsedFeed, TopicRule


@dataclass(frozen=True, slots=True)
class Prepared:
    """One feed's items and their matches (``feed`` keeps the feed's metadata and
    scheduling hints; its raw entries are dropped once normalised)."""

    error: str | None  # a bot.text.failure: why the body is not a feed
    feed: ParsedFeed | None
    entries: int
    items: tuple[Item, ...]
    matches: tuple[tuple[Match, ...], ...]
    # what story grouping compares, for the matched items (None for the others)
    fingerprints: tuple[Fingerprint | None, ...] = ()


def prepare(
    body: bytes,
    url: str,
    feed_language: str | None,
    now: datetime,
    matcher: Matcher,
    content_type: str | None = None,
) -> Prepared:
    """``content_type``: the server's Content-Type (``FetchResult.content_type``), which
    the parser reads to tell a JSON Feed from an XML one."""
    # Imported at the first feed, not with the pipeline: feedparser is a fifth of what
    # `run --once` loads, and a tick with nothing due parses nothing (issue 11).
    from bot.ingest.parse import parse_feed

    try:
        parsed = parse_feed(body, url=url, content_type=content_type)
    except ParseError as exc:
        return Prepared(failure(exc.key, **exc.fields), None, 0, (), ())
    unique: dict[str, Item] = {}
    outlet_in_title = names_outlet_in_title(url)  # Google News: credit the outlet it names
    for raw in parsed.entries:
        item = normalize_entry(
            raw,
            now=now,
            feed_language=feed_language or parsed.language,
            outlet_in_title=outlet_in_title,
        )
        unique.setdefault(item.identity, item)
    # The index's words here, not in the writer: parallel in the workers, and off the
    # one write transaction (≈0.08 ms an item).
    items = tuple(replace(i, words=search_text(i.title, i.summary)) for i in unique.values())
    matches = tuple(matcher.match(MatchInput(i.title, i.summary, i.language)) for i in items)
    fingerprints = tuple(
        fingerprint(0, None, i.title, i.summary, i.language, i.published) if found else None
        for i, found in zip(items, matches, strict=True)
    )
    return Prepared(
        None, replace(parsed, entries=()), len(parsed.entries), items, matches, fingerprints
    )


_worker_matcher: Matcher | None = None


def start_worker(rules: Sequence[TopicRule], lexicon: dict[str, Any]) -> None:
    """A worker process's initializer: compile the matcher it will use."""
    global _worker_matcher
    _worker_matcher = compile_rules(list(rules), Lexicon.from_mapping(lexicon))


def prepare_in_worker(
    body: bytes,
    url: str,
    feed_language: str | None,
    now: datetime,
    content_type: str | None = None,
) -> Prepared:
    assert _worker_matcher is not None, "start_worker was not run in this process"
    return prepare(body, url, feed_language, now, _worker_matcher, content_type)
