"""A fast path for the common feed: well-formed RSS 2.0 (UTF-8 or Latin).

feedparser drives pure-Python handlers for every SAX event and costs more per item than
everything mcwatch does after it (match, story, store, queue). Most feeds mcwatch reads
are plain RSS 2.0 (WordPress, Google News, agency wires): expat's C tree builder reads
them some 70 times faster, the whole parse here about 6 times. ``parse_rss`` reads those
and gives *exactly* the ``ParsedFeed`` that ``bot.ingest.parse.feedparser_backend`` gives for the
same bytes (tests/test_parse_fast.py checks it on written and generated feeds). Anything it is not
sure of — another format, malformed XML, an undeclared entity, an element feedparser
would map onto a field mcwatch reads, a duplicate, ``xml:base`` or ``xml:lang`` —
returns None, and feedparser reads the feed as before. Being fast never changes what a feed says.

To stay identical it reuses feedparser's own pieces: its namespace table, date parser,
URI join and Windows-1252 table (feedparser is pinned below 7 in pyproject), and cleans
fields with ``bot.ingest.parse.fields`` as the feedparser backend does.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from contextlib import suppress

from feedparser.datetimes import _parse_date
from feedparser.encodings import RE_XML_PI_ENCODING
from feedparser.mixin import _cp1252, _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri

from bot.ingest.parse.fields import (
    clean_text,
    from_struct_time,
    language_code,
    positive_int,
    update_period_seconds,
)
from bot.types import ParsedFeed, RawEntry

# feedparser's table of namespace URIs → prefixes, matched case-insensitively as it does.
_PREFIXES: dict[str, str] = {
    uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()
}
# Declared encodings read here exactly as feedparser reads them (it decodes with the
# declared one when it can, as expat does); any other is left to it.
_ENCODINGS = frozenset({"utf-8", "us-ascii", "iso-8859-1", "windows-1252", "iso-8859-15"})
_DECLARATION = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml\s[^>]*?encoding=[\"']([^\"']*)[\"'][^>]*\?>")

# An item's elements that mcwatch reads, by feedparser's name for them, each at most once.
_READ = frozenset(
    {
        "title",
        "link",
        "description",
        "guid",
        "pubdate",
        "author",
        "dc:creator",
        "dc:date",
        "source",
        "content:encoded",
    }
)
# Elements feedparser stores under keys mcwatch never reads.
_INERT = frozenset(
    {
        "category",
        "comments",
        "enclosure",
        "wfw:commentrss",
        "wfw:comment",
        "slash:comments",
        "media:content",
        "media:thumbnail",
        "feedburner:origlink",
        "dc:subject",
        "dc:format",
        "dc:language",  # an item's own: feedparser keeps it apart from the text's language
    }
)
_ATTRIBUTES = {"guid": frozenset({"ispermalink"}), "source": frozenset({"url"})}
# Outside items: elements that would write the feed's title or language another way.
_CHANNEL_CLOBBERS = frozenset({"dc:title", "media:title", "dc:language", "item", "entry"})
_XML = "{http://www.w3.org/XML/1998/namespace}"
# Compared lower-cased, as feedparser lower-cases attribute names.
_LANG_OR_BASE = frozenset({f"{_XML}lang".lower(), f"{_XML}base".lower(), "lang", "base"})


class _Unsure(Exception):
    """Raised inside the walk: leave this feed to feedparser."""


def parse_rss(body: bytes, *, url: str = "") -> ParsedFeed | None:
    """Well-formed RSS 2.0 → ParsedFeed, as feedparser would give it; else None.

    ``body`` must already be neutralised (``bot.ingest.parse.guard.neutralise``: no DOCTYPE).
    """
    declared = _DECLARATION.match(body)
    if _feedparser_encoding(body) != (declared.group(1) if declared else None):
        return None  # it would take the encoding from elsewhere on the first line
    if declared is None:
        # feedparser then reads ISO-8859-1 and repairs each text: the same as UTF-8 for
        # ASCII bytes, but not always for others (a stripped no-break space).
        if not body.isascii():
            return None
        encoding = "us-ascii"
    else:
        encoding = declared.group(1).lower().decode("ascii", "replace")
    if encoding not in _ENCODINGS or (encoding != "utf-8" and body.startswith(b"\xef\xbb\xbf")):
        return None
    if encoding != "utf-8":
        try:  # feedparser tries other encodings when the declared one fails
            body.decode(encoding)
        except UnicodeDecodeError:
            return None
    try:
        # S314: the body is neutralised (no DOCTYPE, so no entity can be declared), and
        # expat ≥ 2.4 refuses amplification on its own.
        root = ET.fromstring(body)  # noqa: S314
    except (ET.ParseError, ValueError, LookupError):
        return None
    try:
        return _read(root, _base_uri(url))
    except _Unsure:
        return None


def _feedparser_encoding(body: bytes) -> bytes | None:
    """The encoding feedparser reads from the first line (its own, greedy, pattern)."""
    found = RE_XML_PI_ENCODING.match(body[3:] if body.startswith(b"\xef\xbb\xbf") else body)
    return found.group(1) if found else None


def _base_uri(url: str) -> str:
    return make_safe_absolute_uri("", url) or make_safe_absolute_uri(url) or ""


def _name(tag: str) -> str:
    """feedparser's name for an element: known prefix + ':' + lower-case local name."""
    if tag[:1] != "{":
        return tag.lower()
    uri, _, local = tag[1:].partition("}")
    uri = uri.lower()
    if "backend.userland.com/rss" in uri:
        uri = "http://backend.userland.com/rss"
    prefix = _PREFIXES.get(uri)
    if prefix is None:  # feedparser would use the document's own prefix: unknowable here
        raise _Unsure(uri)
    return f"{prefix}:{local.lower()}" if prefix else local.lower()


def _check_attributes(element: ET.Element) -> None:
    if element.attrib and not _LANG_OR_BASE.isdisjoint(k.lower() for k in element.attrib):
        raise _Unsure("xml:lang or xml:base")


def _value(element: ET.Element, base: str | None = None) -> str:
    """An element's text as feedparser's ``pop`` leaves it: stripped, joined to ``base``
    when it is a URI, mojibake repaired, C1 controls read as Windows-1252."""
    text = (element.text or "").strip()
    if base is not None and text:
        text = _urljoin(base, text)
    with suppress(UnicodeEncodeError, UnicodeDecodeError):
        # feedparser repairs UTF-8 that was read as ISO-8859-1 ("Ã©" → "é")
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_cp1252)


def _read(root: ET.Element, base: str) -> ParsedFeed:
    if _name(root.tag) != "rss":
        raise _Unsure("not RSS")
    _check_attributes(root)
    channels = [child for child in root if _name(child.tag) == "channel"]
    if len(channels) != 1 or len(root) != 1:
        raise _Unsure("not one channel")
    channel = channels[0]
    _check_attributes(channel)
    feed: dict[str, str] = {}
    items: list[ET.Element] = []
    for child in channel:
        name = _name(child.tag)
        if name == "item":
            items.append(child)
            continue
        _check_channel_subtree(child)
        if name in ("title", "language", "ttl", "sy:updateperiod", "sy:updatefrequency"):
            key = name.replace(":", "_")
            if key in feed or len(child) or child.attrib:
                raise _Unsure(f"channel {name}")
            feed[key] = _value(child)
        elif name in _CHANNEL_CLOBBERS:
            raise _Unsure(name)
    # An item's language is the channel's, which may come after the items.
    language = language_code(feed.get("language"))
    return ParsedFeed(
        title=clean_text(feed.get("title")),
        language=language,
        entries=tuple(_item(item, base, language) for item in items),
        ttl_minutes=positive_int(feed.get("ttl")),
        update_period_seconds=update_period_seconds(
            feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")
        ),
    )


# What feedparser lets <image> and <textInput> hold before it stops reading them as such
# (and their <title> starts to be the feed's).
_INSIDE = {
    "image": frozenset({"title", "link", "description", "url", "href", "width", "height"}),
    "textinput": frozenset({"title", "link", "description", "name"}),
}
# Fields feedparser stores into the feed from any depth.
_FEED_FIELDS = frozenset(
    {"title", "language", "ttl", "sy:updateperiod", "sy:updatefrequency"} | _CHANNEL_CLOBBERS
)


def _check_channel_subtree(element: ET.Element) -> None:
    """A channel child other than an item may not write the feed's fields from inside."""
    _check_attributes(element)
    inside = _INSIDE.get(_name(element.tag))
    for node in element.iter():
        if node is element:
            continue
        _check_attributes(node)
        name = _name(node.tag)
        # Inside <image> or <textInput>, their own children (<title> too) stay theirs.
        if (name not in inside) if inside is not None else (name in _FEED_FIELDS):
            raise _Unsure(f"{name} inside {_name(element.tag)}")


def _item(item: ET.Element, base: str, language: str | None) -> RawEntry:
    _check_attributes(item)
    if item.attrib:
        raise _Unsure("item attributes")
    seen: dict[str, ET.Element] = {}
    for child in item:
        name = _name(child.tag)
        if len(child):
            raise _Unsure(f"{name} has children")
        _check_attributes(child)
        if name in _READ:
            if name in seen:
                raise _Unsure(f"two {name}")
            if not _ATTRIBUTES.get(name, frozenset()).issuperset(k.lower() for k in child.attrib):
                raise _Unsure(f"{name} attributes")
            seen[name] = child
        elif name not in _INERT:
            raise _Unsure(name)
    guid = link = None
    if "guid" in seen:
        element = seen["guid"]
        permalink = _attribute(element.attrib, "ispermalink", "true") == "true"
        guid = _value(element, base if permalink else None)
        if permalink:
            link = guid
    if "link" in seen:
        value = _value(seen["link"], base).replace("&amp;", "&")
        link = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value)
    author = None
    authors = [seen[n] for n in ("author", "dc:creator") if n in seen]
    if authors:  # the later element wins, as in feedparser
        author = _value(max(authors, key=lambda e: list(item).index(e)))
    # The excerpt (<description>) when it says something, else the whole article.
    summary = _text_of(seen, "description") or _text_of(seen, "content:encoded")
    published = _parse_date(_value(seen["pubdate"])) if "pubdate" in seen else None
    if published is None and "dc:date" in seen:
        published = _parse_date(_value(seen["dc:date"]))
    return RawEntry(
        guid=clean_text(guid) or None,
        link=clean_text(link) or None,
        title=clean_text(_text_of(seen, "title")),
        summary_html=summary,
        published=from_struct_time(published),
        language=language,
        author=clean_text(author) or None,
        outlet=clean_text(_text_of(seen, "source")) or None,
    )


def _text_of(seen: dict[str, ET.Element], name: str) -> str:
    return _value(seen[name]) if name in seen else ""


def _attribute(attributes: dict[str, str], wanted: str, default: str) -> str:
    for key, value in attributes.items():
        if key.lower() == wanted:
            return value
    return default
