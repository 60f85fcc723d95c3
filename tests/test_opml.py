from __future__ import annotations

import pytest

from bot.errors import ParseError
from bot.opml import OpmlFeed, parse_opml, render_opml

NESTED = b"""<?xml version="1.0"?>
<opml version="1.0"><head><title>Veille</title></head><body>
<outline text="Mali">
  <outline text="Studio Tamani" xmlUrl="https://www.studiotamani.org/feed" language="fr"/>
  <outline text="Sans lien"/>
</outline>
<outline title="Sahel &amp; Chine" text="x" xmlUrl="https://example.org/rss?a=1&amp;b=2"/>
<outline text="doublon" xmlUrl="https://www.studiotamani.org/feed"/>
</body></opml>"""


def test_nested_outlines_are_found_once() -> None:
    assert parse_opml(NESTED) == [
        OpmlFeed("https://www.studiotamani.org/feed", "Studio Tamani", "fr"),
        OpmlFeed("https://example.org/rss?a=1&b=2", "Sahel & Chine", None),
    ]


def test_round_trip() -> None:
    feeds = [
        OpmlFeed("https://example.org/rss?a=1&b=2", 'Le "Sahel" & <Chine>', "fr"),
        OpmlFeed("https://example.com/feed", "", None),
    ]
    back = parse_opml(render_opml(feeds).encode())
    assert back == [feeds[0], OpmlFeed("https://example.com/feed", "https://example.com/feed")]


@pytest.mark.parametrize(
    "data", [b"<rss/>", b"not xml at all", b""], ids=["a feed, not OPML", "not XML", "empty"]
)
def test_bad_opml_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ParseError, match="OPML"):
        parse_opml(data)


def test_entities_are_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "' + b"x" * 1000 + b'">]>'
        b'<opml><body><outline text="&a;" xmlUrl="https://e.org/f"/></body></opml>'
    )
    with pytest.raises(ParseError):
        parse_opml(bomb)  # the undefined entity is an error, never 1000 x's
