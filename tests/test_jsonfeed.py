"""JSON Feed 1 and 1.1 (bot/ingest/parse/jsonfeed.py): the parser on bytes, the choice of parser
by body and Content-Type, and a JSON Feed polled end to end — loopback server, real
database — into stored, matched items, then added and checked with the CLI.

The feeds are written for these tests (invented articles), in the shapes of the spec's
own examples (https://www.jsonfeed.org/version/1.1/).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from bot.cli import app
from bot.clock import FixedClock
from bot.errors import ParseError
from bot.ingest.normalize import normalize_entry
from bot.ingest.parse import parse_feed
from bot.ingest.pipeline import PollOutcome, poll
from bot.types import ParsedFeed, RawEntry
from store import deliveries, feeds, items
from store.db import transaction
from tests.support.builders import add_feed, add_subscriber, deps_for, seeded
from tests.support.feed_server import FeedServer

V1_1 = "https://jsonfeed.org/version/1.1"
V1 = "https://jsonfeed.org/version/1"
NOW = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)


def feed_bytes(*entries: dict[str, Any], version: str = V1_1, **top: Any) -> bytes:
    return json.dumps(
        {"version": version, "title": "Le Sahel", **top, "items": list(entries)}
    ).encode()


def only_entry(body: bytes, url: str = "https://sahel.example/feed.json") -> RawEntry:
    [entry] = parse_feed(body, url=url, content_type="application/feed+json").entries
    return entry


# -- the parser on bytes -------------------------------------------------------------------


def test_a_version_1_1_feed_gives_every_field() -> None:
    body = feed_bytes(
        {
            "id": "https://sahel.example/2026/02/23/police",
            "url": "https://sahel.example/2026/02/23/police?utm_source=json",
            "external_url": "https://elsewhere.example/original",
            "title": "Sécurité : la Chine équipe la police malienne",
            "summary": "Pékin a remis des véhicules aux forces de sécurité du Mali.",
            "content_html": "<p>Le long article.</p>",
            "date_published": "2026-02-23T08:30:00+01:00",
            "date_modified": "2026-02-23T12:00:00+01:00",
            "authors": [{"name": "Awa Traoré"}, {"url": "https://x.example"}, {"name": "Li Wei"}],
            "language": "fr-ML",
        },
        home_page_url="https://sahel.example/",
        feed_url="https://sahel.example/feed.json",
        language="en-US",
    )
    feed = parse_feed(body, url="https://sahel.example/feed.json")
    assert (feed.title, feed.language, feed.ttl_minutes, feed.bozo) == (
        "Le Sahel",
        "en",
        None,
        None,
    )
    assert feed.entries == (
        RawEntry(
            guid="https://sahel.example/2026/02/23/police",
            link="https://sahel.example/2026/02/23/police?utm_source=json",
            title="Sécurité : la Chine équipe la police malienne",
            summary_html="Pékin a remis des véhicules aux forces de sécurité du Mali.",
            published=datetime(2026, 2, 23, 7, 30, tzinfo=UTC),
            language="fr",
            author="Awa Traoré, Li Wei",
            outlet=None,
        ),
    )


def test_a_version_1_feed_with_author_objects_and_a_numeric_id() -> None:
    body = feed_bytes(
        {"id": 2041, "url": "https://sahel.example/2041", "content_text": "Texte."},
        {"id": "b", "content_html": "<p>Deux</p>", "author": {"name": "Oumar Diallo"}},
        version=V1,
        author={"name": "La rédaction"},
    )
    first, second = parse_feed(body).entries
    assert (first.guid, first.author) == ("2041", "La rédaction")  # v1: coerced to text
    assert (second.guid, second.author, second.summary_html) == ("b", "Oumar Diallo", "<p>Deux</p>")
    assert parse_feed(feed_bytes(version="http://jsonfeed.org/version/1/")).title == "Le Sahel"


MISSING = [
    pytest.param({"id": "1"}, RawEntry("1", None, "", "", None), id="an id alone"),
    pytest.param(
        {"content_text": "Sans titre ni id"},
        RawEntry(None, None, "", "Sans titre ni id", None),
        id="no id, no url, no title",
    ),
    pytest.param(
        {"id": "2", "url": "javascript:alert(1)", "external_url": "https://ext.example/a"},
        RawEntry("2", "https://ext.example/a", "", "", None),
        id="a url that is not http(s) is no link; external_url stands in",
    ),
    pytest.param(
        {"id": "3", "url": "/2026/a", "title": 7, "summary": ["x"], "date_published": 2026},
        RawEntry("3", "https://sahel.example/2026/a", "", "", None),
        id="a relative url resolves against the feed's; values of the wrong type are absent",
    ),
    pytest.param(
        {"id": "\x00g\ud8004", "title": "Bamako\ud800", "content_text": "Mali\x00"},
        RawEntry("g\ufffd4", None, "Bamako\ufffd", "Mali\x00", None),
        id="NUL and lone surrogates never reach the store",
    ),
]


@pytest.mark.parametrize(("item", "expected"), MISSING)
def test_missing_and_odd_fields(item: dict[str, Any], expected: RawEntry) -> None:
    assert only_entry(feed_bytes(item)) == expected


def test_a_feed_with_missing_or_odd_top_level_fields() -> None:
    feed = parse_feed(json.dumps({"version": V1_1, "items": [1, "x", {"id": "a"}]}).encode())
    assert (feed.title, feed.language, [e.guid for e in feed.entries]) == ("", None, ["a"])
    assert parse_feed(json.dumps({"version": V1_1, "title": "Vide"}).encode()).entries == ()
    assert parse_feed(json.dumps({"version": V1_1, "items": None}).encode()).entries == ()


def test_the_excerpt_comes_first_then_the_html_then_the_text() -> None:
    both = {"id": "1", "content_html": "<p>HTML</p>", "content_text": "text"}
    assert only_entry(feed_bytes({**both, "summary": "excerpt"})).summary_html == "excerpt"
    assert only_entry(feed_bytes(both)).summary_html == "<p>HTML</p>"
    assert only_entry(feed_bytes({"id": "1", "content_text": "text"})).summary_html == "text"


RSS_TWIN = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>Le Sahel</title><language>fr</language>
<item><guid isPermaLink="false">sq-1</guid><link>https://sahel.example/sq-1?utm_source=rss</link>
<title>Bamako &lt;b&gt;et&lt;/b&gt; Pékin &amp;amp; la sécurité</title>
<description>&lt;p&gt;La Chine &lt;script&gt;alert("x")&lt;/script&gt;livre des \
&lt;a href="/bus"&gt;bus&lt;/a&gt;&amp;nbsp;au Mali.&lt;/p&gt;&lt;p&gt;Suite&lt;/p&gt;</description>
<pubDate>Mon, 23 Feb 2026 08:30:00 +0100</pubDate></item></channel></rss>"""


def test_html_content_is_normalised_exactly_as_the_same_article_in_rss() -> None:
    """Golden pair: one article as RSS and as JSON Feed gives one and the same Item."""
    json_feed = feed_bytes(
        {
            "id": "sq-1",
            "url": "https://sahel.example/sq-1?utm_source=rss",
            "title": "Bamako <b>et</b> Pékin &amp; la sécurité",
            "content_html": '<p>La Chine <script>alert("x")</script>livre des '
            '<a href="/bus">bus</a>&nbsp;au Mali.</p><p>Suite</p>',
            "date_published": "2026-02-23T08:30:00+01:00",
        },
        language="fr",
    )
    url = "https://sahel.example/feed"
    from_rss = parse_feed(RSS_TWIN.encode(), url=url)
    from_json = parse_feed(json_feed, url=url)
    assert from_json == from_rss
    [rss_item], [json_item] = (
        [normalize_entry(e, now=NOW, feed_language=f.language) for e in f.entries]
        for f in (from_rss, from_json)
    )
    assert json_item == rss_item
    assert (json_item.title, json_item.summary) == (
        "Bamako et Pékin & la sécurité",
        "La Chine livre des bus au Mali.\nSuite",
    )


def test_plain_text_is_escaped_so_it_stays_text() -> None:
    text = 'Le "code" <b>n\'est pas</b> du HTML & 3 < 4\nFin'
    entry = only_entry(feed_bytes({"id": "1", "summary": text}))
    assert (
        entry.summary_html == 'Le "code" &lt;b&gt;n\'est pas&lt;/b&gt; du HTML &amp; 3 &lt; 4\nFin'
    )
    assert normalize_entry(entry, now=NOW).summary == text


DATES = [
    pytest.param("2026-02-23T10:00:00+01:00", datetime(2026, 2, 23, 9, tzinfo=UTC), id="offset"),
    pytest.param(
        "2026-02-22T23:30:00-05:30",
        datetime(2026, 2, 23, 5, tzinfo=UTC),
        id="negative half-hour offset, across midnight",
    ),
    pytest.param("2026-02-23T09:00:00Z", datetime(2026, 2, 23, 9, tzinfo=UTC), id="Z"),
    pytest.param(
        "2026-02-23t09:00:00z",
        datetime(2026, 2, 23, 9, tzinfo=UTC),
        id="lower-case t and z (RFC 3339 §5.6)",
    ),
    pytest.param(
        "2026-02-23T09:00:00.123456789+00:00",
        datetime(2026, 2, 23, 9, 0, 0, 123456, tzinfo=UTC),
        id="nanoseconds",
    ),
    pytest.param(
        "2026-02-23T09:00:00", datetime(2026, 2, 23, 9, tzinfo=UTC), id="no offset is UTC"
    ),
    pytest.param(
        "Mon, 23 Feb 2026 10:00:00 +0100",
        datetime(2026, 2, 23, 9, tzinfo=UTC),
        id="an RFC 822 date copied from an RSS template",
    ),
    pytest.param("0001-01-01T00:00:00+01:00", None, id="year 0 in UTC is no date"),
    pytest.param("1970-01-01T00:00:00Z", None, id="before web feeds is no date"),
    pytest.param("hier", None, id="unreadable is no date"),
    pytest.param("", None, id="empty is no date"),
]


@pytest.mark.parametrize(("written", "expected"), DATES)
def test_dates(written: str, expected: datetime | None) -> None:
    published = only_entry(feed_bytes({"id": "1", "date_published": written})).published
    assert published == expected
    if published is not None:
        assert published.utcoffset() is not None and not published.utcoffset()


def test_date_modified_stands_in_for_a_missing_or_unreadable_date_published() -> None:
    for published in ({}, {"date_published": "bientôt"}):
        entry = only_entry(
            feed_bytes({"id": "1", **published, "date_modified": "2026-02-23T10:00:00+01:00"})
        )
        assert entry.published == datetime(2026, 2, 23, 9, tzinfo=UTC)


def test_a_byte_order_mark_space_and_bytes_that_are_not_utf_8() -> None:
    body = b"\xef\xbb\xbf \n" + feed_bytes({"id": "1", "title": "PLACEHOLDER"})
    body = body.replace(b"PLACEHOLDER", "Ségou".encode("latin-1"))
    [entry] = parse_feed(body, content_type="text/plain").entries
    assert entry.title == "S\ufffdgou"  # one character lost, not the feed


def test_a_big_feed_is_read() -> None:
    entry = {"id": "", "title": "Kayes : la saison des pluies", "content_text": "x" * 2000}
    body = feed_bytes(*({**entry, "id": str(n)} for n in range(4800)))
    assert 9 << 20 < len(body) < 11 << 20
    assert len(parse_feed(body).entries) == 4800


NOT_FEEDS = [
    pytest.param(
        b'{"title": "a blog", "items": []}',
        None,
        "not a feed (JSON without a JSON Feed version)",
        id="an object without version",
    ),
    pytest.param(
        b'{"version": "1.1", "items": []}',
        None,
        "not a feed (JSON without a JSON Feed version)",
        id="a version that is not JSON Feed's",
    ),
    pytest.param(
        b'{"version": 1}',
        None,
        "not a feed (JSON without a JSON Feed version)",
        id="a version that is not text",
    ),
    pytest.param(
        b'[{"version": "https://jsonfeed.org/version/1.1"}]',
        "application/json",
        "not a feed (JSON, but not a JSON Feed)",
        id="an array",
    ),
    pytest.param(
        b'"https://jsonfeed.org/version/1.1"',
        "application/feed+json",
        "not a feed (JSON, but not a JSON Feed)",
        id="a string",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/2", "items": []}',
        None,
        "JSON Feed https://jsonfeed.org/version/2 is not supported (1 and 1.1 are)",
        id="a version 2",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}',
        None,
        "not a feed (a JSON Feed whose items are not a list)",
        id="items not a list",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1.1",\n "items": [,]}',
        None,
        "not a feed (JSON error at line 2, column 12: Expecting value)",
        id="broken JSON says where",
    ),
    pytest.param(
        b"\x00\x01 junk",
        "application/feed+json",
        "not a feed (JSON error at line 1, column 1: Expecting value)",
        id="junk served as JSON gets the JSON parser's complaint",
    ),
    pytest.param(
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        None,
        "not a feed (JSON nested too deeply)",
        id="objects nested 50,000 deep",
    ),
    pytest.param(
        b"[" * 50_000 + b"]" * 50_000,
        "application/json",
        "not a feed (JSON nested too deeply)",
        id="arrays nested 50,000 deep",
    ),
    pytest.param(
        b'{"version": "https://jsonfeed.org/version/1.1", "n": ' + b"9" * 5000 + b"}",
        None,
        "not a feed (the JSON parser failed: ValueError)",
        id="a number of 5,000 digits",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "reason"), NOT_FEEDS)
def test_json_that_is_not_a_feed_is_a_parse_error(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(ParseError) as raised:
        parse_feed(body, content_type=content_type)
    assert str(raised.value) == reason


# -- which parser reads a body -------------------------------------------------------------

RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Flux RSS'
    b"</title><item><guid>r1</guid><title>Bamako</title></item></channel></rss>"
)
JSON_FEED = feed_bytes({"id": "j1", "title": "Bamako"}, title="Flux JSON")


@pytest.mark.parametrize(
    ("body", "content_type", "title"),
    [
        pytest.param(JSON_FEED, "application/feed+json", "Flux JSON", id="JSON Feed as JSON Feed"),
        pytest.param(
            JSON_FEED,
            "application/json; charset=utf-8",
            "Flux JSON",
            id="JSON Feed as application/json (version 1's type)",
        ),
        pytest.param(JSON_FEED, "text/html", "Flux JSON", id="JSON Feed mislabelled as HTML"),
        pytest.param(JSON_FEED, "application/rss+xml", "Flux JSON", id="JSON Feed as RSS"),
        pytest.param(JSON_FEED, None, "Flux JSON", id="JSON Feed without a Content-Type"),
        pytest.param(RSS, "application/json", "Flux RSS", id="RSS mislabelled as JSON"),
        pytest.param(
            b"{" + RSS,
            None,
            "Flux RSS",
            id="RSS behind a stray brace is still read by feedparser, as before",
        ),
        pytest.param(b"{" + RSS, "application/json", "Flux RSS", id="the same, served as JSON"),
    ],
)
def test_the_body_chooses_the_parser_before_the_content_type(
    body: bytes, content_type: str | None, title: str
) -> None:
    assert parse_feed(body, content_type=content_type).title == title


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        pytest.param(
            b"<!DOCTYPE html><html><body>500</body></html>",
            "application/json",
            "an HTML page, not a feed",
            id="an HTML error page served as JSON",
        ),
        pytest.param(
            b"\x00\x01 junk",
            "application/rss+xml",
            "not a feed (XML error at line 2: not well-formed (invalid token))",
            id="junk served as RSS: the XML parser's complaint, as before",
        ),
        pytest.param(
            b'{"version": "https://jsonfeed.org/version/1.1",}',
            "text/plain",
            "not a feed (JSON error at line 1, column 48: Expecting property name "
            "enclosed in double quotes)",
            id="broken JSON, no JSON type, not XML either: the JSON complaint",
        ),
    ],
)
def test_which_complaint_a_non_feed_gets(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(ParseError) as raised:
        parse_feed(body, content_type=content_type)
    assert str(raised.value) == reason


def test_every_parser_returns_the_one_record() -> None:
    """The seam: RSS (fast path), Atom (feedparser) and JSON Feed give the same types."""
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Flux Atom</title>'
        b"<entry><id>a1</id><title>Bamako</title></entry></feed>"
    )
    for body in (RSS, atom, JSON_FEED):
        feed = parse_feed(body)
        assert type(feed) is ParsedFeed
        assert [type(entry) for entry in feed.entries] == [RawEntry]


# -- end to end: loopback server → poll → store, and the CLI -------------------------------

SAHEL = feed_bytes(
    {
        "id": "https://sahel.example/p1",
        "url": "https://sahel.example/p1?utm_source=jsonfeed",
        "title": "Sécurité : Bamako et Pékin se concertent",
        "content_html": "<p>L'ambassadeur de Chine et le ministre malien de la Sécurité ont "
        "parlé à Bamako de la protection des ressortissants chinois.</p>",
        "date_published": "2026-02-23T08:00:00+01:00",
    },
    {
        "id": "https://sahel.example/n1\u0000",
        "url": "https://sahel.example/n1",
        "title": "Une machine à coudre primée à Ségou",
        # NUL and a lone surrogate: JSON can say them, PostgreSQL cannot store them
        "content_text": "Un artisan de Ségou remporte un prix.\u0000\ud800",
        "authors": [{"name": "R\ud800daction"}],
        "date_published": "2026-02-23T07:00:00Z",
    },
    title="Le Sahel (JSON)",
    language="fr",
)


def run_poll(engine: Engine, clock: FixedClock, **settings: Any) -> list[PollOutcome]:
    async def go() -> list[PollOutcome]:
        async with deps_for(engine, clock, **settings) as deps:
            return await poll(deps, include_not_due=True)

    return asyncio.run(go())


def test_a_json_feed_is_polled_into_stored_matched_items_once(
    engine: Engine, feed_server: FeedServer
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    add_subscriber(engine, 11, clock)
    feed_server.serve("/feed.json", SAHEL, content_type="application/feed+json")
    feed_id = add_feed(engine, feed_server.url("/feed.json"), clock, name="Sahel JSON")
    [first] = run_poll(engine, clock)
    assert (first.status, first.entries, first.new_items, first.matched, first.queued) == (
        "ok",
        2,
        2,
        1,
        1,
    )
    [again] = run_poll(engine, clock)
    assert (again.new_items, again.queued) == (0, 0)  # the same identities
    with transaction(engine) as session:
        stored = {item.title: item for item in items.list_items(session, limit=10)}
        assert deliveries.queue_depth(session) == 1
        assert feeds.get_feed(session, feed_id).last_error is None
    assert sorted(stored) == [
        "Sécurité : Bamako et Pékin se concertent",
        "Une machine à coudre primée à Ségou",
    ]
    matched = stored["Sécurité : Bamako et Pékin se concertent"]
    assert matched.topics == ("security",)
    assert (matched.link, matched.language, matched.source) == (
        "https://sahel.example/p1",
        "fr",
        "Sahel JSON",
    )
    assert matched.published.replace(tzinfo=UTC) == datetime(2026, 2, 23, 7, 0, tzinfo=UTC)
    assert "protection des ressortissants chinois" in matched.summary
    assert "<p>" not in matched.summary
    other = stored["Une machine à coudre primée à Ségou"]
    assert (other.topics, other.summary) == ((), "Un artisan de Ségou remporte un prix.\ufffd")


@pytest.mark.parametrize("workers", [0, 2], ids=["in a thread", "in worker processes"])
def test_the_content_type_reaches_the_parser(
    engine: Engine, feed_server: FeedServer, workers: int
) -> None:
    """Junk said to be a JSON Feed gets the JSON parser's complaint, the same junk said
    to be RSS the XML parser's: FetchResult.content_type is read, in both poll paths
    (a pool starts from 8 feeds due)."""
    clock = FixedClock()
    seeded(engine, clock)
    junk = b"\x00\x01 junk"
    feed_server.serve("/junk.json", junk, content_type="application/feed+json")
    feed_server.serve("/junk.rss", junk, content_type="application/rss+xml")
    for n in range(6):
        feed_server.serve(f"/ok{n}.json", SAHEL, content_type="application/json")
    ids = {
        path: add_feed(engine, feed_server.url(path), clock)
        for path in ["/junk.json", "/junk.rss", *(f"/ok{n}.json" for n in range(6))]
    }
    outcomes = {o.feed_id: o for o in run_poll(engine, clock, workers=workers)}
    assert outcomes[ids["/junk.json"]].error == (
        "not a feed (JSON error at line 1, column 1: Expecting value)"
    )
    assert outcomes[ids["/junk.rss"]].error == (
        "not a feed (XML error at line 2: not well-formed (invalid token))"
    )
    assert {outcomes[ids[f"/ok{n}.json"]].status for n in range(6)} == {"ok"}


def test_feeds_add_and_check_take_a_json_feed(env: Path, feed_server: FeedServer) -> None:
    feed_server.serve("/feed.json", SAHEL, content_type="application/feed+json")
    url = feed_server.url("/feed.json")
    runner = CliRunner()
    checked = runner.invoke(app, ["feeds", "check", url, "--json"])
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert (report["entries"], report["error"]) == (2, None)
    [matched] = report["matched"]
    assert (matched["title"], matched["topics"]) == (
        "Sécurité : Bamako et Pékin se concertent",
        ["security"],
    )
    added = runner.invoke(app, ["feeds", "add", url])
    assert added.exit_code == 0, added.output
    assert ": Le Sahel (JSON)" in added.output  # named after its title
    rows = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout)
    assert [row["name"] for row in rows if row["url"] == url] == ["Le Sahel (JSON)"]
