from __future__ import annotations

import pytest

from bot.errors import ParseError
from bot.ingest.opml import OpmlFeed, parse_opml, render_opml

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


def test_the_enabled_state_survives_a_round_trip() -> None:
    feeds = [
        OpmlFeed("https://example.org/rss", "On", "fr"),
        OpmlFeed("https://example.com/feed", "Off", "en", enabled=False),
    ]
    document = render_opml(feeds)
    assert 'mcwatch:enabled="false"' in document
    assert parse_opml(document.encode()) == feeds


def test_other_readers_see_a_plain_opml_outline() -> None:
    """The attribute is namespaced (OPML 2.0): a reader without the namespace reads the
    outline as any other; plain XML tooling finds it under the namespace's URI."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(render_opml([OpmlFeed("https://e.org/f", "Off", enabled=False)]))
    [outline] = root.iter("outline")
    assert outline.get("xmlUrl") == "https://e.org/f"
    assert outline.get("{https://github.com/mcwatch/mcwatch/opml}enabled") == "false"


DISABLED = b"""<?xml version="1.0"?>
<opml version="2.0" xmlns:mc="https://github.com/mcwatch/mcwatch/opml"><body>
<outline text="on" xmlUrl="https://a.example/rss" mc:enabled="true"/>
<outline text="off" xmlUrl="https://b.example/rss" mc:enabled="FALSE"/>
<outline text="Old folder" isComment="true">
  <outline text="inside a comment" xmlUrl="https://c.example/rss"/>
</outline>
<outline text="commented" xmlUrl="https://d.example/rss" isComment="true"/>
<outline text="after" xmlUrl="https://e.example/rss" isComment="false"/>
</body></opml>"""


def test_disabled_and_commented_out_outlines_are_disabled_feeds() -> None:
    """Any prefix bound to the namespace counts; ``isComment`` (OPML 2.0) covers the
    outlines inside a commented one."""
    assert [(f.name, f.enabled) for f in parse_opml(DISABLED)] == [
        ("on", True),
        ("off", False),
        ("inside a comment", False),
        ("commented", False),
        ("after", True),
    ]


def test_deeply_nested_outlines_are_read_without_recursion() -> None:
    depth = 5000
    data = (
        b"<opml><body>"
        + b'<outline text="f">' * depth
        + b'<outline text="deep" xmlUrl="https://deep.example/rss"/>'
        + b"</outline>" * depth
        + b"</body></opml>"
    )
    assert parse_opml(data) == [OpmlFeed("https://deep.example/rss", "deep")]
