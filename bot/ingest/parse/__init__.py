"""Parse: feed bytes → ``ParsedFeed``, whatever the format. Pure.

``parse_feed(body, url=…, content_type=…)`` is the one entry point. It picks a parser by
what the body opens with and what the server called it, and every parser returns the
same typed record (``bot.types.ParsedFeed`` of ``RawEntry``), fields cleaned alike by
``fields``:

- ``jsonfeed``            JSON Feed 1 and 1.1: a body that opens a JSON object, or
                          one served as JSON (application/feed+json, application/json)
                          that does not open like markup;
- ``rss_fast``            well-formed RSS 2.0 through expat, the common feed, held to
                          feedparser's exact answer;
- ``feedparser_backend``  every other XML feed (RSS 0.9x/1.0, Atom, the malformed).

XML parsers only ever see bytes through ``guard.neutralise`` (no DOCTYPE, no entity
declaration, no reference to no character). Servers mislabel feeds (RSS as text/html,
text/plain, application/octet-stream), so the body decides first; the Content-Type
decides for a body that opens like neither (which parser's complaint is reported).

A new format is one more module with a ``claims(body, media_type)`` test and a
``parse_…(body, *, url) -> ParsedFeed``, and one more branch below.
"""

from __future__ import annotations

from bot.errors import NotJson, ParseError
from bot.ingest.parse import feedparser_backend, jsonfeed, rss_fast
from bot.ingest.parse.guard import neutralise
from bot.types import ParsedFeed

__all__ = ["neutralise", "parse_feed"]


def parse_feed(body: bytes, *, url: str = "", content_type: str | None = None) -> ParsedFeed:
    """Bytes → ParsedFeed. Raises ParseError when the body is not a feed at all.

    ``url`` is where the feed was fetched (relative links resolve against it);
    ``content_type`` the server's Content-Type header, if any (``FetchResult``'s).
    """
    if not body.strip():
        raise ParseError(key="parse_empty")
    if not jsonfeed.claims(body, media_type(content_type)):
        return _parse_xml(body, url)
    try:
        return jsonfeed.parse_json_feed(body, url=url)
    except NotJson as not_json:
        # Not JSON at all, though it opened like JSON or was served as JSON. feedparser's
        # loose parser reads an RSS document behind a stray "{", as it did before JSON
        # Feed was read; when it finds no feed either, the JSON error is the one that
        # tells the publisher what is wrong.
        try:
            return _parse_xml(body, url)
        except ParseError:
            raise not_json from None


def media_type(content_type: str | None) -> str:
    """``"Application/RSS+XML; charset=utf-8"`` → ``"application/rss+xml"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _parse_xml(body: bytes, url: str) -> ParsedFeed:
    safe = neutralise(body)
    fast = rss_fast.parse_rss(safe, url=url)
    if fast is not None:
        return fast
    return feedparser_backend.parse_neutralised(safe, original=body, url=url)
