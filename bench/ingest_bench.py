"""Ingestion benchmarks (run by hand: `python bench/ingest_bench.py`).

1. Per item, the whole ingest of one feed (parse + normalise + match + story + store +
   queue, one transaction) against bare ``feedparser.parse`` on the same bytes, side by
   side in one run. Goal: ≤ 1.3×. Three feeds (see ``bench_ingest``), each also
   ingested with the fast parser off, as a feed only feedparser reads would be.
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
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import feedparser
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import FixedClock  # noqa: E402
from bot.deliver.senders import ConsoleSender  # noqa: E402
from bot.deps import open_deps  # noqa: E402
from bot.ingest.fetch import FetchLimits  # noqa: E402
from bot.ingest.parse import rss_fast  # noqa: E402
from bot.ingest.pipeline import PollOutcome, ingest, load_matcher, poll  # noqa: E402
from bot.seed_files import seed  # noqa: E402
from bot.settings import Settings  # noqa: E402
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
    n: int,
    seed_no: int,
    china_share: float = 0.5,
    *,
    china_free_rest: bool = False,
    year: int = 2026,
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
            f"<pubDate>Mon, {1 + i % 28:02d} Feb {year} {i % 24:02d}:00:00 GMT</pubDate>"
            f"<description><![CDATA[{body}]]></description></item>"
        )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench {seed_no}</title><language>fr</language>{''.join(entries)}"
            f"</channel></rss>").encode()


PARAGRAPHS_FR = [
    "La réunion s'est tenue au gouvernorat en présence des chefs de quartier et des "
    "représentants de la société civile, qui ont demandé un calendrier précis.",
    "Selon le directeur régional, les travaux doivent reprendre après la saison des pluies, "
    "une fois les financements confirmés par le ministère de tutelle.",
    "Les commerçants du grand marché se plaignent de la hausse des prix du carburant, "
    "qui pèse sur le transport des marchandises depuis la frontière.",
    "Le maire a rappelé que la commune compte plus de trois cent mille habitants et que "
    "l'adduction d'eau reste la première attente des familles.",
]
PARAGRAPHS_EN = [
    "The meeting took place at the governor's office with neighbourhood chiefs and civil "
    "society groups, who asked for a clear timetable.",
    "According to the regional director, work should resume after the rainy season once "
    "the ministry has confirmed the funding.",
    "Traders at the central market complain about rising fuel prices, which weigh on the "
    "cost of bringing goods from the border.",
]


def wordpress_feed(n: int, seed_no: int, china_share: float = 0.05) -> bytes:
    """What most Malian outlets publish: WordPress RSS 2.0 with an excerpt in
    <description>, the whole article in <content:encoded>, categories and an author."""
    rng = random.Random(seed_no)
    entries = []
    for i in range(n):
        fr = rng.random() < 0.6
        china = rng.random() < china_share
        place = rng.choice(PLACES)
        subjects = (SUBJECTS_FR if china else NEUTRAL_FR) if fr else (
            SUBJECTS_EN if china else NEUTRAL_EN)
        subject = rng.choice(subjects)
        paragraphs = PARAGRAPHS_FR if fr else PARAGRAPHS_EN
        if fr:
            title = f"{place} : {subject}" + (" avec Pékin" if china else "")
            lede = (f"Les autorités maliennes ont évoqué {subject} à {place}. "
                    + ("L'ambassadeur de Chine était présent. " if china else ""))
        else:
            title = f"{place}: {subject}" + (" with Beijing" if china else "")
            lede = (f"Malian officials discussed {subject} in {place}. "
                    + ("The Chinese ambassador attended. " if china else ""))
        article = "".join(
            f"<p>{rng.choice(paragraphs)}</p>\n" for _ in range(rng.randint(4, 9))
        )
        entries.append(
            f"<item><title>{title}</title>"
            f"<link>https://journal.example.ml/{seed_no}/{i}/</link>"
            f"<comments>https://journal.example.ml/{seed_no}/{i}/#respond</comments>"
            f"<dc:creator><![CDATA[Rédaction]]></dc:creator>"
            f"<pubDate>Mon, {1 + i % 28:02d} Feb 2026 {i % 24:02d}:{i % 60:02d}:00 +0000</pubDate>"
            f"<category><![CDATA[{'Actualité' if fr else 'News'}]]></category>"
            f"<category><![CDATA[{place}]]></category>"
            f'<guid isPermaLink="false">https://journal.example.ml/?p={seed_no * 10000 + i}</guid>'
            f"<description><![CDATA[<p>{lede}{paragraphs[0][:120]} [&#8230;]</p>]]></description>"
            f"<content:encoded><![CDATA[<p>{lede}</p>\n{article}]]></content:encoded>"
            f"<wfw:commentRss>https://journal.example.ml/{seed_no}/{i}/feed/</wfw:commentRss>"
            f"<slash:comments>{rng.randint(0, 12)}</slash:comments></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/"><channel>'
        f"<title>Journal {seed_no}</title>"
        '<atom:link href="https://journal.example.ml/feed/" rel="self" type="application/rss+xml"/>'
        "<link>https://journal.example.ml</link><description>Toute l'actualité</description>"
        "<language>fr-FR</language><sy:updatePeriod>hourly</sy:updatePeriod>"
        "<sy:updateFrequency>1</sy:updateFrequency><generator>https://wordpress.org/</generator>"
        f"{''.join(entries)}</channel></rss>"
    ).encode()


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


@contextmanager
def fast_path_off() -> Iterator[None]:
    saved = rss_fast.parse_rss
    rss_fast.parse_rss = lambda body, url="": None  # type: ignore[assignment]
    try:
        yield
    finally:
        rss_fast.parse_rss = saved


def timed_ingest(path: Path, body: bytes) -> tuple[float, PollOutcome, int, float]:
    """(seconds, outcome, commits, seconds of the warm-up ingest) of one feed's ingest
    into a new database of 50 instant subscribers."""
    engine, clock = prepared_engine(path.parent, path.name)
    with transaction(engine) as session:
        feed = feeds.add_feed(session, NewFeed(url="http://127.0.0.1/f"), clock.now())
        warm = feeds.add_feed(session, NewFeed(url="http://127.0.0.1/w"), clock.now())
        assert feed.id is not None and warm.id is not None
        feed_id, warm_id = feed.id, warm.id
    commits = {"n": 0}

    def count_commit(_conn: object) -> None:
        commits["n"] += 1

    event.listen(engine, "commit", count_commit)

    async def go() -> tuple[float, PollOutcome, float]:
        async with open_deps(Settings(), engine, ConsoleSender(), clock=clock) as deps:
            matcher = load_matcher(deps)
            # A running bot has polled before: SQLAlchemy has compiled its statements
            # once per engine. Measure that steady state, not the first ingest of a
            # process (its extra cost is printed apart). The warm-up items are years
            # older, so no story of the measured feed joins theirs.
            warmup = FetchResult(feed_id=warm_id, url="http://127.0.0.1/w", status=200,
                                 body=synthetic_feed(20, 99, 0.5, year=2019))
            t0 = time.perf_counter()
            await ingest(deps, FeedRef(warm_id, "http://127.0.0.1/w"), warmup, matcher)
            warm_seconds = time.perf_counter() - t0
            commits["n"] = 0
            result = FetchResult(feed_id=feed_id, url="http://127.0.0.1/f", status=200,
                                 body=body)
            t0 = time.perf_counter()
            outcome = await ingest(deps, FeedRef(feed_id, "http://127.0.0.1/f"), result, matcher)
            return time.perf_counter() - t0, outcome, warm_seconds

    elapsed, outcome, warm_seconds = asyncio.run(go())
    engine.dispose()
    return elapsed, outcome, commits["n"], warm_seconds


def bench_ingest(label: str, body: bytes, items: int = 200, repeats: int = 7) -> None:
    """One feed's whole ingest against bare feedparser.parse on the same bytes, side by
    side in each run; medians of ``repeats`` runs. The feeds (see __main__):

    - stress: every item Malian news, half naming China (most match, stories form,
      50 readers each) — the worst case for everything after parsing;
    - short: a Malian outlet's short items, 5 % about China;
    - wordpress: the same share in the shape most outlets publish (excerpt + article).
    """
    bare: list[float] = []
    full: list[float] = []
    fallback: list[float] = []
    commits: list[int] = []
    first: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(repeats):
            start = time.perf_counter()
            feedparser.parse(body)
            bare.append(time.perf_counter() - start)
            elapsed, outcome, count, warm = timed_ingest(Path(tmp) / f"fast{run}.db", body)
            full.append(elapsed)
            commits.append(count)
            first.append(warm)
            with fast_path_off():
                fallback.append(timed_ingest(Path(tmp) / f"slow{run}.db", body)[0])
    b, f = statistics.median(bare), statistics.median(full)
    slow = statistics.median(fallback)
    print(f"{label}: one {items}-item feed of {len(body) // 1024} KiB, median of {repeats} runs:")
    print(f"  bare feedparser.parse : {b / items * 1000:.3f} ms/item")
    print(f"  whole mcwatch ingest  : {f / items * 1000:.3f} ms/item "
          f"({outcome.matched} matched, {outcome.queued} alerts queued for 50 subscribers)")
    print(f"  ratio                 : {f / b:.2f}×   (goal ≤ 1.3×)")
    print(f"  the same ingest with the fast path off (a feed only feedparser reads): "
          f"{slow / items * 1000:.3f} ms/item, {slow / b:.2f}×")
    print(f"  transactions per feed : {statistics.median(commits):.0f}   (goal 1)")
    print(f"  (a process's first ingest, a 20-item feed, compiles the SQL once: "
          f"{statistics.median(first) * 1000:.0f} ms)")


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


class ServedElsewhere:
    """``Served`` in a child process: a publisher's server does not share mcwatch's
    interpreter, and in-process server threads (writing a 40 MB stream, say) would take
    the GIL from the poll and be counted as mcwatch's cost. Routes are fixed up front."""

    def __init__(self, hosts: int, routes: dict[str, Route]) -> None:
        context = multiprocessing.get_context("fork")
        self._mine, theirs = context.Pipe()
        self._process = context.Process(target=self._serve, args=(hosts, routes, theirs),
                                        daemon=True)
        self._process.start()
        self.addresses: list[tuple[str, int]] = self._mine.recv()

    @staticmethod
    def _serve(hosts: int, routes: dict[str, Route], pipe: Connection) -> None:
        served = Served(hosts)
        served.routes.update(routes)
        pipe.send([server.server_address[:2] for server in served.servers])
        pipe.recv()  # until told to stop
        served.close()

    def url(self, index: int, path: str) -> str:
        host, port = self.addresses[index % len(self.addresses)]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self._mine.send("stop")
        self._process.join(timeout=10)


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


def bench_hostile(healthy: int = 90, hostile: int = 10, repeats: int = 7) -> None:
    modes = ["slow", "error", "huge", "bomb", "html"]
    limits = FetchLimits(timeout=3.0)  # shortened so the bench runs in seconds
    times: dict[str, list[float]] = {"all healthy": [], "10 % hostile": []}
    for _ in range(repeats):
        for label, bad in (("all healthy", 0), ("10 % hostile", hostile)):
            routes = {f"/h{n}.rss": Route(synthetic_feed(20, 7000 + n), f'"h{n}"')
                      for n in range(healthy)}
            routes.update({f"/x{n}.rss": Route(b"", "", modes[n % len(modes)])
                           for n in range(bad)})
            served = ServedElsewhere(20, routes)
            with tempfile.TemporaryDirectory() as tmp:
                engine, clock = prepared_engine(Path(tmp), "hostile.db", subscribers_count=5)
                with transaction(engine) as session:
                    for n in range(healthy):
                        url = served.url(n, f"/h{n}.rss")
                        feeds.add_feed(session, NewFeed(url=url), clock.now())
                    for n in range(bad):
                        url = served.url(n, f"/x{n}.rss")
                        feeds.add_feed(session, NewFeed(url=url), clock.now())
                done: list[float] = []

                async def go(engine=engine, clock=clock, done=done):  # type: ignore[no-untyped-def]
                    from bot.ingest.pipeline import poll_iter, select_feeds

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
    for label, values in times.items():
        print(f"    {label}: {min(values):.2f}–{max(values):.2f} s across runs")


if __name__ == "__main__":
    if "--hostile" in sys.argv:  # only the last part
        bench_hostile()
        raise SystemExit
    bench_ingest("stress", synthetic_feed(200, 1, 0.5))
    bench_ingest("short", synthetic_feed(200, 1, 0.05, china_free_rest=True))
    bench_ingest("wordpress", wordpress_feed(200, 1))
    print("polling 500 loopback feeds:")
    bench_500_feeds()
    print("hostile feeds:")
    bench_hostile()
