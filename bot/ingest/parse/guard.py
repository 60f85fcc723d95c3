"""Neutralise XML bytes before any XML parser reads them.

feedparser expands DOCTYPE entity declarations itself: one 10 KB entity used 10,000
times becomes 100 MB of text (the "billion laughs" family). A feed has no use for an
internal DTD, so every DOCTYPE and ENTITY declaration is removed before parsing. Both
XML parsers (``bot.ingest.parse.rss_fast`` and ``bot.ingest.parse.feedparser_backend``) are only
ever given bytes that went through ``neutralise``; OPML import (``bot.ingest.opml``) too.
"""

from __future__ import annotations

import re

# <!DOCTYPE name [ ...internal subset... ]> or <!DOCTYPE name PUBLIC "..." "...">
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)
_ENTITY_DECL = re.compile(rb"<!ENTITY[^>]*>", re.IGNORECASE | re.DOTALL)

# A character reference to no character (&#xFFFFFF;, &#0;, a lone surrogate) makes
# feedparser's fallback parser raise ValueError from chr(): it becomes U+FFFD first.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")


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
