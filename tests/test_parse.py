"""parse_feed on bytes: real feeds, hostile bodies, encodings."""

from __future__ import annotations

import tracemalloc

import pytest

from bot.errors import ParseError
from bot.ingest.parse import neutralise, parse_feed

RSS = """<?xml version="1.0" encoding="{enc}"?>
<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
<title>Actu</title><language>fr</language><ttl>60</ttl>
<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>
<item><title>{title}</title><link>https://example.org/a</link><guid>a-1</guid>
<pubDate>Mon, 23 Feb 2026 10:00:00 +0100</pubDate>
<description>&lt;p&gt;Texte&lt;/p&gt;</description></item>
<item><title>Sans date ni guid</title><link>https://example.org/b</link></item>
</channel></rss>"""


def test_rss_fields_dates_and_hints() -> None:
    feed = parse_feed(RSS.format(enc="utf-8", title="Bamako et Pékin").encode())
    assert feed.title == "Actu" and feed.language == "fr"
    assert feed.ttl_minutes == 60 and feed.update_period_seconds == 1800
    first, second = feed.entries
    assert first.guid == "a-1" and first.title == "Bamako et Pékin"
    assert (
        first.published is not None and first.published.isoformat() == "2026-02-23T09:00:00+00:00"
    )
    assert second.guid is None and second.published is None


def test_iso_8859_1_declared_and_encoded() -> None:
    body = RSS.format(enc="ISO-8859-1", title="Sécurité à Bamako").encode("latin-1")
    assert parse_feed(body).entries[0].title == "Sécurité à Bamako"


def test_misdeclared_encoding_still_yields_entries() -> None:
    # Declared UTF-8, actually Latin-1: feedparser falls back rather than failing.
    body = RSS.format(enc="utf-8", title="Sécurité à Bamako").encode("latin-1")
    feed = parse_feed(body)
    assert len(feed.entries) == 2
    assert "Bamako" in feed.entries[0].title


def test_an_html_page_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed(b"<!DOCTYPE html><html><head><title>Accueil</title></head><body>x</body></html>")


def test_garbage_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(b"\x00\x01binary junk")
    with pytest.raises(ParseError, match="empty"):
        parse_feed(b"   ")


@pytest.mark.parametrize(
    "prolog",
    [
        pytest.param("", id="a DOCTYPE right after the XML declaration"),
        pytest.param(
            "<!-- " + "x" * 70_000 + " -->\n", id="a DOCTYPE behind a 70 KB comment"
        ),
    ],
)
def test_entity_bomb_is_defused(prolog: str) -> None:
    # Expat refuses the amplification, and feedparser's loose fallback parser then
    # expands it: 10 KB used 10,000 times = 100 MB of summary and ~300 MB of memory.
    chunk = "A" * 10_000
    uses = "&big;" * 10_000
    body = (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}'
        f'<!DOCTYPE feed [\n<!ENTITY big "{chunk}">\n]>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        f"<entry><title>x &big;</title><id>1</id><summary>{uses}</summary></entry></feed>"
    ).encode()
    assert b"<!ENTITY" not in neutralise(body)
    tracemalloc.start()
    feed = parse_feed(body)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(feed.entries) == 1
    assert len(feed.entries[0].summary_html) < 1_000_000
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_feed_html_never_reaches_item_text_and_links_resolve() -> None:
    """Feed HTML is not sanitised by feedparser (we never display it): the text we keep
    must still be free of scripts and tags, and relative links must resolve."""
    from datetime import UTC, datetime

    from bot.ingest.normalize import normalize_entry

    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Bamako &lt;b&gt;et&lt;/b&gt; P\xc3\xa9kin</title><link>/news/1</link><guid>g</guid>
<description>&lt;p&gt;La Chine &lt;script&gt;alert("x")&lt;/script&gt;livre
&lt;style&gt;p{color:red}&lt;/style&gt;des &lt;a href="/rel"&gt;bus&lt;/a&gt;.&lt;/p&gt;
</description></item></channel></rss>"""
    [entry] = parse_feed(body, url="https://example.org/feed.xml").entries
    item = normalize_entry(entry, now=datetime(2026, 3, 1, tzinfo=UTC), feed_language="fr")
    assert item.link == "https://example.org/news/1"
    assert item.title == "Bamako et Pékin"
    assert " ".join(item.summary.split()) == "La Chine livre des bus."


BAD_REF = (
    '<?xml version="1.0" encoding="{enc}"?><rss version="2.0"><channel><title>t</title>'
    "<item><title>&amp;amp;lt;b&amp;amp;gt;Mali</title><description>Chine &#xFFFFFF; &#0; "
    "&#55296; fin</description></item></channel></rss>"
)


def test_a_reference_to_no_character_is_replaced_not_fatal() -> None:
    # feedparser's fallback parser raises ValueError from chr() on these.
    [entry] = parse_feed(BAD_REF.format(enc="utf-8").encode()).entries
    assert entry.summary_html == "Chine \ufffd \ufffd \ufffd fin"


def test_the_parser_failing_on_hostile_bytes_is_a_parse_error() -> None:
    # In UTF-16 the reference is not seen before parsing; feedparser's crash is caught.
    with pytest.raises(ParseError, match=r"the parser failed: ValueError"):
        parse_feed(BAD_REF.format(enc="utf-16").encode("utf-16"))


def test_a_date_before_web_feeds_is_no_date() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x'
        b"</title><guid>1</guid><pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate></item>"
        b"</channel></rss>"
    )
    [entry] = parse_feed(body).entries
    assert entry.published is None  # normalise then uses the time first seen


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/rss+xml; charset=utf-8",
        "text/xml",
        "text/html; charset=utf-8",
        "application/xml; charset=utf-8",
        "application/json",
    ],
)
def test_the_content_type_never_changes_how_an_xml_feed_reads(content_type: str | None) -> None:
    """The XML declaration decides the encoding, as it did before the Content-Type was
    read: given to feedparser, text/xml without a charset would mean US-ASCII (RFC 3023),
    and a server's charset would override a correct declaration. An XML body is read as
    XML whatever the server calls it; the header only chooses for bodies that open like
    JSON or like nothing (tests/test_jsonfeed.py)."""
    body = RSS.format(enc="ISO-8859-1", title="Sécurité à Bamako").encode("latin-1")
    assert parse_feed(body, content_type=content_type) == parse_feed(body)
    assert parse_feed(body, content_type=content_type).entries[0].title == "Sécurité à Bamako"
