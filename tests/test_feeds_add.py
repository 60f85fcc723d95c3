"""`mcwatch feeds add` as users add feeds (issue 12): malformed URLs refused as usage
errors, a web page replaced by the feed it announces, the feed's title as its name,
an unreachable feed kept with a warning, and feed ids out of range refused in one line.

Through the console script's own ``main`` (one-line errors, SPEC's exit codes), a real
SQLite file (and PostgreSQL when named, see tests/support/db.py) and the loopback feed
server; nothing here reaches the internet.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.ingest.discover import announced_feeds, feed_url_problem
from tests.support.feed_server import FeedServer

FEED = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>  Bamako
  Matin </title><language>fr</language>
<item><guid>m1</guid><title>Kati : des m\xc3\xa9decins chinois</title></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Sahel Wire</title><id>urn:x</id>
<updated>2026-03-10T09:00:00Z</updated></feed>"""


def page(*links: str, base: str = "") -> bytes:
    """A news site's home page announcing ``links`` (raw ``<link>`` elements)."""
    head = "".join(links) + (f'<base href="{base}">' if base else "")
    return (
        "<!DOCTYPE html><html lang=fr><head><meta charset=utf-8><title>Bamako Matin</title>"
        f'<link rel="stylesheet" href="/style.css">{head}</head>'
        "<body><h1>À la une</h1><p>Kati, Ségou, Bamako.</p></body></html>"
    ).encode()


def rss_link(href: str, title: str = "RSS") -> str:
    return f'<link rel="alternate" type="application/rss+xml" title="{title}" href="{href}">'


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


Mcwatch = Callable[..., Run]


@pytest.fixture
def mcwatch(env: Path, capsys: pytest.CaptureFixture[str]) -> Mcwatch:
    """Run ``mcwatch ARGS…`` as the console script does, in the test's directory."""

    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def feeds(mcwatch: Mcwatch) -> list[dict[str, object]]:
    listed = mcwatch("feeds", "list", "--json")
    assert listed.code == 0, listed.err
    rows: list[dict[str, object]] = json.loads(listed.out)
    return rows


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- malformed URLs: a usage error, one line, nothing stored ----------------------------

MALFORMED = [
    pytest.param("http://", "the URL has no host", id="a scheme and nothing else"),
    pytest.param("http:///feed.xml", "the URL has no host", id="an empty host"),
    pytest.param(
        "https://exa mple.org/feed",
        "a URL cannot contain spaces or control characters",
        id="a space in the host",
    ),
    pytest.param(
        "https://example.org/my feed.xml",
        "a URL cannot contain spaces or control characters",
        id="a space in the path",
    ),
    pytest.param(
        "https://example.org/\x07feed",
        "a URL cannot contain spaces or control characters",
        id="a control character",
    ),
    pytest.param(
        "http://localhost:99999/x", "the port must be a number from 1 to 65535", id="port > 65535"
    ),
    pytest.param("http://example.org:0/x", "the port must be", id="port 0"),
    pytest.param("http://example.org:rss/x", "the port must be", id="a port that is no number"),
    pytest.param("ftp://old.example/feed", "not an http(s) URL", id="another scheme"),
    pytest.param("feed.xml", "not an http(s) URL", id="a file name"),
    pytest.param("javascript:alert(1)", "not an http(s) URL", id="javascript:"),
    pytest.param("example.org/feed", "not an http(s) URL", id="no scheme"),
    pytest.param("http://exa..mple.org/", "not a valid host name", id="an empty label"),
    pytest.param("http://[::1/feed", "not a valid host name", id="an unclosed IPv6 literal"),
    pytest.param("http://999.0.0.1/feed", "not a valid host name", id="an IPv4 out of range"),
]


@pytest.mark.parametrize(("url", "reason"), MALFORMED)
def test_a_malformed_url_is_refused_as_bad_usage_and_nothing_is_stored(
    mcwatch: Mcwatch, env: Path, url: str, reason: str
) -> None:
    run = mcwatch("feeds", "add", url)
    assert (run.code, run.out) == (2, "")
    [line] = run.err.splitlines()
    assert line.startswith("mcwatch feeds add: error: Invalid value for URL: ")
    assert reason in line
    assert not (env / "data").exists()  # refused before the database is even opened


def test_a_refused_url_leaves_the_watch_list_as_it_was(mcwatch: Mcwatch) -> None:
    before = feeds(mcwatch)
    assert mcwatch("feeds", "add", "http://localhost:99999/x").code == 2
    assert feeds(mcwatch) == before


@pytest.mark.parametrize(
    "url", ["http://", "https://exa mple.org/feed", "http://localhost:99999/x", "feed.xml"]
)
def test_feeds_check_refuses_the_same_urls(mcwatch: Mcwatch, url: str) -> None:
    run = mcwatch("feeds", "check", url)
    assert (run.code, run.out) == (2, "")
    assert len(run.err.splitlines()) == 1
    assert run.err.startswith("mcwatch feeds check: error: Invalid value for URL: ")


@pytest.mark.parametrize(
    "url",
    [
        "https://www.studiotamani.org/feed/",
        "HTTPS://EXAMPLE.ORG/rss",
        "http://127.0.0.1:8080/feed.xml",
        "http://[::1]:8080/feed.xml",
        "https://example.org./rss",
        "https://bamako.例え.jp/フィード",
        "https://user:secret@private.example/rss",
        "https://news.google.com/rss/search?q=Mali+Chine&hl=fr&gl=FR&ceid=FR:fr",
        "http://a_b.example:1/x#top",
    ],
)
def test_what_a_feed_url_may_look_like(url: str) -> None:
    assert feed_url_problem(url) is None


# -- a feed: fetched once, its title as the name ----------------------------------------


def test_a_feed_is_named_after_its_own_title(mcwatch: Mcwatch, feed_server: FeedServer) -> None:
    feed_server.serve("/matin.rss", FEED)
    run = mcwatch("feeds", "add", feed_server.url("/matin.rss"))
    assert run.code == 0, run.err
    assert run.err == ""
    [line] = run.out.splitlines()
    assert line.startswith("added feed ") and line.endswith(": Bamako Matin")
    [row] = [f for f in feeds(mcwatch) if f["url"] == feed_server.url("/matin.rss")]
    assert row["name"] == "Bamako Matin"
    assert len(feed_server.requests_to("/matin.rss")) == 1


def test_the_name_given_wins_over_the_title(mcwatch: Mcwatch, feed_server: FeedServer) -> None:
    feed_server.serve("/wire.atom", ATOM, content_type="application/atom+xml")
    url = "  " + feed_server.url("/wire.atom") + " "  # pasted with spaces around: fine
    run = mcwatch("feeds", "add", url, "--name", "SW", "--lang", "en")
    assert run.code == 0, run.err
    assert run.out.strip().endswith(": SW")
    [row] = [f for f in feeds(mcwatch) if f["url"] == feed_server.url("/wire.atom")]
    assert row["name"] == "SW"


def test_a_feed_already_watched_is_refused_without_fetching_it(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.serve("/matin.rss", FEED)
    assert mcwatch("feeds", "add", feed_server.url("/matin.rss")).code == 0
    again = mcwatch("feeds", "add", feed_server.url("/matin.rss"))
    assert again.code == 1
    assert again.err == f"mcwatch: error: feed already watched: {feed_server.url('/matin.rss')}\n"
    assert len(feed_server.requests_to("/matin.rss")) == 1


# -- a web page: the feed it announces --------------------------------------------------


def test_a_page_is_replaced_by_the_feed_it_announces(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.serve(
        "/actualites/",
        page(
            rss_link("../feed/rss.xml"),  # relative to the page: /feed/rss.xml
            '<link rel="alternate" type="application/atom+xml" href="/feed/atom.xml">',
        ),
        content_type="text/html; charset=utf-8",
    )
    feed_server.serve("/feed/rss.xml", FEED)
    run = mcwatch("feeds", "add", feed_server.url("/actualites/"))
    assert run.code == 0, run.err
    chosen, added = run.out.splitlines()
    assert chosen == (
        f"found the feed the page announces: {feed_server.url('/feed/rss.xml')} "
        f"(the first of 2; also {feed_server.url('/feed/atom.xml')})"
    )
    assert added.endswith(": Bamako Matin")
    urls = [f["url"] for f in feeds(mcwatch)]
    assert feed_server.url("/feed/rss.xml") in urls
    assert feed_server.url("/actualites/") not in urls


def test_relative_links_resolve_against_the_page_reached_after_redirects(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.redirect("/", "/fr/accueil", status=302)
    feed_server.serve("/fr/accueil", page(rss_link("flux.rss")), content_type="text/html")
    feed_server.serve("/fr/flux.rss", FEED)
    run = mcwatch("feeds", "add", feed_server.url("/"))
    assert run.code == 0, run.err
    assert run.out.splitlines()[0] == (
        f"found the feed the page announces: {feed_server.url('/fr/flux.rss')}"
    )


def test_a_page_that_announces_no_feed_is_refused(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.serve("/about", page(), content_type="text/html")
    before = feeds(mcwatch)
    run = mcwatch("feeds", "add", feed_server.url("/about"))
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"mcwatch: error: {feed_server.url('/about')}: an HTML page, not a feed, "
        "and it announces no feed\n"
    )
    assert feeds(mcwatch) == before


def test_a_page_announcing_something_that_is_not_a_feed_is_refused(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.serve("/", page(rss_link("/rss")), content_type="text/html")
    feed_server.serve("/rss", page(), content_type="text/html")  # a CMS's broken link
    before = feeds(mcwatch)
    run = mcwatch("feeds", "add", feed_server.url("/"))
    assert run.code == 1
    assert run.err.splitlines()[-1] == (
        f"mcwatch: error: the page announces {feed_server.url('/rss')}, which is not a feed: "
        "an HTML page, not a feed"
    )
    assert feeds(mcwatch) == before


def test_a_page_announcing_a_feed_already_watched_says_so(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.serve("/", page(rss_link("/rss")), content_type="text/html")
    feed_server.serve("/rss", FEED)
    assert mcwatch("feeds", "add", feed_server.url("/rss")).code == 0
    run = mcwatch("feeds", "add", feed_server.url("/"))
    assert run.code == 1
    assert run.err == f"mcwatch: error: feed already watched: {feed_server.url('/rss')}\n"


def test_feeds_check_of_a_page_names_the_feed_it_announces(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.serve("/", page(rss_link("/rss")), content_type="text/html")
    run = mcwatch("feeds", "check", feed_server.url("/"))
    assert run.code == 1
    assert run.err.splitlines()[-1] == (
        f"mcwatch: error: {feed_server.url('/')}: an HTML page, not a feed; "
        f"the page announces {feed_server.url('/rss')}"
    )


# -- unreachable now: stored, with a warning --------------------------------------------


def test_a_feed_that_cannot_be_fetched_now_is_stored_with_a_warning(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    url = feed_server.url("/not-yet.rss")  # 404 today; the site may publish it tomorrow
    run = mcwatch("feeds", "add", url, "--name", "Studio Tamani")
    assert run.code == 0
    assert run.out.strip().endswith(": Studio Tamani")
    assert run.err == "mcwatch: warning: stored, but could not be fetched now: HTTP 404 Not Found\n"
    assert url in [f["url"] for f in feeds(mcwatch)]


def test_a_server_that_is_down_is_stored_with_a_warning_and_the_url_as_name(
    mcwatch: Mcwatch,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/feed"
    run = mcwatch("feeds", "add", url)
    assert run.code == 0
    assert run.out.strip().endswith(f": {url}")
    [line] = run.err.splitlines()
    assert line.startswith("mcwatch: warning: stored, but could not be fetched now: ConnectError")
    [row] = [f for f in feeds(mcwatch) if f["url"] == url]
    assert row["name"] == url


def test_the_announced_feed_down_now_is_stored_with_a_warning(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    feed_server.serve("/", page(rss_link("/rss")), content_type="text/html")
    run = mcwatch("feeds", "add", feed_server.url("/"))
    assert run.code == 0
    assert run.out.splitlines()[0].endswith(feed_server.url("/rss"))
    assert run.err == "mcwatch: warning: stored, but could not be fetched now: HTTP 404 Not Found\n"
    assert feed_server.url("/rss") in [f["url"] for f in feeds(mcwatch)]


# -- feed ids out of range: one line, never a traceback, on both databases ---------------


@pytest.fixture
def on_database(env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MCWATCH_DATABASE_URL", database_url)
    return database_url


@pytest.mark.parametrize("command", ["remove", "enable", "disable"])
@pytest.mark.parametrize(
    "feed_id",
    [
        pytest.param("100000000000000000000", id="beyond 64 bits"),
        pytest.param("9223372036854775808", id="2**63"),
        pytest.param("2147483648", id="beyond the 32-bit id column"),
        pytest.param("0", id="zero"),
        pytest.param("-3", id="negative"),
    ],
)
def test_a_feed_id_out_of_range_is_bad_usage_in_one_line(
    mcwatch: Mcwatch, on_database: str, command: str, feed_id: str
) -> None:
    run = mcwatch("feeds", command, "--", feed_id)
    assert (run.code, run.out) == (2, "")
    assert run.err == (
        f"mcwatch feeds {command}: error: Invalid value for 'ID': {feed_id} is not a feed id "
        f"(ids are whole numbers from 1 to 2147483647) (see 'mcwatch feeds {command} --help')\n"
    )


@pytest.mark.parametrize("command", ["remove", "enable", "disable"])
@pytest.mark.parametrize("feed_id", ["2147483647", "999"])
def test_a_feed_id_in_range_but_absent_is_a_failure_in_one_line(
    mcwatch: Mcwatch, on_database: str, command: str, feed_id: str
) -> None:
    run = mcwatch("feeds", command, feed_id)
    assert (run.code, run.out, run.err) == (1, "", f"mcwatch: error: no feed with id {feed_id}\n")


def test_poll_of_a_feed_id_beyond_the_id_column_is_bad_usage(
    mcwatch: Mcwatch, on_database: str
) -> None:
    """PostgreSQL refuses 2**31 in a query on the 32-bit id column: the option refuses it
    first (bot.types.MAX_ROW_ID), as feeds remove does."""
    run = mcwatch("poll", "--feed", "2147483648")
    assert run.code == 2
    assert run.err.startswith("mcwatch poll: error: Invalid value for '--feed'")
    assert run.err.count("\n") == 1


# -- discovery in a page, pure -------------------------------------------------------------

PAGE_URL = "https://www.example.org/actualites/mali.html"


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        pytest.param(
            [rss_link("flux.rss")],
            ["https://www.example.org/actualites/flux.rss"],
            id="a relative href resolves against the page",
        ),
        pytest.param(
            [rss_link("//cdn.example.net/rss")],
            ["https://cdn.example.net/rss"],
            id="a scheme-relative href takes the page's scheme",
        ),
        pytest.param(
            ['<LINK REL="Alternate Feed" TYPE="Application/RSS+XML; charset=utf-8" HREF="/rss">'],
            ["https://www.example.org/rss"],
            id="tag, rel tokens and type are case-insensitive; type parameters ignored",
        ),
        pytest.param(
            [
                '<link rel="alternate" type="application/atom+xml" href="/atom"/>',
                '<link rel="alternate" type="application/rdf+xml" href="/rdf">',
            ],
            ["https://www.example.org/atom", "https://www.example.org/rdf"],
            id="Atom and RSS 1.0 too, in document order, self-closing or not",
        ),
        pytest.param(
            [rss_link("/rss#latest"), rss_link("/rss"), rss_link("mali.html")],
            ["https://www.example.org/rss"],
            id="each feed once, without fragment, never the page itself",
        ),
        pytest.param(
            ['<link rel="alternate" type="application/feed+json" href="/feed.json">'],
            ["https://www.example.org/feed.json"],
            id="a JSON Feed",
        ),
        pytest.param(
            [
                '<link rel="alternate" type="application/json" href="/wp-json/wp/v2/posts/1">',
                '<link rel="alternate" hreflang="en" href="/en/">',
                '<link rel="stylesheet" type="application/rss+xml" href="/odd">',
                rss_link("javascript:void(0)"),
                rss_link("ftp://x.example/rss"),
                rss_link(""),
                rss_link("http://bad host/rss"),
            ],
            [],
            id="REST API JSON, translations, other rels, non-http and broken hrefs: not feeds",
        ),
        pytest.param(
            [rss_link("/rss?a=1&amp;b=2")],
            ["https://www.example.org/rss?a=1&b=2"],
            id="character references in the href are decoded",
        ),
    ],
)
def test_the_feeds_a_page_announces(links: list[str], expected: list[str]) -> None:
    assert announced_feeds(page(*links), PAGE_URL) == expected


def test_base_href_sets_where_relative_links_point() -> None:
    body = page(rss_link("rss.xml"), base="https://static.example.org/fr/")
    assert announced_feeds(body, PAGE_URL) == ["https://static.example.org/fr/rss.xml"]


@pytest.mark.parametrize(
    ("content_type", "meta"),
    [
        pytest.param("text/html; charset=iso-8859-1", "", id="charset from the server"),
        pytest.param("text/html", '<meta charset="windows-1252">', id="charset from the page"),
    ],
)
def test_a_page_in_a_legacy_charset_keeps_its_non_ascii_links(content_type: str, meta: str) -> None:
    body = (
        f'<html><head>{meta}<link rel="alternate" type="application/rss+xml" '
        'href="/flux-sécurité.rss"></head></html>'
    ).encode("latin-1")
    assert announced_feeds(body, PAGE_URL, content_type) == [
        "https://www.example.org/flux-sécurité.rss"
    ]


def test_a_public_page_cannot_point_feeds_add_into_a_private_network() -> None:
    """As for redirects (bot.ingest.fetch): a page on a public address announcing a feed on
    loopback or a private range does not get it added. IP literals: no DNS asked."""
    import asyncio

    from bot.cli.feeds import _announced
    from bot.types import FetchResult

    body = page(
        rss_link("http://127.0.0.1:8080/rss"),
        rss_link("http://10.0.0.7/rss"),
        rss_link("http://8.8.4.4/rss"),
    )
    public = FetchResult(feed_id=0, url="http://8.8.8.8/", status=200, body=body)
    assert asyncio.run(_announced(public)) == ["http://8.8.4.4/rss"]
    private = FetchResult(feed_id=0, url="http://127.0.0.1:9/", status=200, body=body)
    assert len(asyncio.run(_announced(private))) == 3  # a private page may: it is the admin's


def test_an_interval_below_the_schedules_floor_is_refused_with_its_reason(
    mcwatch: Mcwatch, feed_server: FeedServer
) -> None:
    """bot.ingest.schedule never polls more often than MIN_INTERVAL: a shorter --interval used
    to be stored and silently raised; it is refused, and nothing is stored."""
    feed_server.serve("/rss", FEED)
    run = mcwatch("feeds", "add", feed_server.url("/rss"), "--interval", "60")
    assert run.code == 2
    assert run.err.splitlines() == [
        "mcwatch feeds add: error: Invalid value for '--interval': 60 is below 300 s: mcwatch "
        "never polls a publisher more often than every 5 minutes "
        "(see 'mcwatch feeds add --help')"
    ]
    assert mcwatch("feeds", "add", feed_server.url("/rss"), "--interval", "300").code == 0
