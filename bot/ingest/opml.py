"""OPML import and export of the watch list. Pure.

OPML outlines nest (folders); every outline with an ``xmlUrl`` is a feed, wherever it
sits. The DOCTYPE is removed before parsing, as for feeds (no entity expansion).

A disabled feed is exported with ``mcwatch:enabled="false"``: OPML 2.0 allows attributes
"not described" by it "only if those elements are defined in a namespace", which is
what other readers do for their own settings (Feeder's ``feeder:``, FreshRSS's
``frss:``). Readers that do not know the namespace ignore it. On import, an outline
commented out with OPML's own ``isComment="true"`` (and, by that attribute's convention,
every outline inside it) is a disabled feed too.

Who is speaking (``bot.provenance``) travels the same way: ``mcwatch:country="ML"`` and
``mcwatch:kind="malian_private"``. On import a value that is not a country code or a
kind is left out, with the reason (``OpmlFeed.problems``); the feed is imported all the
same.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from bot.errors import ParseError
from bot.ingest.parse import neutralise
from bot.provenance import parse_country, parse_kind

LANGUAGES = ("fr", "en")
NAMESPACE = "https://github.com/mcwatch/mcwatch/opml"
_ENABLED = f"{{{NAMESPACE}}}enabled"
_COUNTRY = f"{{{NAMESPACE}}}country"
_KIND = f"{{{NAMESPACE}}}kind"
_FALSE = ("false", "0", "no")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    name: str = ""
    language: str | None = None
    enabled: bool = True
    country: str | None = None
    kind: str | None = None
    problems: tuple[str, ...] = ()  # attributes left out on import, and why


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order, without duplicate URLs."""
    try:
        root = ET.fromstring(neutralise(data))  # noqa: S314 (DOCTYPE removed first)
    except ET.ParseError as exc:
        raise ParseError(f"not valid OPML: {exc}") from None
    if root.tag.lower() != "opml":
        raise ParseError(f"not OPML: the document's root is <{root.tag}>")
    found: list[OpmlFeed] = []
    seen: set[str] = set()
    # Depth first, in document order, without recursion (a hostile file nests deeply);
    # each element carries whether an outline around it is commented out.
    stack: list[tuple[ET.Element, bool]] = [(child, False) for child in reversed(root)]
    while stack:
        element, commented = stack.pop()
        if element.tag == "outline":
            commented = commented or _attribute(element, "isComment") == "true"
            feed = _feed(element, commented)
            if feed is not None and feed.url not in seen:
                seen.add(feed.url)
                found.append(feed)
        stack.extend((child, commented) for child in reversed(element))
    return found


def _attribute(outline: ET.Element, name: str) -> str:
    return (outline.get(name) or "").strip().lower()


def _feed(outline: ET.Element, commented: bool) -> OpmlFeed | None:
    url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
    if not url:
        return None  # a folder, or an outline of some other kind
    language = _attribute(outline, "language")[:2] or None
    problems: list[str] = []
    country = _checked(outline, _COUNTRY, "mcwatch:country", parse_country, problems)
    kind = _checked(outline, _KIND, "mcwatch:kind", parse_kind, problems)
    return OpmlFeed(
        url=url,
        name=(outline.get("title") or outline.get("text") or "").strip(),
        language=language if language in LANGUAGES else None,
        enabled=not commented and _attribute(outline, _ENABLED) not in _FALSE,
        country=country,
        kind=kind,
        problems=tuple(problems),
    )


def _checked(
    outline: ET.Element,
    attribute: str,
    label: str,
    parse: Callable[[str], str],
    problems: list[str],
) -> str | None:
    """The attribute's value as ``parse`` reads it; None when absent or invalid (the
    reason appended to ``problems``)."""
    value = (outline.get(attribute) or "").strip()
    if not value:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        problems.append(f"skipped {label}: {exc}"[:300])
        return None


def render_opml(feeds: Sequence[OpmlFeed], *, title: str = "mcwatch feeds") -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<opml version="2.0" xmlns:mcwatch={quoteattr(NAMESPACE)}>',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        attributes = f'type="rss" text={quoteattr(feed.name or feed.url)} '
        attributes += f"title={quoteattr(feed.name or feed.url)} xmlUrl={quoteattr(feed.url)}"
        if feed.language:
            attributes += f" language={quoteattr(feed.language)}"
        if not feed.enabled:
            attributes += ' mcwatch:enabled="false"'
        if feed.country:
            attributes += f" mcwatch:country={quoteattr(feed.country)}"
        if feed.kind:
            attributes += f" mcwatch:kind={quoteattr(feed.kind)}"
        lines.append(f"    <outline {attributes}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
