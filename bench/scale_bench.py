"""Several `mcwatch run` on one PostgreSQL, against the Bot API stand-in (issue 14).

    python bench/scale_bench.py [--workers 1,2,4] [--feeds 200] [--items 30]
        [--stories 20] [--chats 20] [--commands 50] [--postgres URL]

For each worker count, in a fresh schema of its own database (``scale`` on the server
of ``--postgres``, created if missing; never the tests' ``test``):

- a loopback farm of ``--feeds`` RSS feeds of ``--items`` items (``bench/peer_bench.py``'s
  text, served from 8 loopback addresses, as outlets are many hosts); ``--stories``
  Mali–China stories, each syndicated in 5 feeds, published minutes ago;
- ``--chats`` subscribers (private chats, all topics, instant) registered in the database,
  and the watch list, before any worker starts (no seeded feed: they are on the internet);
- the Bot API stand-in (``tests/support/botapi.py``: Telegram's flood limits, 429 beyond);
- N ``mcwatch run`` processes started at once, ``--commands`` ``/help`` pushed into the
  stand-in from as many chats; the run ends when every feed was polled, every alert is
  out of the queue and every command was answered (or at ``--timeout``), then SIGTERM.

Reported per worker count: the poll window (first request the farm saw to the last feed
stored) and feeds polled per second; feeds polled by each worker; polls per feed (must
be 1: one cycle); 429s the stand-in answered; replies per command (must be 1 each);
alerts per (chat, story) — must be 1, none missing against the stories of the farm that
the one-worker run alerted (the reference: what matching and story grouping decide is
not the workers' business); tracebacks in the workers' logs. ``tests/test_workers.py``
runs the small version (2 workers, 50 feeds).

Run by hand (a minute or two per worker count), never as a test.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, text  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bench.peer_bench import close_servers, lorem, serve_on_loopback  # noqa: E402
from store.db import make_engine, transaction  # noqa: E402
from store.models import Delivery, Feed  # noqa: E402
from tests.support.botapi import BotApi  # noqa: E402

TOKEN = "123456:SCALE"
HOSTS = 8
COPIES = 5  # feeds carrying each story
FIRST_CHAT = 1001
FIRST_COMMAND_CHAT = 9001
# The tonnage in an alert's title names the farm's story (``story_figure``).
_STORY_FIGURE = re.compile(r"remet ([\d  ]+) tonnes")
_POLL_LINE = re.compile(r"\bpoll feed=.* status=(ok|not-modified|error|removed)\b")


STORY_TITLE = "La Chine remet {figure} tonnes de riz au Mali"
STORY_LEDE = (
    "L'ambassadeur de Chine a remis le {day} {figure} tonnes de riz au ministre malien de "
    "l'Agriculture, à {place}, dans le cadre de la coopération sino-malienne."
)
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre")
PLACES = ("Kayes", "Sikasso", "Mopti", "Gao", "Tombouctou", "Koulikoro", "Ségou", "Kidal")


def story_figure(k: int) -> str:
    """Story ``k``'s tonnage, as its title says it: each story names its own figure,
    day and place, so no two are one event (README "Stories")."""
    return f"{1237 + 113 * k:,}".replace(",", " ")


def story_text(k: int) -> tuple[str, str]:
    figure = story_figure(k)
    day = f"{1 + 3 * (k % 9)} {MONTHS[(k // 9) % len(MONTHS)]}"
    return (
        STORY_TITLE.format(figure=figure),
        STORY_LEDE.format(figure=figure, day=day, place=PLACES[k % len(PLACES)]),
    )


def build_farm(
    feeds: int, items: int, stories: int, now: float, seed: int = 2026
) -> dict[str, bytes]:
    """Path → RSS bytes: lorem items, and story ``k`` in ``COPIES`` feeds (same title
    and lede: syndicated copies), all published within the last hour."""
    rng = random.Random(seed)
    carried: dict[int, list[int]] = {}
    for k in range(stories):
        for copy in range(min(COPIES, feeds)):
            carried.setdefault((k * 7 + copy * 13) % feeds, []).append(k)
    farm: dict[str, bytes] = {}
    for number in range(feeds):
        entries = []
        for index in range(items):
            published = formatdate(now - 60 - (number * items + index) % 3000, usegmt=True)
            guid = f"http://127.0.0.1/f{number}/{index}"
            title, body = lorem(rng, 70).rstrip("."), lorem(rng, 1350)
            if index < len(carried.get(number, [])):
                title, lede = story_text(carried[number][index])
                body = lede + " " + lorem(rng, 600)
            entries.append(
                f"<item><title>{escape(title)}</title><link>{guid}</link><guid>{guid}</guid>"
                f"<pubDate>{published}</pubDate><description>{escape(body)}</description></item>"
            )
        farm[f"/f{number}.xml"] = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Farm feed {number}</title><link>http://127.0.0.1/f{number}</link>"
            f"<description>bench</description>{''.join(entries)}</channel></rss>"
        ).encode()
    return farm


class Farm:
    """The farm on 127.0.0.1–8; counts the requests per path and when the first came."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.requests: Counter[str] = Counter()
        self.first_request: float | None = None
        # Set: requests are answered. Cleared, they wait (``run_fleet``'s ``hold``).
        self.open = threading.Event()
        self.open.set()
        lock = threading.Lock()
        farm = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with lock:
                    farm.requests[path] += 1
                    if farm.first_request is None:
                        farm.first_request = time.time()
                farm.open.wait(60)
                body = files.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.servers, self.urls = serve_on_loopback(Handler, list(files))
        self.paths = list(files)

    def close(self) -> None:
        close_servers(self.servers)


@dataclass
class Report:
    workers: int
    feeds: int
    window: float = 0.0  # first request the farm saw → every feed stored, seconds
    cpu: float = 0.0  # share of the machine's cores busy during the window (all processes)
    per_worker: list[int] = field(default_factory=list)  # feeds each worker polled
    polls_per_feed: Counter[int] = field(default_factory=Counter)  # polls → feeds
    too_many_requests: int = 0
    replies_per_command: Counter[int] = field(default_factory=Counter)  # replies → commands
    alerts_per_story: Counter[int] = field(default_factory=Counter)  # copies → (chat, story)
    alerted: set[tuple[int, int]] = field(default_factory=set)  # (chat, story) received
    queued: int = 0
    unsent: int = 0  # alerts still queued, sending or failed at the end
    exit_codes: list[int] = field(default_factory=list)
    tracebacks: int = 0
    timed_out: bool = False

    @property
    def rate(self) -> float:
        return self.feeds / self.window if self.window else 0.0


# Run by the mcwatch under test (``--root``: another checkout, for a before/after), so
# that its own migrations make the schema its workers expect.
PREPARE = """
import json, sys
from bot.clock import SystemClock
from bot.seed_files import seed
from store import feeds, subscribers
from store.db import make_engine, transaction
from store.migrate import upgrade
job = json.load(sys.stdin)
engine = make_engine(job["url"])
upgrade(engine)
clock = SystemClock()
seed(engine, clock, with_feeds=False)
with transaction(engine) as session:
    for number, url in enumerate(job["feeds"]):
        feeds.add_feed(session, feeds.NewFeed(url=url, name=f"farm {number}"), clock.now())
    for chat in job["chats"]:
        subscribers.register(
            session, chat, chat_type="private", title=str(chat), language="fr", now=clock.now()
        )
"""


def prepare(url: str, farm: Farm, chats: int, env: dict[str, str], root: Path) -> Engine:
    """Migrated, seeded without the internet feeds, the farm as the watch list, the
    subscribers registered: what the workers find when they start."""
    job = {"url": url, "feeds": farm.urls, "chats": list(range(FIRST_CHAT, FIRST_CHAT + chats))}
    subprocess.run(
        [sys.executable, "-c", PREPARE],
        input=json.dumps(job),
        text=True,
        env=env,
        cwd=root,  # `python -c` puts the working directory first on sys.path
        check=True,
    )
    return make_engine(url)


def busy_cores() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine so far, from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def progress(engine: Engine) -> tuple[int, int]:
    """(feeds polled and stored, alerts not yet out of the queue)."""
    with transaction(engine) as session:
        polled = session.exec(select(func.count(col(Feed.last_polled_at)))).one()
        owed = session.exec(
            select(func.count())
            .select_from(Delivery)
            .where(col(Delivery.status).in_(["queued", "sending"]))
        ).one()
    return int(polled), int(owed)


def claimed(engine: Engine) -> int:
    """Feeds claimed and not polled yet (their next poll pushed ahead by the claim)."""
    with transaction(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Feed)
                .where(
                    col(Feed.last_polled_at).is_(None), col(Feed.next_poll_at) > datetime.now(UTC)
                )
            ).one()
        )


def run_fleet(
    url: str,
    *,
    workers: int,
    feeds_count: int,
    items: int = 30,
    stories: int = 20,
    chats: int = 20,
    commands: int = 50,
    timeout: float = 300.0,
    pool: int | None = None,
    root: Path = ROOT,
    work: Path | None = None,
    hold: int = 0,
    extra_env: dict[str, str] | None = None,
) -> Report:
    """One measured run on the empty database at ``url`` (see the module docstring).

    ``hold``: the farm answers nothing until that many feeds are claimed (the workers
    all started and each took its first batch: a test's split then never depends on
    which process imported faster)."""
    farm = Farm(build_farm(feeds_count, items, stories, time.time()))
    api = BotApi(token=TOKEN)
    report = Report(workers=workers, feeds=feeds_count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCWATCH_")}
    env |= {
        "MCWATCH_DATABASE_URL": url,
        "MCWATCH_TELEGRAM_TOKEN": TOKEN,
        "MCWATCH_TELEGRAM_API_URL": api.base_url,
        "MCWATCH_LOG_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")])),
    }
    if pool is not None:
        env["MCWATCH_WORKERS"] = str(pool)
    env |= extra_env or {}
    engine = prepare(url, farm, chats, env, root)
    if hold:
        farm.open.clear()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = work or Path(tmp)
        logs = [cwd / f"worker{n}.log" for n in range(workers)]
        handles = [log.open("wb") for log in logs]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=cwd,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
            for handle in handles
        ]
        command_chats = range(FIRST_COMMAND_CHAT, FIRST_COMMAND_CHAT + commands)
        for chat in command_chats:
            api.push_message(chat, "/help")
        deadline = time.monotonic() + timeout
        all_stored: float | None = None  # when the last feed's poll was stored
        cpu_start: tuple[float, float] | None = None
        try:
            while True:
                polled, owed = progress(engine)
                if not farm.open.is_set() and claimed(engine) >= hold:
                    farm.open.set()
                if farm.first_request is not None and cpu_start is None:
                    cpu_start = busy_cores()
                if polled == feeds_count and all_stored is None:
                    all_stored = time.time()
                    if cpu_start is not None:
                        busy, total = busy_cores()
                        report.cpu = (busy - cpu_start[0]) / (total - cpu_start[1])
                answered = {m.chat_id for m in api.sent if m.chat_id >= FIRST_COMMAND_CHAT}
                if polled == feeds_count and owed == 0 and len(answered) == commands:
                    api.wait_idle()
                    time.sleep(2.0)  # a late duplicate (a second reader) still shows
                    break
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    report.timed_out = time.monotonic() > deadline
                    break
                time.sleep(0.05)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    report.exit_codes.append(process.wait(timeout=60))
                except subprocess.TimeoutExpired:
                    process.kill()
                    report.exit_codes.append(process.wait())
            for handle in handles:
                handle.close()
            farm.open.set()
        if farm.first_request is not None and all_stored is not None:
            report.window = all_stored - farm.first_request
        for log in logs:
            lines = log.read_text(errors="replace").splitlines()
            report.per_worker.append(sum(1 for line in lines if _POLL_LINE.search(line)))
            report.tracebacks += sum(1 for line in lines if line.startswith("Traceback"))
    report.polls_per_feed = Counter(farm.requests[path] for path in farm.paths)
    report.too_many_requests = api.too_many_requests
    replies = Counter(m.chat_id for m in api.sent if m.chat_id >= FIRST_COMMAND_CHAT)
    report.replies_per_command = Counter(replies[chat] for chat in command_chats)
    figures = {story_figure(k): k for k in range(stories)}
    copies: Counter[tuple[int, int]] = Counter()
    for message in api.sent:
        if message.chat_id >= FIRST_COMMAND_CHAT:
            continue
        found = _STORY_FIGURE.search(message.plain or message.text or "")
        if found:
            copies[(message.chat_id, figures[found.group(1)])] += 1
    report.alerted = set(copies)
    report.alerts_per_story = Counter(copies.values())
    with transaction(engine) as session:
        report.queued = int(session.exec(select(func.count()).select_from(Delivery)).one())
        report.unsent = int(
            session.exec(
                select(func.count()).select_from(Delivery).where(col(Delivery.status) != "sent")
            ).one()
        )
    engine.dispose()
    api.close()
    farm.close()
    return report


def fresh_schema(server: str, database: str, schema: str) -> str:
    """The URL of an empty schema ``schema`` in ``database`` (created if missing)."""
    base = server.rsplit("/", 1)[0]
    admin = make_engine(f"{base}/postgres")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
        ).first()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    target = make_engine(f"{base}/{database}")
    with target.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    target.dispose()
    return f"{base}/{database}?options=-csearch_path%3D{schema}"


def table(reports: list[Report], reference: set[tuple[int, int]]) -> str:
    head = (
        f"{'workers':>7} {'window s':>9} {'feeds/s':>8} {'speed-up':>8} {'CPU':>4}  "
        f"{'per worker':<20} "
        f"{'polls/feed':<12} {'429s':>5} {'replies/cmd':<14} {'alerts/story':<14} "
        f"{'missing':>7} {'unsent':>6} {'tracebacks':>10}"
    )
    rows = [head]
    base = reports[0].rate if reports and reports[0].workers == 1 else None

    def shape(counter: Counter[int]) -> str:
        return " ".join(f"{n}×{k}" for k, n in sorted(counter.items())) or "-"

    for r in reports:
        speedup = f"{r.rate / base:.2f}×" if base else "-"
        missing = len(reference - r.alerted)
        rows.append(
            f"{r.workers:>7} {r.window:>9.2f} {r.rate:>8.1f} {speedup:>8} {r.cpu:>4.0%}  "
            f"{'/'.join(map(str, r.per_worker)):<20} {shape(r.polls_per_feed):<12} "
            f"{r.too_many_requests:>5} {shape(r.replies_per_command):<14} "
            f"{shape(r.alerts_per_story):<14} {missing:>7} {r.unsent:>6} {r.tracebacks:>10}"
            + ("  (timed out)" if r.timed_out else "")
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--stories", type=int, default=20)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--pool",
        type=int,
        help="MCWATCH_WORKERS of each worker (parser processes; 0: parse in the worker "
        "itself, one core each); default: mcwatch's own (one per core)",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/scale",
        help="the server and database (not the tests' own: each run drops its schema)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the mcwatch source tree the workers run (another checkout, for a before/after; "
        "e.g. git archive HEAD | tar -x -C /tmp/before)",
    )
    args = parser.parse_args()
    server, database = args.postgres.rsplit("/", 1)
    if database == "test":
        parser.error("the tests' database is theirs: name another (default: scale)")
    counts = [int(n) for n in args.workers.split(",")]
    print(
        f"{args.feeds} feeds × {args.items} items, {args.stories} stories × {COPIES} copies, "
        f"{args.chats} chats, {args.commands} commands, {os.cpu_count()} cores, "
        f"MCWATCH_WORKERS={'default' if args.pool is None else args.pool}, "
        f"PostgreSQL {server}/{database}, mcwatch from {args.root}"
    )
    reports = []
    for workers in counts:
        url = fresh_schema(args.postgres, database, "scale_bench")
        report = run_fleet(
            url,
            workers=workers,
            feeds_count=args.feeds,
            items=args.items,
            stories=args.stories,
            chats=args.chats,
            commands=args.commands,
            timeout=args.timeout,
            pool=args.pool,
            root=args.root,
        )
        reports.append(report)
        print(f"  {workers} worker(s): {report.window:.2f} s, exit {report.exit_codes}", flush=True)
    reference = (
        reports[0].alerted
        if reports[0].workers == 1
        else set().union(*(r.alerted for r in reports))
    )
    print(table(reports, reference))
    print(f"reference: {len(reference)} (chat, story) pairs alerted by the first run")


if __name__ == "__main__":
    main()
