"""JSON Feed, versions 1 and 1.1 (https://www.jsonfeed.org/version/1.1/).

A JSON Feed is one JSON object: ``version`` (``https://jsonfeed.org/version/1`` or
``…/1.1``), ``title``, ``language`` (1.1), ``authors`` (1.1) or ``author`` (1), and
``items``, each with ``id``, ``url``/``external_url``, ``title``, ``content_html``/
``content_text``, ``summary``, ``date_published``/``date_modified`` (RFC 3339),
``authors``/``author`` and ``language``. They map onto ``RawEntry`` as RSS does:

- the excerpt first, then the article (RSS ``<description>``, then ``content:encoded``):
  ``summary``, else ``content_html``, else ``content_text``. The plain-text fields are
  HTML-escaped, since ``summary_html`` is HTML to every reader of it: normalising then
  gives back their text, and a literal ``<b>`` in plain text stays text;
- ``url`` is the link (``external_url`` when there is none), resolved against the feed's
  own URL and kept only when it is http(s);
- an ``id`` given as a number is read as its text (version 1 says readers must);
- an item's authors, else the feed's (1.1 says so); an item's language, else the feed's;
- dates in UTC, an unreadable or pre-web date being no date (as for RSS).

Refused with ParseError, as any other body that is not a feed: what is not JSON, JSON
that is not a JSON Feed (no JSON Feed ``version``), a version 2 or later, nesting deeper
than the JSON parser goes (RecursionError), numbers of thousands of digits.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from bot.errors import NotJson, ParseError
from bot.ingest.parse.fields import clean_text, language_code, plausible
from bot.types import ParsedFeed, RawEntry

MEDIA_TYPES = frozenset({"application/feed+json", "application/json"})

# A body for this parser opens a JSON object (after a byte order mark and space)...
_OPENS_OBJECT = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\{")
# ...or is served as JSON without opening like markup (an HTML error page served as
# application/json is better reported as an HTML page).
_OPENS_MARKUP = re.compile(rb"(?:\xef\xbb\xbf)?\s*<")
_VERSION = re.compile(r"https?://jsonfeed\.org/version/(\d+)(?:\.\d+)?/?", re.IGNORECASE)
# Python's json reads "\ud800" into a lone surrogate, which no database can store.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def claims(body: bytes, media_type: str) -> bool:
    """Whether ``body`` is this parser's to try first: it opens a JSON object, or the
    server calls it JSON and it does not open like markup."""
    if _OPENS_OBJECT.match(body):
        return True
    return media_type in MEDIA_TYPES and not _OPENS_MARKUP.match(body)


def parse_json_feed(body: bytes, *, url: str = "") -> ParsedFeed:
    """Bytes → ParsedFeed. Raises NotJson when the body is not JSON, ParseError when it
    is JSON but not a JSON Feed of a version mcwatch reads."""
    document = _load(body)
    if not isinstance(document, dict):
        raise ParseError(key="parse_json_not_feed")
    version = document.get("version")
    found = _VERSION.fullmatch(version.strip()) if isinstance(version, str) else None
    if found is None:
        raise ParseError(key="parse_json_no_version")
    if found.group(1) != "1":
        raise ParseError(key="parse_json_unsupported", version=clean_text(version)[:100])
    items = document.get("items")
    if items is None:  # required by the spec; a feed without it has no items yet
        items = []
    if not isinstance(items, list):
        raise ParseError(key="parse_json_items")
    # Where the feed was fetched, else where it says it lives: relative URLs resolve there.
    base = url or clean_text(_string(document.get("feed_url")))
    base = base or clean_text(_string(document.get("home_page_url")))
    language = language_code(_string(document.get("language")))
    authors = _authors(document)
    return ParsedFeed(
        title=clean_text(_string(document.get("title"))),
        language=language,
        entries=tuple(
            _entry(item, base, language, authors) for item in items if isinstance(item, dict)
        ),
    )


def _load(body: bytes) -> object:
    try:
        try:
            # UTF-8, or UTF-16/32 as json detects them (RFC 8259 §8.1 asks for UTF-8).
            return json.loads(body)
        except UnicodeDecodeError:
            # Not UTF-8 after all: undecodable bytes become U+FFFD rather than the
            # whole feed being lost.
            return json.loads(body.decode("utf-8-sig", errors="replace"))
    except json.JSONDecodeError as exc:
        raise NotJson(
            key="parse_json_error", line=exc.lineno, column=exc.colno, problem=exc.msg
        ) from exc
    except RecursionError as exc:  # [[[[… a few thousand deep
        raise NotJson(key="parse_json_nested") from exc
    except ValueError as exc:  # a number beyond Python's 4,300 digits for int()
        raise NotJson(key="parse_json_failed", kind=type(exc).__name__) from exc


def _entry(
    item: dict[str, object], base: str, feed_language: str | None, feed_authors: str | None
) -> RawEntry:
    guid = item.get("id")
    if isinstance(guid, int | float) and not isinstance(guid, bool):
        guid = str(guid)
    published = _date(item.get("date_published")) or _date(item.get("date_modified"))
    return RawEntry(
        guid=clean_text(_string(guid)) or None,
        link=_link(item.get("url"), base) or _link(item.get("external_url"), base),
        title=clean_text(_string(item.get("title"))),
        summary_html=(
            _as_html(item.get("summary"))
            or _string(item.get("content_html"))
            or _as_html(item.get("content_text"))
        ),
        published=plausible(published),
        language=language_code(_string(item.get("language"))) or feed_language,
        author=_authors(item) or feed_authors,
    )


def _string(value: object) -> str:
    """A JSON string as text a database can store; anything else → ""."""
    if not isinstance(value, str):
        return ""
    return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value


def _as_html(value: object) -> str:
    """Plain text as the HTML that shows it: ``a < b`` → ``a &lt; b``."""
    return html.escape(_string(value), quote=False)


def _link(value: object, base: str) -> str | None:
    text = clean_text(_string(value))
    if not text:
        return None
    try:
        absolute = urljoin(base, text) if base else text
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:  # an unbalanced [ in the host: no URL
        return None
    return absolute if scheme in ("http", "https") else None


def _authors(holder: dict[str, object]) -> str | None:
    """The names of ``authors`` (1.1), else of ``author`` (1), joined by commas."""
    people = holder.get("authors")
    if not isinstance(people, list):
        people = [holder.get("author")]
    names = [
        clean_text(_string(person.get("name"))) for person in people if isinstance(person, dict)
    ]
    return ", ".join(name for name in names if name) or None


def _date(value: object) -> datetime | None:
    """RFC 3339 (``2026-02-23T10:00:00+01:00``, ``…Z``), or the RFC 822 dates some
    generators copy from their RSS templates; None when neither reads."""
    text = clean_text(_string(value))
    if not text:
        return None
    try:
        # RFC 3339 §5.6 allows a lower-case "t" and "z"; fromisoformat wants them upper.
        return datetime.fromisoformat(text.upper())
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
