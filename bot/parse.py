"""Parse feed bytes with feedparser, after neutralising what can hurt us.

feedparser expands DOCTYPE entity declarations itself: one 10 KB entity used 10,000
times becomes 100 MB of text (the "billion laughs" family). A feed has no use for an
internal DTD, so the DOCTYPE is removed before parsing. Bodies are always given as
bytes: a string could be taken by feedparser for a path or a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser

from bot.errors import ParseError
from bot.fastparse import parse_rss
from bot.types import ParsedFeed, RawEntry

# <!DOCTYPE name [ ...internal subset... ]> or <!DOCTYPE name PUBLIC "..." "...">
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)
_ENTITY_DECL = re.compile(rb"<!ENTITY[^>]*>", re.IGNORECASE | re.DOTALL)


# A character reference to no character (&#xFFFFFF;, &#0;, a lone surrogate) makes
# feedparser's fallback parser raise ValueError from chr(): it becomes U+FFFD first.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")
# Dates before web feeds existed are a broken clock or a placeholder (0001-01-01).
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)


def _valid_ref(match: re.Match[bytes]) -> bytes:
    hexadecimal, decimal = match.groups()
    point = int(hexadecimal, 16) if hexadecimal else int(decimal)
    if point == 0 or point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
        return b"&#xFFFD;"
    return match.group(0)


def neutralise(body: bytes) -> bytes:
    """Drop every DOCTYPE and ENTITY declaration, wherever it is.

    Not just in a first block: comments may precede the DOCTYPE, and a 70 KB comment
    carried a 100 MB entity bomb past a 64 KB prefix scan (tests/test_parse.py). A
    declaration elsewhere can only be text in CDATA (``<!DOCTYPE html>``): dropping
    it costs nothing a feed reader shows.
    """
    if b"&#" in body:
        body = _CHAR_REF.sub(_valid_ref, body)
    if b"<!" not in body:
        return body
    return _ENTITY_DECL.sub(b"", _DOCTYPE.sub(b"", body))


def parse_feed(body: bytes, *, url: str = "") -> ParsedFeed:
    """Bytes → ParsedFeed. Raises ParseError when the body is not a feed at all.

    Well-formed UTF-8 RSS 2.0 takes the fast path (``bot.fastparse``), which gives the
    same result as feedparser; everything else is feedparser's.
    """
    if not body.strip():
        raise ParseError("empty body")
    safe = neutralise(body)
    fast = parse_rss(safe, url=url)
    if fast is not None:
        return fast
    return _with_feedparser(safe, body, url)


def parse_with_feedparser(body: bytes, *, url: str = "") -> ParsedFeed:
    """``parse_feed`` without the fast path (the reference the fast path is held to)."""
    if not body.strip():
        raise ParseError("empty body")
    return _with_feedparser(neutralise(body), body, url)


def _with_feedparser(safe: bytes, body: bytes, url: str) -> ParsedFeed:
    # feedparser's HTML sanitiser and relative-URI resolver are two thirds of its time
    # (bench: 2.7 → 0.9 ms per item) and serve readers that display feed HTML. mcwatch
    # never does: normalize.html_to_text keeps only visible text (scripts dropped) and
    # render escapes everything. Entry links are still resolved against the feed URL.
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
        raise ParseError(f"not a feed (the parser failed: {type(exc).__name__})") from exc
    version = parsed.get("version") or ""
    entries = parsed.get("entries") or []
    if not version and not entries:
        reason = parsed.get("bozo_exception")
        looks_html = body.lstrip()[:200].lower().startswith((b"<!doctype html", b"<html"))
        if looks_html:
            raise ParseError("an HTML page, not a feed")
        raise ParseError(f"not a feed ({_describe(reason)})" if reason else "not a feed")
    bozo = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    return to_parsed_feed(parsed.get("feed", {}), entries, bozo=bozo)


def to_parsed_feed(
    feed: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], *, bozo: str | None = None
) -> ParsedFeed:
    """feedparser-shaped ``feed`` and ``entries`` (its keys) → ParsedFeed."""
    return ParsedFeed(
        title=_text(feed.get("title")),
        language=_lang(feed.get("language")),
        entries=tuple(_entry(e, feed) for e in entries),
        ttl_minutes=_int(feed.get("ttl")),
        update_period_seconds=_update_period(feed),
        bozo=bozo,
    )


def _describe(exc: Exception) -> str:
    """feedparser's reason in a reader's words: expat says '<unknown>:2:0: not
    well-formed (invalid token)'; we say 'XML error at line 2: not well-formed …'."""
    line = getattr(exc, "getLineNumber", None)
    message = getattr(exc, "getMessage", None)
    if callable(line) and callable(message):
        return f"XML error at line {line()}: {message()}"
    return str(exc)


def _entry(entry: Any, feed: Any) -> RawEntry:
    summary = ""
    contents = entry.get("content") or []
    if entry.get("summary"):
        summary = entry.get("summary")
    elif contents:
        summary = contents[0].get("value", "")
    return RawEntry(
        guid=_text(entry.get("id")) or None,
        link=_text(entry.get("link")) or None,
        title=_text(entry.get("title")),
        summary_html=summary or "",
        published=_date(entry.get("published_parsed") or entry.get("updated_parsed")),
        language=_lang((entry.get("title_detail") or {}).get("language") or feed.get("language")),
        author=_text(entry.get("author")) or None,
        outlet=_text((entry.get("source") or {}).get("title")) or None,
    )


# C0 controls are not XML characters, and PostgreSQL refuses NUL in text: a guid, link
# or author carrying one would fail the feed's whole transaction.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _text(value: Any) -> str:
    return _CONTROLS.sub("", value).strip() if isinstance(value, str) else ""


def _lang(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()[:2]


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}


def _update_period(feed: Any) -> int | None:
    """sy:updatePeriod / sy:updateFrequency (RSS 1.0 syndication module)."""
    period = _PERIOD_SECONDS.get(_text(feed.get("sy_updateperiod")).lower())
    if period is None:
        return None
    frequency = _int(feed.get("sy_updatefrequency")) or 1
    return max(1, period // frequency)


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        # feedparser's *_parsed values are struct_time in UTC.
        year, month, day, hour, minute, second = value[:6]
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return when if when >= EARLIEST else None  # missing: the time first seen
