"""fetch_feed against a real HTTP server on loopback. Failures come back as data."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from datetime import UTC, datetime

import pytest

from bot.ingest.fetch import USER_AGENT, FetchLimits, fetch_feed, is_private_host, make_client
from bot.text import describe, parse_failure
from bot.types import FeedRef, FetchResult

NOW = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>a</title><guid>1</guid></item></channel></rss>"""


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: FetchLimits | None = None,
) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client() as client:
            feed = FeedRef(id=1, url=url, etag=etag, last_modified=last_modified)
            return await fetch_feed(client, feed, now=NOW, limits=limits)

    return asyncio.run(go())


def reason(result: FetchResult, language: str = "en") -> str:
    """Why the fetch failed, as the CLI (English) or /health (``language``) says it."""
    assert result.error is not None, "the fetch did not fail"
    return describe(result.error, language)


def test_validators_are_kept_and_sent_back_for_a_304(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/f.rss", RSS, etag='"v1"', last_modified="Mon, 23 Feb 2026 08:00:00 GMT")
    first = fetch(feed_server.url("/f.rss"))
    assert first.ok and first.status == 200 and first.body == RSS
    assert first.etag == '"v1"' and first.last_modified == "Mon, 23 Feb 2026 08:00:00 GMT"
    again = fetch(feed_server.url("/f.rss"), etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.ok and again.body == b""
    assert again.etag == '"v1"'  # kept for the next poll
    sent = feed_server.requests[-1].headers
    assert sent.get("If-None-Match") == '"v1"'
    assert sent.get("If-Modified-Since") == "Mon, 23 Feb 2026 08:00:00 GMT"
    assert sent.get("User-Agent") == USER_AGENT and "mcwatch" in USER_AGENT


def test_retry_after_is_reported(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/busy", b"slow down", status=429, headers={"Retry-After": "120"})
    result = fetch(feed_server.url("/busy"))
    assert reason(result) == "HTTP 429 Too Many Requests"
    assert result.retry_after == 120


def test_a_permanent_redirect_moves_the_feed(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/new.rss", RSS)
    feed_server.redirect("/old.rss", "/new.rss", status=301)
    result = fetch(feed_server.url("/old.rss"))
    assert result.ok and result.body == RSS
    assert result.permanent_url == feed_server.url("/new.rss")


def test_a_temporary_redirect_does_not(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/new.rss", RSS)
    feed_server.redirect("/tmp.rss", "/new.rss", status=302)
    result = fetch(feed_server.url("/tmp.rss"))
    assert result.ok and result.permanent_url is None


def test_redirect_loops_stop(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.redirect("/a", "/b", status=302)
    feed_server.redirect("/b", "/a", status=302)
    result = fetch(feed_server.url("/a"))
    assert reason(result) == "more than 5 redirects"


@pytest.mark.parametrize(
    ("status", "sentence"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")]
)
def test_http_errors_are_data(feed_server, status: int, sentence: str) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/x", b"nope", status=status)
    assert reason(fetch(feed_server.url("/x"))) == sentence


def test_a_failure_is_a_key_and_arguments_said_in_the_readers_language(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/x", b"nope", status=404)
    result = fetch(feed_server.url("/x"))
    assert result.error is not None
    assert parse_failure(result.error) == (
        "fetch_http_status",
        {"status": 404, "reason": "Not Found"},
    )
    assert reason(result, "fr") == "réponse HTTP 404 Not Found"


def test_a_slow_feed_times_out(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/slow", RSS, delay=2.0)
    result = fetch(feed_server.url("/slow"), limits=FetchLimits(timeout=0.3))
    assert reason(result) == "timed out after 0.3 s"
    assert reason(result, "fr") == "pas de réponse en 0,3 s"  # the French decimal comma


def test_a_gzip_bomb_is_refused_after_decompression(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/bomb", b"\0" * (64 * 1024 * 1024), gzip=True)  # 64 MiB → ~64 KB
    result = fetch(feed_server.url("/bomb"))
    assert reason(result) == "body larger than 5 MiB refused"


def test_a_gzip_bomb_costs_the_bound_not_its_size(feed_server) -> None:  # type: ignore[no-untyped-def]
    """httpx inflates each network chunk whole: 64 KB of this bomb were 64 MiB in memory
    before the bound could look. Inflating within the room left keeps it near 1 MiB."""
    feed_server.serve("/bomb", b"\0" * (64 * 1024 * 1024), gzip=True)
    tracemalloc.start()
    result = fetch(feed_server.url("/bomb"), limits=FetchLimits(max_bytes=1024 * 1024))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert reason(result) == "body larger than 1 MiB refused"
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        pytest.param("gzip", lambda b: gzip.compress(b), id="gzip"),
        pytest.param("gzip", lambda b: gzip.compress(b[:100]) + gzip.compress(b[100:]),
                     id="gzip in two members"),
        pytest.param("gzip", lambda b: gzip.compress(b) + b"\0" * 16, id="gzip then padding"),
        pytest.param("deflate", lambda b: zlib.compress(b), id="deflate (zlib)"),
        pytest.param("deflate", lambda b: zlib.compress(b)[2:-4], id="deflate (raw)"),
    ],
)
def test_compressed_feeds_are_decoded(feed_server, encoding, encode) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/z.rss", encode(RSS), headers={"Content-Encoding": encoding})
    result = fetch(feed_server.url("/z.rss"))
    assert result.ok and result.body == RSS
    sent = feed_server.requests_to("/z.rss")[0].headers
    assert sent.get("Accept-Encoding") == "gzip, deflate"


@pytest.mark.parametrize(
    ("encoding", "body", "error"),
    [
        ("br", b"\x0b\x02\x80abc\x03", "unsupported Content-Encoding: br"),
        ("gzip", b"\x1f\x8bnot gzip at all", "a broken gzip body"),
    ],
)
def test_an_undecodable_body_is_a_readable_error(feed_server, encoding, body, error) -> None:  # type: ignore[no-untyped-def]
    feed_server.serve("/z.rss", body, headers={"Content-Encoding": encoding})
    assert reason(fetch(feed_server.url("/z.rss"))) == error


def test_a_40_mb_body_is_refused_without_holding_it(feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.stream("/huge", b"<rss>" + b"x" * 65531, total_bytes=40 * 1024 * 1024)
    tracemalloc.start()
    result = fetch(feed_server.url("/huge"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert reason(result) == "body larger than 5 MiB refused"
    assert peak < 20 * 1024 * 1024


def test_nothing_listening_is_an_error_not_an_exception() -> None:
    result = fetch("http://127.0.0.1:9/feed")  # discard port: connection refused
    assert result.error and result.status == 0


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("169.254.169.254", True),
        ("[::1]", True),
        ("localhost", True),
        ("api.localhost", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_private_hosts(host: str, private: bool) -> None:
    assert asyncio.run(is_private_host(host)) is private
