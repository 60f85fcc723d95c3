"""Hostile and impolite feeds, polled together with a healthy one (issue 4's acceptance).

Each bad case must end as a health record with a readable reason while the healthy feed
is stored as usual; fetching must stay polite (two requests at a time per host) and
parsing must not block the event loop. Real loopback server, real database.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from bot.cli import app
from bot.clock import FixedClock
from bot.ingest.fetch import FetchLimits, fetch_feed
from bot.ingest.pipeline import PollOutcome, poll
from bot.text import describe
from bot.types import FeedRef
from store import feeds, items
from store.db import transaction
from tests.support.builders import add_feed, deps_for, seeded
from tests.support.feed_server import FeedServer

GOOD = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>Le Sahel</title><language>fr</language>
<item><guid>g1</guid><title>Sécurité : la Chine équipe la police malienne</title>
<description>Pékin a remis des véhicules aux forces de sécurité du Mali à
Bamako.</description><pubDate>Mon, 23 Feb 2026 08:00:00 GMT</pubDate></item>
<item><guid>g2</guid><title>Marché de Ségou : les prix du mil baissent</title>
<description>Les commerçants se réjouissent.</description></item>
</channel></rss>""".encode()
ENTITY_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY big "' + "A" * 10_000 + '">]>\n'
    '<rss version="2.0"><channel><title>t</title><item><guid>b1</guid><title>x</title>'
    "<description>" + "&big;" * 10_000 + "</description></item></channel></rss>"
).encode()

# (path, how the server answers, the reason a reader sees in `feeds health`)
HOSTILE = [
    pytest.param("/slow", {"body": GOOD, "delay": 5.0}, "timed out after 2 s", id="too slow"),
    pytest.param("/500", {"body": b"oops", "status": 500}, "HTTP 500 Internal Server Error",
                 id="server error"),
    pytest.param("/404", {"body": b"", "status": 404}, "HTTP 404 Not Found", id="gone"),
    pytest.param("/bomb", {"body": b"\0" * (64 << 20), "gzip": True},
                 "body larger than 5 MiB refused", id="gzip bomb"),
    pytest.param("/page", {"body": b"<!DOCTYPE html><html><body>Accueil</body></html>",
                           "content_type": "text/html"}, "an HTML page, not a feed",
                 id="an HTML page"),
    pytest.param("/junk", {"body": b"\x00\x01\x02 not xml at all \xff"},
                 "not a feed (XML error at line 2: not well-formed (invalid token))",
                 id="binary junk"),
    pytest.param("/empty", {"body": b"   "}, "empty body", id="an empty body"),
    pytest.param(
        "/crash",
        {"body": '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>t'
                 "</title><item><title>&amp;amp;x</title><description>&#xFFFFFF;</description>"
                 "</item></channel></rss>".encode("utf-16")},
        "not a feed (the parser failed: ValueError)",
        id="bytes that crash feedparser",
    ),
    pytest.param("/busy", {"body": b"", "status": 503, "headers": {"Retry-After": "3600"}},
                 "HTTP 503 Service Unavailable", id="busy with Retry-After"),
    pytest.param("/api.json", {"body": b'{"status": "ok", "data": []}',
                               "content_type": "application/json"},
                 "not a feed (JSON without a JSON Feed version)", id="JSON that is not a feed"),
    pytest.param("/deep.json", {"body": b"[" * 100_000 + b"]" * 100_000,
                                "content_type": "application/feed+json"},
                 "not a feed (JSON nested too deeply)", id="JSON nested 100,000 deep"),
]


def run_poll(engine: Engine, clock: FixedClock, **kwargs: object) -> list[PollOutcome]:
    async def go() -> list[PollOutcome]:
        async with deps_for(engine, clock) as deps:
            deps.fetch_limits = FetchLimits(timeout=2.0)
            return await poll(deps, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_every_hostile_feed_becomes_a_health_record_and_the_healthy_one_is_stored(
    engine: Engine, feed_server: FeedServer
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/good.rss", GOOD)
    feed_server.stream("/huge", b"<rss>" + b"x" * 65531, total_bytes=40 << 20)
    feed_server.serve("/entities", ENTITY_BOMB)
    feed_server.redirect("/loop-a", "/loop-b", status=302)
    feed_server.redirect("/loop-b", "/loop-a", status=302)
    expected = {"/huge": "body larger than 5 MiB refused", "/loop-a": "more than 5 redirects"}
    for param in HOSTILE:
        path, answer, reason = param.values
        feed_server.serve(path, **answer)  # type: ignore[arg-type]
        expected[path] = reason  # type: ignore[index]
    ids = {path: add_feed(engine, feed_server.url(path), clock) for path in expected}
    good = add_feed(engine, feed_server.url("/good.rss"), clock)
    entities = add_feed(engine, feed_server.url("/entities"), clock)

    outcomes = {o.feed_id: o for o in run_poll(engine, clock)}

    assert (outcomes[good].status, outcomes[good].new_items, outcomes[good].matched) == (
        "ok", 2, 1
    )
    assert outcomes[entities].status == "ok"  # defused, not expanded
    with transaction(engine) as session:
        assert items.count_items(session) == 3
        for path, reason in expected.items():
            row = feeds.get_feed(session, ids[path])
            assert (path, describe(row.last_error, "en"), row.failures) == (path, reason, 1)
            assert row.next_poll_at is not None and row.next_poll_at > clock.now()
        busy = feeds.get_feed(session, ids["/busy"])
        assert busy.next_poll_at is not None
        assert busy.next_poll_at - clock.now() >= timedelta(seconds=3600)  # Retry-After


def test_health_lists_the_failing_feeds_with_their_reasons(
    engine: Engine, feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/good.rss", GOOD)
    feed_server.serve("/500", b"", status=500)
    add_feed(engine, feed_server.url("/good.rss"), clock)
    add_feed(engine, feed_server.url("/500"), clock)
    run_poll(engine, clock)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCWATCH_DATABASE_URL", str(engine.url.render_as_string(False)))
    monkeypatch.delenv("MCWATCH_TELEGRAM_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["feeds", "health", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["url"]: row for row in json.loads(result.stdout)}
    assert rows[feed_server.url("/good.rss")]["status"] == "ok"
    failing = rows[feed_server.url("/500")]
    assert (failing["status"], failing["failures"]) == ("failing", 1)
    assert failing["last_error"] == "HTTP 500 Internal Server Error"


def test_at_most_two_requests_at_a_time_to_one_host(
    engine: Engine, feed_server: FeedServer
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    for n in range(6):
        feed_server.serve(f"/a{n}.rss", GOOD, delay=0.2)
        add_feed(engine, feed_server.url(f"/a{n}.rss"), clock)
    for n in range(3):  # the same server under another name: another host
        feed_server.serve(f"/b{n}.rss", GOOD, delay=0.2)
        add_feed(engine, feed_server.url(f"/b{n}.rss").replace("127.0.0.1", "localhost"), clock)
    outcomes = run_poll(engine, clock)
    assert [o.status for o in outcomes] == ["ok"] * 9
    assert feed_server.max_in_flight == {"127.0.0.1": 2, "localhost": 2}


def test_the_event_loop_keeps_answering_while_a_big_feed_is_parsed(
    engine: Engine, feed_server: FeedServer
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    entry = (
        "<item><guid>{n}</guid><title>Titre {n} : la saison des pluies à Kayes</title>"
        "<description>" + "Les paysans préparent les champs avant l'hivernage. " * 40
        + "</description></item>"
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>big</title>'
        + "".join(entry.format(n=n) for n in range(2100))
        + "</channel></rss>"
    ).encode()
    assert 4 << 20 < len(body) < 5 << 20
    feed_server.serve("/big.rss", body)
    add_feed(engine, feed_server.url("/big.rss"), clock)

    async def go() -> tuple[float, float, int]:
        async with deps_for(engine, clock) as deps:
            ticks = 0
            longest = 0.0

            async def heartbeat() -> None:
                nonlocal ticks, longest
                last = time.perf_counter()
                while True:
                    await asyncio.sleep(0.01)
                    now = time.perf_counter()
                    longest = max(longest, now - last)
                    last, ticks = now, ticks + 1

            beat = asyncio.create_task(heartbeat())
            started = time.perf_counter()
            [outcome] = await poll(deps)
            took = time.perf_counter() - started
            beat.cancel()
            assert outcome.status == "ok" and outcome.new_items == 2100
            return took, longest, ticks

    took, longest, ticks = asyncio.run(go())
    # The poll takes seconds (feedparser is pure Python); a loop blocked by it would not
    # tick at all meanwhile. Generous bound: a quarter of the poll, at most 1 s.
    assert longest < min(1.0, took / 4), (took, longest, ticks)


def test_a_public_feed_may_not_redirect_into_a_private_address() -> None:
    """httpx's transport seam stands for a public server (no DNS, no network)."""

    def public_server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/feed":
            return httpx.Response(301, headers={"Location": "http://127.0.0.1:8080/admin"})
        return httpx.Response(200, content=GOOD)

    async def go() -> str | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(public_server)) as client:
            result = await fetch_feed(
                client, FeedRef(id=1, url="http://93.184.216.34/feed"),
                now=datetime(2026, 2, 23, tzinfo=UTC),
            )
            return describe(result.error, "en")

    assert asyncio.run(go()) == "redirect into a private address refused: 127.0.0.1"
