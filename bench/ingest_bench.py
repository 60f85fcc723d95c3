"""Ingestion benchmarks (run by hand: `python bench/ingest_bench.py`).

1. Per item, the whole ingest of one feed (parse + normalise + match + story + store +
   queue, one transaction) against bare ``feedparser.parse`` on the same bytes, side by
   side in one run. Goal: ≤ 1.3×.
2. Transactions per feed ingest (goal: 1), counted with an SQLAlchemy event.
3. Polling 500 loopback feeds, twice: the second time mostly unchanged (304): wall time,
   requests, bytes and peak memory.
4. The same healthy feeds with 10 % hostile ones mixed in (slow, 500, huge, gzip bomb,
   HTML, entity bomb): the healthy feeds' poll time against an all-healthy run.
   Goal: within 10 %.

Feeds are served from several loopback addresses (127.0.0.x), as real feeds come from
many hosts; mcwatch allows 2 requests at a time per host.
"""

from __future__ import annotations

import asyncio
import gzip
import http.server
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import feedparser
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import FixedClock  # noqa: E402
from bot.deps import open_deps  # noqa: E402
from bot.fetch import FetchLimits  # noqa: E402
from bot.pipeline import ingest, load_matcher, poll  # noqa: E402
from bot.seeds import seed  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.telegram.sender import ConsoleSender  # noqa: E402
from bot.types import FeedRef, FetchResult  # noqa: E402
from store import feeds, subscribers  # noqa: E402
from store.db import make_engine, transaction  # noqa: E402
from store.feeds import NewFeed  # noqa: E402
from store.migrate import upgrade  # noqa: E402

RNG = random.Random(7)
PLACES = ["Bamako", "Kayes", "Sikasso", "Ségou", "Mopti", "Koulikoro", "Gao", "Kita"]
SUBJECTS_FR = ["la sécurité des ressortissants chinois", "un prêt chinois pour la route",
               "la mine de lithium de Goulamina", "une centrale solaire", "la riziculture",
               "une mission médicale chinoise", "la coopération militaire",
               "le marché de Bamako", "la saison des pluies", "le football malien"]
SUBJECTS_EN = ["security of Chinese nationals", "a Chinese loan for a road",
               "the Goulamina lithium mine", "a solar power plant", "rice farming",
               "a Chinese medical team", "military cooperation", "the Bamako market",
               "the rainy season", "Malian football"]
NEUTRAL_FR = [s for s in SUBJECTS_FR if "chinois" not in s]
NEUTRAL_EN = [s for s in SUBJECTS_EN if "Chinese" not in s]


def synthetic_feed(
    n: int, seed_no: int, china_share: float = 0.5, *, china_free_rest: bool = False
) -> bytes:
    """``china_free_rest``: items not drawn as about China get no Chinese subject either
    (a Malian outlet's feed); otherwise a third of the subjects name China anyway."""
    rng = random.Random(seed_no)
    entries = []
    for i in range(n):
        fr = rng.random() < 0.55
        place = rng.choice(PLACES)
        if fr:
            if china_free_rest:
                china = rng.random() < china_share
                subject = rng.choice(SUBJECTS_FR if china else NEUTRAL_FR)
            else:  # the stress case, drawn as it always was (comparable figures)
                subject = rng.choice(SUBJECTS_FR)
                china = rng.random() < china_share
            title = f"{place} : {subject}" + (" avec Pékin" if china else "")
            body = (f"<p>Les autorités maliennes ont évoqué {subject} à {place}. "
                    + ("L'ambassadeur de Chine était présent. " if china else "")
                    + "Le ministre a salué les efforts des équipes. " * rng.randint(1, 4) + "</p>")
        else:
            if china_free_rest:
                china = rng.random() < china_share
                subject = rng.choice(SUBJECTS_EN if china else NEUTRAL_EN)
            else:  # the stress case, drawn as it always was (comparable figures)
                subject = rng.choice(SUBJECTS_EN)
                china = rng.random() < china_share
            title = f"{place}: {subject}" + (" with Beijing" if china else "")
            body = (f"<p>Malian officials discussed {subject} in {place}. "
                    + ("The Chinese ambassador attended. " if china else "")
                    + "The minister praised the teams' work. " * rng.randint(1, 4) + "</p>")
        entries.append(
            f"<item><title>{title}</title><guid>bench-{seed_no}-{i}</guid>"
            f"<link>https://example.org/{seed_no}/{i}?utm_source=rss</link>"
            f"<pubDate>Mon, {1 + i % 28:02d} Feb 2026 {i % 24:02d}:00:00 GMT</pubDate>"
            f"<description><![CDATA[{body}]]></description></item>"
        )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench {seed_no}</title><language>fr</language>{''.join(entries)}"
            f"</channel></rss>").encode()


def prepared_engine(directory: Path, name: str, subscribers_count: int = 50):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{directory / name}")
    upgrade(engine)
    clock = FixedClock()
    seed(engine, clock, with_feeds=False)
    with transaction(engine) as session:
        for chat in range(1, subscribers_count + 1):
            subscribers.register(session, chat, chat_type="private", title=str(chat),
                                 language="fr", now=clock.now())
    return engine, clock


def bench_ingest(
    items: int = 200, repeats: int = 7, china_share: float = 0.5, china_free_rest: bool = False
) -> None:
    """``china_share``: items that also name China. 0.5 is a stress case (every item is
    Malian news, half of it Mali–China: most match, stories form, 50 readers each);
    0.05 is closer to a Malian outlet's feed, where China is a small share of the news."""
    body = synthetic_feed(items, 1, china_share, china_free_rest=china_free_rest)
    bare: list[float] = []
    full: list[float] = []
    commits: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(repeats):
            start = time.perf_counter()
            feedparser.parse(body)
            bare.append(time.perf_counter() - start)

            engine, clock = prepared_engine(Path(tmp), f"ingest{run}.db")
            with transaction(engine) as session:
                feed = feeds.add_feed(session, NewFeed(url="http://127.0.0.1/f"), clock.now())
                assert feed.id is not None
                feed_id = feed.id
            counter = {"n": 0}
            def count_commit(_conn: object, counter: dict[str, int] = counter) -> None:
                counter["n"] += 1

            event.listen(engine, "commit", count_commit)

            async def go(engine=engine, clock=clock, feed_id=feed_id, counter=counter):  # type: ignore[no-untyped-def]
                async with open_deps(Settings(), engine, ConsoleSender(), clock=clock) as deps:
                    matcher = load_matcher(deps)
                    counter["n"] = 0
                    result = FetchResult(feed_id=feed_id, url="http://127.0.0.1/f", status=200,
                                         body=body)
                    t0 = time.perf_counter()
                    outcome = await ingest(deps, FeedRef(feed_id, "http://127.0.0.1/f"), result,
                                           matcher)
                    elapsed = time.perf_counter() - t0
                    return elapsed, outcome

            elapsed, outcome = asyncio.run(go())
            full.append(elapsed)
            commits.append(counter["n"])
            engine.dispose()
    b, f = statistics.median(bare), statistics.median(full)
    print(
        f"ingest of one {items}-item feed ({china_share:.0%} of items about China), "
        f"median of {repeats} runs, side by side:"
    )
    print(f"  bare feedparser.parse : {b / items * 1000:.3f} ms/item")
    print(f"  whole mcwatch ingest  : {f / items * 1000:.3f} ms/item "
          f"({outcome.matched} matched, {outcome.queued} alerts queued for 50 subscribers)")
    print(f"  ratio                 : {f / b:.2f}×   (goal ≤ 1.3×)")
    print(f"  transactions per feed : {statistics.median(commits):.0f}   (goal 1)")


# 64 MiB of zeros in ~64 KB; compressed once, not per request (that would be the
# bench server's cost, not mcwatch's).
GZIP_BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024))


@dataclass
class Route:
    body: bytes
    etag: str
    mode: str = "ok"  # ok | slow | error | huge | bomb | html


class Served:
    """Feed files on several loopback addresses; counts requests and bytes."""

    def __init__(self, hosts: int) -> None:
        self.routes: dict[str, Route] = {}
        self.requests = 0
        self.bytes = 0
        self.lock = threading.Lock()
        self.servers = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                route = outer.routes.get(self.path)
                with outer.lock:
                    outer.requests += 1
                if route is None:
                    self._send(404, b"")
                elif route.mode == "slow":
                    time.sleep(30)  # beyond the client's timeout
                elif route.mode == "error":
                    self._send(500, b"oops")
                elif route.mode == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.end_headers()
                    try:
                        for _ in range(40 * 16):
                            self.wfile.write(b"x" * 65536)
                    except OSError:
                        pass
                    self.close_connection = True
                elif route.mode == "bomb":
                    self._send(200, GZIP_BOMB, {"Content-Encoding": "gzip"})
                elif route.mode == "html":
                    self._send(200, b"<!DOCTYPE html><html><body>hello</body></html>",
                               {"Content-Type": "text/html"})
                elif self.headers.get("If-None-Match") == route.etag:
                    self._send(304, b"", {"ETag": route.etag})
                else:
                    self._send(200, route.body, {"ETag": route.etag})

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    return
                with outer.lock:
                    outer.bytes += len(body)

        class QuietServer(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients hanging up on huge/slow bodies is the point of the bench

        for n in range(1, hosts + 1):
            server = QuietServer((f"127.0.0.{n}", 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)

    def url(self, index: int, path: str) -> str:
        server = self.servers[index % len(self.servers)]
        return f"http://{server.server_address[0]}:{server.server_address[1]}{path}"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def poll_all(engine, clock, limits: FetchLimits):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with open_deps(Settings(), engine, ConsoleSender(), clock=clock,
                             fetch_limits=limits) as deps:
            deps.jitter = lambda: 0.0
            return await poll(deps, include_not_due=True)

    return asyncio.run(go())


def bench_500_feeds(count: int = 500) -> None:
    served = Served(hosts=50)
    with tempfile.TemporaryDirectory() as tmp:
        engine, clock = prepared_engine(Path(tmp), "poll500.db", subscribers_count=5)
        with transaction(engine) as session:
            for n in range(count):
                path = f"/f{n}.rss"
                served.routes[path] = Route(synthetic_feed(10, 1000 + n), f'"e{n}"')
                feeds.add_feed(session, NewFeed(url=served.url(n, path), name=f"feed {n}"),
                               clock.now())
        for label in ("first poll (all 200)", "second poll (95 % 304)"):
            if label.startswith("second"):
                for n in range(0, count, 20):  # 5 % of feeds changed
                    route = served.routes[f"/f{n}.rss"]
                    route.body, route.etag = synthetic_feed(10, 5000 + n), f'"e{n}b"'
            served.requests = served.bytes = 0
            # tracemalloc would slow every allocation several times over and distort the
            # wall time: the peak resident set of the process is read instead.
            t0 = time.perf_counter()
            outcomes = poll_all(engine, clock, FetchLimits())
            wall = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            statuses = {s: sum(1 for o in outcomes if o.status == s)
                        for s in ("ok", "not-modified", "error")}
            print(f"  {label}: {wall:.2f} s wall, {served.requests} requests, "
                  f"{served.bytes / 1024:.0f} KiB, peak RSS of the process {peak / 2**20:.0f} MiB, "
                  f"{statuses}")
        engine.dispose()
    served.close()


def bench_hostile(healthy: int = 90, hostile: int = 10, repeats: int = 3) -> None:
    modes = ["slow", "error", "huge", "bomb", "html"]
    limits = FetchLimits(timeout=3.0)  # shortened so the bench runs in seconds
    times: dict[str, list[float]] = {"all healthy": [], "10 % hostile": []}
    for _ in range(repeats):
        for label, bad in (("all healthy", 0), ("10 % hostile", hostile)):
            served = Served(hosts=20)
            with tempfile.TemporaryDirectory() as tmp:
                engine, clock = prepared_engine(Path(tmp), "hostile.db", subscribers_count=5)
                with transaction(engine) as session:
                    for n in range(healthy):
                        path = f"/h{n}.rss"
                        served.routes[path] = Route(synthetic_feed(20, 7000 + n), f'"h{n}"')
                        feeds.add_feed(session, NewFeed(url=served.url(n, path)), clock.now())
                    for n in range(bad):
                        path = f"/x{n}.rss"
                        served.routes[path] = Route(b"", "", modes[n % len(modes)])
                        feeds.add_feed(session, NewFeed(url=served.url(n, path)), clock.now())
                done: list[float] = []

                async def go(engine=engine, clock=clock, done=done):  # type: ignore[no-untyped-def]
                    from bot.pipeline import poll_iter, select_feeds

                    async with open_deps(Settings(), engine, ConsoleSender(), clock=clock,
                                         fetch_limits=limits) as deps:
                        due = select_feeds(deps, include_not_due=True)
                        t0 = time.perf_counter()
                        async for outcome in poll_iter(deps, due):
                            if "/h" in outcome.url:
                                done.append(time.perf_counter() - t0)

                asyncio.run(go())
                engine.dispose()
            served.close()
            times[label].append(max(done))
    base = statistics.median(times["all healthy"])
    mixed = statistics.median(times["10 % hostile"])
    print(f"  {healthy} healthy feeds, last one done (median of {repeats}): "
          f"all healthy {base:.2f} s, with {hostile} hostile {mixed:.2f} s "
          f"→ {100 * (mixed / base - 1):+.0f} %   (goal within +10 %)")


if __name__ == "__main__":
    bench_ingest(china_share=0.5)
    bench_ingest(china_share=0.05, china_free_rest=True)
    print("polling 500 loopback feeds:")
    bench_500_feeds()
    print("hostile feeds:")
    bench_hostile()
