"""Every XML feed the fast path declines: RSS 0.9x–2.0, RSS 1.0, Atom, CDF, and the
malformed ones feedparser's loose parser still reads.

feedparser's result (its dict of dicts, keys of its own naming) is read here and only
here: what leaves this module is a ``ParsedFeed``. ``parse_with_feedparser`` is also the
reference the fast path is held to (tests/test_parse_fast.py). Bodies are always given
as bytes: a string could be taken by feedparser for a path or a URL.
"""

from __future__ import annotations

from typing import Any

import feedparser

from bot.errors import ParseError
from bot.ingest.parse.fields import (
    clean_text,
    from_struct_time,
    language_code,
    positive_int,
    update_period_seconds,
)
from bot.ingest.parse.guard import neutralise
from bot.types import ParsedFeed, RawEntry


def parse_with_feedparser(body: bytes, *, url: str = "") -> ParsedFeed:
    """``bot.ingest.parse.parse_feed`` for XML, without the fast path (the reference)."""
    if not body.strip():
        raise ParseError(key="parse_empty")
    return parse_neutralised(neutralise(body), original=body, url=url)


def parse_neutralised(safe: bytes, *, original: bytes, url: str) -> ParsedFeed:
    """``safe`` (``original`` after ``neutralise``) → ParsedFeed, or ParseError when
    feedparser finds no feed in it. ``original`` only serves to word the error."""
    # feedparser's HTML sanitiser and relative-URI resolver are two thirds of its time
    # (bench: 2.7 → 0.9 ms per item) and serve readers that display feed HTML. mcwatch
    # never does: normalize.html_to_text keeps only visible text (scripts dropped) and
    # render escapes everything. Entry links are still resolved against the feed URL.
    # The Content-Type header is not given to feedparser: its RFC 3023 rules would read
    # a feed served as text/xml without a charset as US-ASCII; the XML declaration decides.
    try:
        parsed: Any = feedparser.parse(
            safe,
            response_headers={"content-location": url},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as exc:
        # feedparser's own failures on hostile bytes: the world's, not ours. One feed's
        # health record, never an exception that ends the poll of every other feed.
        raise ParseError(key="parse_parser_failed", kind=type(exc).__name__) from exc
    version = parsed.get("version") or ""
    entries = parsed.get("entries") or []
    if not version and not entries:
        reason = parsed.get("bozo_exception")
        looks_html = original.lstrip()[:200].lower().startswith((b"<!doctype html", b"<html"))
        if looks_html:
            raise ParseError(key="parse_html_page")
        raise _not_a_feed(reason)
    feed = parsed.get("feed", {})
    return ParsedFeed(
        title=clean_text(feed.get("title")),
        language=language_code(feed.get("language")),
        entries=tuple(_entry(entry, feed) for entry in entries),
        ttl_minutes=positive_int(feed.get("ttl")),
        update_period_seconds=update_period_seconds(
            feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")
        ),
        bozo=str(parsed.get("bozo_exception")) if parsed.get("bozo") else None,
    )


def _not_a_feed(reason: Exception | None) -> ParseError:
    """feedparser's reason in a reader's words: expat says '<unknown>:2:0: not
    well-formed (invalid token)'; we say 'not a feed (XML error at line 2: not
    well-formed …)'."""
    if reason is None:
        return ParseError(key="parse_not_feed")
    line = getattr(reason, "getLineNumber", None)
    message = getattr(reason, "getMessage", None)
    if callable(line) and callable(message):
        return ParseError(key="parse_xml_error", line=int(line()), problem=str(message()))
    return ParseError(key="parse_not_feed_because", reason=str(reason))


def _entry(entry: Any, feed: Any) -> RawEntry:
    summary = ""
    contents = entry.get("content") or []
    if entry.get("summary"):
        summary = entry.get("summary")
    elif contents:
        summary = contents[0].get("value", "")
    return RawEntry(
        guid=clean_text(entry.get("id")) or None,
        link=clean_text(entry.get("link")) or None,
        title=clean_text(entry.get("title")),
        summary_html=summary or "",
        published=from_struct_time(entry.get("published_parsed") or entry.get("updated_parsed")),
        language=language_code(
            (entry.get("title_detail") or {}).get("language") or feed.get("language")
        ),
        author=clean_text(entry.get("author")) or None,
        outlet=clean_text((entry.get("source") or {}).get("title")) or None,
    )
