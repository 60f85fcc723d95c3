"""`/metrics` and `/healthz` for `mcwatch run`, on ``MCWATCH_METRICS_HOST:MCWATCH_METRICS_PORT``.

Imported only by ``bot.jobs.run_forever`` when the port is set: this is where
prometheus_client is loaded. The server runs on the daemon's own event loop, so a loop
that is stuck (a tick blocking it) stops answering ``/healthz`` too, which is what a
health check is for; the database is read off the loop (``asyncio.to_thread``).

``/healthz`` answers 200 ``{"status": "ok", …}`` or 503 ``{"status": "unhealthy",
"problems": […], …}``. Unhealthy means, with ``window`` = ``STALE_AFTER_POLLS`` ×
``MCWATCH_POLL_INTERVAL`` (45 minutes by default):

| check    | unhealthy when                                                            |
|----------|---------------------------------------------------------------------------|
| poll     | feeds are enabled and none was polled successfully (200 or 304) within    |
|          | the window, or ever (a database no poll has run on yet)                   |
| delivery | alerts were put back (429, 5xx, timeout) and none sent for the window     |
| database | it cannot be read                                                         |

No news is healthy: a quiet day sends nothing and that is fine. What counts is that
feeds answer and that, when alerts are due, Telegram takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from bot import __version__
from bot.deps import Deps
from bot.errors import SettingsError
from bot.metrics import Metrics, PrometheusMetrics
from store import deliveries, feeds
from store.db import transaction

log = logging.getLogger(__name__)

# Feeds come due every MCWATCH_POLL_INTERVAL (adaptive ones from 10 minutes to 4 hours)
# and a poll tick runs every 30 s: three intervals without a single success means the
# network, the feeds or the scheduler is broken, not that one feed was slow.
STALE_AFTER_POLLS = 3
REQUEST_TIMEOUT = 5.0  # seconds to send the request head; a scraper sends it at once
MAX_REQUEST_HEAD = 8192  # bytes; a GET of /metrics is a few hundred
FEED_STATUSES = ("ok", "failing", "disabled")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """What the database says, read once per scrape or health check."""

    feeds: dict[str, int]  # by FEED_STATUSES
    last_poll_ok: datetime | None  # the newest successful poll of an enabled feed
    queue_depth: int  # alerts queued or being sent
    oldest_due: datetime | None  # since when the longest-waiting due alert is due


def read_store(engine: Engine, now: datetime) -> StoreSnapshot:
    """Feed health and queue depth, by the store's own functions (blocking: call it off
    the event loop)."""
    counts = dict.fromkeys(FEED_STATUSES, 0)
    newest: datetime | None = None
    with transaction(engine) as session:
        for feed in feeds.list_feeds(session):
            status = feeds.feed_status(feed)
            counts["ok" if status == "new" else status] += 1  # never polled: not failing
            if status == "disabled":
                continue
            if feed.last_ok is not None and (newest is None or feed.last_ok > newest):
                newest = feed.last_ok
        depth = deliveries.queue_depth(session)
        oldest = deliveries.oldest_due(session, now)
    return StoreSnapshot(counts, newest, depth, oldest)


def health_window(poll_interval: int) -> timedelta:
    return timedelta(seconds=STALE_AFTER_POLLS * poll_interval)


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    problems: tuple[str, ...]

    def document(
        self,
        now: datetime,
        window: timedelta,
        snapshot: StoreSnapshot | None,
        metrics: PrometheusMetrics,
    ) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "status": "ok" if self.healthy else "unhealthy",
            "problems": list(self.problems),
            "now": now.isoformat(),
            "window_seconds": int(window.total_seconds()),
            "last_poll_success": iso(snapshot.last_poll_ok if snapshot else None),
            "last_sent": iso(metrics.last_sent_at),
            "feeds": snapshot.feeds if snapshot else None,
            "queue_depth": snapshot.queue_depth if snapshot else None,
        }


def assess_health(
    now: datetime,
    window: timedelta,
    snapshot: StoreSnapshot,
    unsent_since: datetime | None,
) -> Health:
    """The rules of the module docstring's table, as a pure function."""
    problems: list[str] = []
    enabled = snapshot.feeds["ok"] + snapshot.feeds["failing"]
    last = snapshot.last_poll_ok
    if enabled and last is None:
        problems.append("no feed has been polled successfully yet")
    elif enabled and last is not None and now - last > window:
        problems.append(
            f"no feed polled successfully for {int((now - last).total_seconds())} s "
            f"(limit {int(window.total_seconds())} s)"
        )
    if unsent_since is not None and now - unsent_since > window:
        problems.append(
            f"no alert sent for {int((now - unsent_since).total_seconds())} s: every "
            "attempt was put back (Telegram unreachable or refusing)"
        )
    return Health(not problems, tuple(problems))


class StateCollector(Collector):
    """The gauges read at scrape time: feeds by status, queue depth, last success."""

    def __init__(self, engine: Engine, metrics: PrometheusMetrics) -> None:
        self.engine = engine
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        # Names only: a registry calls describe() at register time, and reading the
        # database then would be a query for nothing (and fail before it is up).
        return self._families(None, None)

    def collect(self) -> Iterable[Metric]:
        now = self.metrics.clock.now()
        return self._families(read_store(self.engine, now), now)

    def _families(self, snapshot: StoreSnapshot | None, now: datetime | None) -> list[Metric]:
        feeds_by_status = GaugeMetricFamily(
            "mcwatch_feeds", "Watched feeds by status.", labels=["status"]
        )
        depth = GaugeMetricFamily(
            "mcwatch_queue_depth", "Alerts queued or being sent (held ones included)."
        )
        age = GaugeMetricFamily(
            "mcwatch_queue_oldest_age_seconds",
            "How long the alert waiting longest has been due (0: none is due).",
        )
        last_poll = GaugeMetricFamily(
            "mcwatch_last_poll_success_timestamp_seconds",
            "When an enabled feed was last polled successfully (Unix time).",
        )
        last_sent = GaugeMetricFamily(
            "mcwatch_last_sent_timestamp_seconds",
            "When this process last sent an alert (Unix time).",
        )
        build = GaugeMetricFamily(
            "mcwatch_build_info", "The running mcwatch version.", labels=["version"]
        )
        build.add_metric([__version__], 1)
        if snapshot is not None:
            for status in FEED_STATUSES:
                feeds_by_status.add_metric([status], snapshot.feeds[status])
            depth.add_metric([], snapshot.queue_depth)
            waited = (
                (now - snapshot.oldest_due).total_seconds() if now and snapshot.oldest_due else 0
            )
            age.add_metric([], max(0.0, waited))
            if snapshot.last_poll_ok is not None:  # absent, not 0, before the first success
                last_poll.add_metric([], snapshot.last_poll_ok.timestamp())
        if self.metrics.last_sent_at is not None:
            last_sent.add_metric([], self.metrics.last_sent_at.timestamp())
        return [feeds_by_status, depth, age, last_poll, last_sent, build]


@dataclass(frozen=True, slots=True)
class MetricsServer:
    host: str
    port: int
    metrics: PrometheusMetrics

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@contextlib.asynccontextmanager
async def serve_metrics(
    deps: Deps, *, host: str | None = None, port: int | None = None
) -> AsyncIterator[MetricsServer]:
    """Count into a fresh ``PrometheusMetrics`` (installed on ``deps`` meanwhile) and
    serve ``/metrics`` and ``/healthz`` on ``host:port`` (the settings by default; port
    0 picks a free one, see ``MetricsServer.port``)."""
    settings = deps.settings
    host = host if host is not None else settings.metrics_host
    port = port if port is not None else settings.metrics_port
    if port is None:
        raise SettingsError("MCWATCH_METRICS_PORT is not set")
    metrics = PrometheusMetrics(deps.clock)
    metrics.registry.register(StateCollector(deps.engine, metrics))

    answering: set[asyncio.Task[Any]] = set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a connection is served by a task of its own
        answering.add(task)
        try:
            await _answer(deps, metrics, reader, writer)
        finally:
            answering.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    try:
        server = await asyncio.start_server(answer, host, port, limit=MAX_REQUEST_HEAD)
    except OSError as exc:
        # asyncio's message repeats the address; the errno's own words are enough.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SettingsError(
            f"MCWATCH_METRICS_PORT: cannot listen on {host}:{port} ({reason}); "
            "choose another port or unset it"
        ) from None
    bound = server.sockets[0].getsockname()[1]
    previous: Metrics = deps.metrics
    deps.metrics = metrics
    served = MetricsServer(host, bound, metrics)
    log.info("metrics on %s/metrics, health on %s/healthz", served.url, served.url)
    try:
        yield served
    finally:
        deps.metrics = previous
        server.close()
        # A client still sending its request would hold wait_closed() (Python ≥ 3.12
        # waits for every connection) up to REQUEST_TIMEOUT: stopping does not wait.
        for task in list(answering):
            task.cancel()
        await server.wait_closed()


async def _answer(
    deps: Deps,
    metrics: PrometheusMetrics,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """One request, one response, then the connection is closed (scrapers reconnect)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return  # a client that never finished its request gets nothing
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    if len(parts) != 3:
        await _respond(writer, 400, "text/plain; charset=utf-8", b"bad request\n")
        return
    method, target = parts[0], parts[1]
    path = urlsplit(target).path
    if path not in ("/metrics", "/healthz", "/"):
        await _respond(writer, 404, "text/plain; charset=utf-8", b"not found\n", method)
        return
    if method not in ("GET", "HEAD"):
        await _respond(
            writer,
            405,
            "text/plain; charset=utf-8",
            b"GET or HEAD\n",
            method,
            {"Allow": "GET, HEAD"},
        )
        return
    if path == "/":
        await _respond(
            writer,
            200,
            "text/plain; charset=utf-8",
            b"mcwatch: /metrics (Prometheus), /healthz\n",
            method,
        )
    elif path == "/metrics":
        try:
            body = await asyncio.to_thread(generate_latest, metrics.registry)
        except Exception as exc:  # the database is down, or a bug: logged, not fatal
            log.exception("metrics scrape failed")
            reason = f"cannot read the metrics ({type(exc).__name__}), see the log\n"
            await _respond(writer, 500, "text/plain; charset=utf-8", reason.encode(), method)
            return
        await _respond(writer, 200, CONTENT_TYPE_LATEST, body, method)
    else:
        status, document = await _health(deps, metrics)
        body = (json.dumps(document) + "\n").encode()
        await _respond(
            writer, status, "application/json", body, method, {"Cache-Control": "no-store"}
        )


async def _health(deps: Deps, metrics: PrometheusMetrics) -> tuple[int, dict[str, Any]]:
    now = deps.clock.now()
    window = health_window(deps.settings.poll_interval)
    try:
        snapshot = await asyncio.to_thread(read_store, deps.engine, now)
    except Exception as exc:  # the database is unreachable: that is the answer
        log.exception("health check cannot read the database")
        health = Health(False, (f"cannot read the database ({type(exc).__name__})",))
        return 503, health.document(now, window, None, metrics)
    health = assess_health(now, window, snapshot, metrics.unsent_since)
    return (200 if health.healthy else 503), health.document(now, window, snapshot, metrics)


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    content_type: str,
    body: bytes,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> None:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, '')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if method != "HEAD":
        writer.write(body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
