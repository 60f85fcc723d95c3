"""OPML import and export of the watch list. Pure.

OPML outlines nest (folders); every outline with an ``xmlUrl`` is a feed, wherever it
sits. The DOCTYPE is removed before parsing, as for feeds (no entity expansion).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from bot.errors import ParseError
from bot.parse import neutralise

LANGUAGES = ("fr", "en")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    name: str = ""
    language: str | None = None


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
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url or url in seen:
            continue
        seen.add(url)
        language = (outline.get("language") or "").strip().lower()[:2] or None
        found.append(
            OpmlFeed(
                url=url,
                name=(outline.get("title") or outline.get("text") or "").strip(),
                language=language if language in LANGUAGES else None,
            )
        )
    return found


def render_opml(feeds: Sequence[OpmlFeed], *, title: str = "mcwatch feeds") -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        attributes = f'type="rss" text={quoteattr(feed.name or feed.url)} '
        attributes += f"title={quoteattr(feed.name or feed.url)} xmlUrl={quoteattr(feed.url)}"
        if feed.language:
            attributes += f" language={quoteattr(feed.language)}"
        lines.append(f"    <outline {attributes}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
