"""`/metrics` and `/healthz`: the real server on a loopback port, scraped with httpx.

Real work moves the numbers: a feed served by the loopback feed server is polled, its
alerts go out through a sender (ours, recorded) or through python-telegram-bot to the
Bot API stand-in (for Telegram's 429). The text is read back with prometheus_client's
own parser. Time is the FixedClock's; nothing sleeps, except the daemon test, which
waits for a real scheduler tick.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from bot import __version__
from bot.clock import FixedClock, SystemClock
from bot.deps import Deps, open_deps
from bot.errors import RetryLater, SettingsError
from bot.health import REQUEST_TIMEOUT, STALE_AFTER_POLLS, MetricsServer, serve_metrics
from bot.ingest.fetch import FetchLimits
from bot.jobs import deliver_tick, poll_tick, run_forever
from bot.metrics import Metrics, PrometheusMetrics
from bot.settings import Secret, Settings
from store import feeds
from store.db import transaction
from tests.support.builders import RecordingSender, add_feed, add_subscriber, deps_for, no_pacing
from tests.support.builders import seeded as seed_topics

ROOT = Path(__file__).resolve().parent.parent
CHAT = 4242
TOKEN = "123456:TEST-token-not-real"
POLL_INTERVAL = 900
WINDOW = STALE_AFTER_POLLS * POLL_INTERVAL  # /healthz's limit, in seconds

ITEM = """<item><guid>{guid}</guid><title>{title}</title><link>https://example.org/{guid}</link>
<description>{text}</description></item>"""
FEED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
    "<title>Le Sahel</title><language>fr</language>"
    + ITEM.format(
        guid="p1",
        title="Sécurité : Bamako et Pékin se concertent",
        text="L'ambassadeur de Chine et le ministre malien de la Sécurité ont parlé à Bamako "
        "de la protection des ressortissants chinois.",
    )
    + ITEM.format(
        guid="p2",
        title="Route Kayes–Kita : une entreprise chinoise achève le premier tronçon",
        text="Financé par un prêt de la Chine, le chantier routier au Mali emploie "
        "plusieurs centaines d'ouvriers maliens.",
    )
    + ITEM.format(
        guid="n1",
        title="Une machine à coudre primée à Ségou",
        text="Un artisan de Ségou remporte un prix.",
    )
    + "</channel></rss>"
)

# Every family /metrics exposes, and its type: the names are the contract of dashboards
# and alert rules (counters without their _total suffix, as the parser names them).
EXPECTED = {
    "mcwatch_polls": "counter",
    "mcwatch_items_new": "counter",
    "mcwatch_items_matched": "counter",
    "mcwatch_alerts_queued": "counter",
    "mcwatch_alerts_sent": "counter",
    "mcwatch_alerts_retried": "counter",
    "mcwatch_alerts_failed": "counter",
    "mcwatch_telegram_retry_after": "counter",
    "mcwatch_digests": "counter",
    "mcwatch_feeds": "gauge",
    "mcwatch_queue_depth": "gauge",
    "mcwatch_queue_oldest_age_seconds": "gauge",
    "mcwatch_last_poll_success_timestamp_seconds": "gauge",
    "mcwatch_last_sent_timestamp_seconds": "gauge",
    "mcwatch_build_info": "gauge",
}


# -- helpers ----------------------------------------------------------------------------
class Scrape:
    """One /metrics answer, parsed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families: dict[str, Metric] = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float | None:
        for family in self.families.values():
            for found in family.samples:
                if found.name == sample and found.labels == labels:
                    return float(found.value)
        return None


async def scrape(client: httpx.AsyncClient, server: MetricsServer) -> Scrape:
    answer = await client.get(f"{server.url}/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return Scrape(answer.text)


async def health(client: httpx.AsyncClient, server: MetricsServer) -> tuple[int, dict[str, Any]]:
    answer = await client.get(f"{server.url}/healthz")
    assert answer.headers["content-type"] == "application/json"
    return answer.status_code, answer.json()


@asynccontextmanager
async def served(deps: Deps) -> AsyncIterator[tuple[MetricsServer, httpx.AsyncClient]]:
    """The metrics server on a free loopback port, and a client for it."""
    async with (
        serve_metrics(deps, host="127.0.0.1", port=0) as server,
        httpx.AsyncClient(timeout=5.0) as client,
    ):
        yield server, client


def one_feed(engine: Engine, clock: FixedClock, feed_server: Any) -> int:
    """Seeded topics, one reader of every topic, one loopback feed with two stories."""
    seed_topics(engine, clock)
    add_subscriber(engine, CHAT, clock)
    feed_server.serve("/sahel.rss", FEED.encode())
    return add_feed(engine, feed_server.url("/sahel.rss"), clock)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- /metrics ---------------------------------------------------------------------------
def test_a_poll_and_its_alerts_move_the_counters(engine: Engine, feed_server: Any) -> None:
    clock = FixedClock()
    one_feed(engine, clock, feed_server)
    sender = RecordingSender()

    async def go() -> tuple[Scrape, Scrape, Scrape]:
        async with deps_for(engine, clock, sender) as deps, served(deps) as (server, client):
            before = await scrape(client, server)
            await poll_tick(deps)
            clock.advance(seconds=90)  # the alerts wait a minute and a half
            waiting = await scrape(client, server)
            await deliver_tick(deps)
            return before, waiting, await scrape(client, server)

    before, waiting, after = asyncio.run(go())
    assert waiting.value("mcwatch_queue_depth") == 2
    assert waiting.value("mcwatch_queue_oldest_age_seconds") == 90
    assert before.value("mcwatch_polls_total", outcome="ok") == 0
    assert before.value("mcwatch_feeds", status="ok") == 1
    assert before.value("mcwatch_last_poll_success_timestamp_seconds") is None  # never
    assert before.value("mcwatch_last_sent_timestamp_seconds") is None

    assert after.value("mcwatch_polls_total", outcome="ok") == 1
    assert after.value("mcwatch_polls_total", outcome="error") == 0
    assert after.value("mcwatch_items_new_total") == 3
    assert after.value("mcwatch_items_matched_total") == 2
    assert after.value("mcwatch_alerts_queued_total") == 2
    assert after.value("mcwatch_alerts_sent_total") == 2 == len(sender.sent)
    assert after.value("mcwatch_alerts_failed_total", reason="rejected") == 0
    assert after.value("mcwatch_queue_depth") == 0
    assert after.value("mcwatch_queue_oldest_age_seconds") == 0
    assert after.value("mcwatch_feeds", status="failing") == 0
    polled_at = FixedClock().now().timestamp()
    assert after.value("mcwatch_last_poll_success_timestamp_seconds") == polled_at
    assert after.value("mcwatch_last_sent_timestamp_seconds") == clock.now().timestamp()


def test_every_name_follows_the_prometheus_conventions(engine: Engine) -> None:
    async def go() -> Scrape:
        async with deps_for(engine, FixedClock()) as deps, served(deps) as (server, client):
            deps.metrics.delivered("sent")  # so that the last-sent gauge has a sample
            return await scrape(client, server)

    found = asyncio.run(go())
    assert found.families.keys() >= EXPECTED.keys()
    for name, family in found.families.items():
        assert name.startswith("mcwatch_"), name
        assert family.documentation, f"{name} has no HELP text"
        if name in EXPECTED:
            assert family.type == EXPECTED[name], name
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name == f"{name}_total", sample.name  # and no _created
            else:
                assert not sample.name.endswith("_total"), sample.name
            # Fixed words only: no URL, chat id or token in a label value.
            for value in sample.labels.values():
                assert value.replace("-", "").replace(".", "").isalnum(), value
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), name
    assert found.value("mcwatch_build_info", version=__version__) == 1
    assert TOKEN not in found.text


def test_a_feed_that_fails_is_counted_and_shown_failing(engine: Engine, feed_server: Any) -> None:
    clock = FixedClock()
    seed_topics(engine, clock)
    feed_server.serve("/gone.rss", b"gone", status=500, content_type="text/plain")
    add_feed(engine, feed_server.url("/gone.rss"), clock)
    disabled = add_feed(engine, "https://disabled.example/rss", clock, name="off")
    with transaction(engine) as session:
        feeds.set_feed_enabled(session, disabled, False, clock.now())

    async def go() -> tuple[Scrape, tuple[int, dict[str, Any]]]:
        async with deps_for(engine, clock) as deps, served(deps) as (server, client):
            await poll_tick(deps)
            return await scrape(client, server), await health(client, server)

    found, (status, document) = asyncio.run(go())
    assert found.value("mcwatch_polls_total", outcome="error") == 1
    assert found.value("mcwatch_feeds", status="failing") == 1
    assert found.value("mcwatch_feeds", status="disabled") == 1
    assert found.value("mcwatch_feeds", status="ok") == 0
    assert status == 503
    assert document["problems"] == ["no feed has been polled successfully yet"]


def test_a_429_from_the_bot_api_is_counted_and_the_alert_sent_later(
    engine: Engine, feed_server: Any, botapi: Any
) -> None:
    """python-telegram-bot over HTTP to the stand-in: its 429 becomes our RetryLater."""
    from bot.telegram.app import build_application
    from bot.telegram.sender import TelegramSender

    clock = FixedClock()
    one_feed(engine, clock, feed_server)
    settings = Settings(
        database_url=str(engine.url),
        telegram_token=Secret(TOKEN),
        telegram_api_url=botapi.base_url,
        poll_interval=POLL_INTERVAL,
    )

    async def wait(seconds: float) -> None:  # a retry_after hold moves the clock
        clock.advance(seconds=seconds)

    pacer = replace(no_pacing(), now=lambda: clock.now().timestamp(), sleep=wait)

    async def go() -> tuple[Scrape, tuple[int, dict[str, Any]]]:
        application = build_application(settings)
        await application.initialize()
        try:
            async with (
                open_deps(
                    settings,
                    engine,
                    TelegramSender(application.bot),
                    clock=clock,
                    pacer=pacer,
                    fetch_limits=FetchLimits(timeout=5.0),
                ) as deps,
                served(deps) as (server, client),
            ):
                await poll_tick(deps)
                # Longer than bot.deliver.send_policy.QUEUED.longest_wait (10 s): the first
                # alert goes back to the queue; the chat's second waits the 30 s out
                # (the clock moves), then both go, within the same tick.
                botapi.retry_after_next(30, chat_id=CHAT, times=1)
                await deliver_tick(deps)
                return await scrape(client, server), await health(client, server)
        finally:
            await application.shutdown()

    found, (status, document) = asyncio.run(go())
    assert botapi.too_many_requests == 1
    assert found.value("mcwatch_telegram_retry_after_total") == 1
    assert found.value("mcwatch_alerts_retried_total") == 1
    assert found.value("mcwatch_alerts_sent_total") == 2 == len(botapi.messages_to(CHAT))
    assert found.value("mcwatch_queue_depth") == 0
    assert found.value("mcwatch_last_sent_timestamp_seconds") == clock.now().timestamp()
    assert status == 200 and document["last_sent"] == clock.now().isoformat()
    assert TOKEN not in found.text


# -- /healthz ---------------------------------------------------------------------------
def test_healthz_is_503_before_any_successful_poll_200_after_and_503_when_stale(
    engine: Engine, feed_server: Any
) -> None:
    clock = FixedClock()
    one_feed(engine, clock, feed_server)

    async def go() -> list[tuple[int, dict[str, Any]]]:
        async with (
            deps_for(engine, clock, poll_interval=POLL_INTERVAL) as deps,
            served(deps) as (server, client),
        ):
            fresh = await health(client, server)
            await poll_tick(deps)
            polled = await health(client, server)
            clock.advance(seconds=WINDOW - 1)
            nearly = await health(client, server)
            clock.advance(seconds=2)
            stale = await health(client, server)
            head = await client.head(f"{server.url}/healthz")
            assert (head.status_code, head.content) == (503, b"")
            return [fresh, polled, nearly, stale]

    fresh, polled, nearly, stale = asyncio.run(go())
    assert fresh[0] == 503 and fresh[1]["status"] == "unhealthy"
    assert fresh[1]["problems"] == ["no feed has been polled successfully yet"]
    assert polled[0] == 200 and polled[1]["status"] == "ok" and polled[1]["problems"] == []
    assert polled[1]["last_poll_success"] == FixedClock().now().isoformat()  # the start
    assert polled[1]["window_seconds"] == WINDOW
    assert nearly[0] == 200
    assert stale[0] == 503
    assert stale[1]["problems"] == [
        f"no feed polled successfully for {WINDOW + 1} s (limit {WINDOW} s)"
    ]


def test_healthz_is_503_when_every_alert_is_put_back_for_the_window(
    engine: Engine, feed_server: Any
) -> None:
    """Telegram unreachable (5xx, timeouts) while the feeds answer: the delivery check."""
    clock = FixedClock()
    one_feed(engine, clock, feed_server)
    sender = RecordingSender(fail={CHAT: RetryLater("Bad Gateway", 5, backoff=True)})

    async def go() -> list[tuple[int, dict[str, Any]]]:
        async with (
            deps_for(engine, clock, sender, poll_interval=POLL_INTERVAL) as deps,
            served(deps) as (server, client),
        ):
            await poll_tick(deps)
            await deliver_tick(deps)
            first = await health(client, server)
            clock.advance(seconds=WINDOW + 60)
            await poll_tick(deps)  # the feed is due again and answers
            await deliver_tick(deps)
            stuck = await health(client, server)
            sender.fail.clear()  # Telegram is back
            clock.advance(hours=2)  # past the backoff of the alerts put back
            await poll_tick(deps)
            await deliver_tick(deps)
            return [first, stuck, await health(client, server)]

    first, stuck, recovered = asyncio.run(go())
    assert first[0] == 200
    assert stuck[0] == 503
    [problem] = stuck[1]["problems"]
    assert problem.startswith("no alert sent for ") and "Telegram" in problem
    assert recovered[0] == 200 and recovered[1]["last_sent"] is not None
    assert len(sender.sent) == 2


def test_healthz_with_no_enabled_feed_is_healthy(engine: Engine) -> None:
    """Nothing to poll is a watch list to fill, not a process to restart."""

    async def go() -> tuple[int, dict[str, Any]]:
        async with deps_for(engine, FixedClock()) as deps, served(deps) as (server, client):
            return await health(client, server)

    status, document = asyncio.run(go())
    assert status == 200 and document["feeds"] == {"ok": 0, "failing": 0, "disabled": 0}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/nope", 404),
        ("POST", "/metrics", 405),
        ("GET", "/metrics?x=1", 200),
    ],
    ids=["index", "unknown path", "not a GET", "query string ignored"],
)
def test_the_server_answers_only_what_it_serves(
    engine: Engine, method: str, path: str, status: int
) -> None:
    async def go() -> int:
        async with deps_for(engine, FixedClock()) as deps, served(deps) as (server, client):
            return (await client.request(method, f"{server.url}{path}")).status_code

    assert asyncio.run(go()) == status


def test_a_request_that_never_ends_holds_neither_the_server_nor_its_stop(
    engine: Engine,
) -> None:
    async def go() -> tuple[int, float]:
        async with deps_for(engine, FixedClock()) as deps:
            loop = asyncio.get_running_loop()
            async with served(deps) as (server, client):
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # no blank line
                await writer.drain()
                status = (await client.get(f"{server.url}/healthz")).status_code
                stopping = loop.time()
            stopped = loop.time() - stopping
            writer.close()
            return status, stopped

    status, stopped = asyncio.run(go())
    assert status == 200
    assert stopped < REQUEST_TIMEOUT / 2  # the unfinished request was not waited for


# -- wiring -----------------------------------------------------------------------------
def test_run_forever_serves_while_running_and_stops_with_it(
    engine: Engine, feed_server: Any
) -> None:
    """The daemon with MCWATCH_METRICS_PORT: its first real poll tick makes it healthy."""
    clock = SystemClock()  # APScheduler runs on real time: a fixed clock would misfire
    seed_topics(engine, FixedClock())
    feed_server.serve("/sahel.rss", FEED.encode())
    with transaction(engine) as session:
        feeds.add_feed(session, feeds.NewFeed(url=feed_server.url("/sahel.rss")), clock.now())
    port = free_port()
    settings = Settings(database_url=str(engine.url), metrics_port=port)

    async def go() -> tuple[int, Scrape, bool]:
        stop = asyncio.Event()
        async with (
            open_deps(settings, engine, RecordingSender(), clock=clock) as deps,
            httpx.AsyncClient(timeout=5.0) as client,
        ):
            assert type(deps.metrics) is Metrics  # the no-op hooks until `run` serves
            daemon = asyncio.create_task(run_forever(deps, None, stop))
            url = f"http://127.0.0.1:{port}"
            status = 0
            for _ in range(200):  # the first poll tick runs at once; allow it 10 s
                try:
                    status = (await client.get(f"{url}/healthz")).status_code
                except httpx.ConnectError:
                    status = 0
                if status == 200:
                    break
                await asyncio.sleep(0.05)
            found = Scrape((await client.get(f"{url}/metrics")).text)
            stop.set()
            await daemon
            try:
                await client.get(f"{url}/healthz")
                closed = False
            except httpx.ConnectError:
                closed = True
            return status, found, closed and type(deps.metrics) is Metrics

    status, found, stopped = asyncio.run(go())
    assert status == 200
    assert found.value("mcwatch_polls_total", outcome="ok") == 1  # counted by the tick
    assert stopped  # the port is closed and the no-op hooks are back


def test_a_port_already_taken_is_a_one_line_settings_error(engine: Engine) -> None:
    async def go() -> str:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            async with deps_for(engine, FixedClock()) as deps:
                try:
                    async with serve_metrics(deps, host="127.0.0.1", port=port):
                        pass
                except SettingsError as exc:
                    return str(exc)
        raise AssertionError("the server started on a port in use")

    message = asyncio.run(go())
    assert message.startswith("MCWATCH_METRICS_PORT: cannot listen on 127.0.0.1:")
    assert "\n" not in message


def test_a_bad_metrics_port_stops_run_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--once"],
        cwd=tmp_path,
        env={**_environment(), "MCWATCH_METRICS_PORT": "ninety"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mcwatch: MCWATCH_METRICS_PORT must be a whole number, got 'ninety'"
    ]


def _environment() -> dict[str, str]:
    """This interpreter's environment without any MCWATCH_ setting of the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize(
    "code",
    [
        "import bot.cli.run, bot.jobs, bot.deps, bot.ingest.pipeline, bot.deliver.outbox, "
        "bot.deliver.digest_job",
        "from bot.__main__ import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    ],
    ids=["the modules that call the hooks", "mcwatch --help"],
)
def test_only_serving_metrics_imports_prometheus_client(code: str, tmp_path: Path) -> None:
    probe = f"{code}\nimport sys\nprint('LOADED' if 'prometheus_client' in sys.modules else 'NOT')"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "NOT"


def test_two_processes_worth_of_metrics_never_share_a_registry() -> None:
    first, second = PrometheusMetrics(FixedClock()), PrometheusMetrics(FixedClock())
    first.polled("ok", 2, 1, 1)
    assert first.registry is not second.registry
    text = generate_latest(second.registry).decode()
    assert Scrape(text).value("mcwatch_polls_total", outcome="ok") == 0
