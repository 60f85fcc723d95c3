"""Issue 14's figures on a year of history (run by hand:
``python bench/history_bench.py --url sqlite:////tmp/hist/year.pristine.sqlite
--url postgresql+psycopg://postgres@127.0.0.1:5432/hist_pristine [--repeat 3]``).

Each ``--url`` names a history built by ``bench/history.py``; it is never written: the
bench works on a copy (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for
PostgreSQL), which it first migrates with this tree's migrations (the time that takes
is the first row: what upgrading a year-old desk costs). The figures, each the median
of ``--repeat`` runs unless said otherwise:

1. one delivery tick with nothing due: ``deliver_pending``; and ``lease_deliveries`` +
   ``lease_edits`` in one transaction (what the tick asks the outbox every 2 s);
2. the idle daemon: ``mcwatch run`` (this tree, a subprocess) against the Bot API
   stand-in, nothing due, CPU seconds over ``--idle-seconds`` of wall time, in % of a
   core (the process and its children, from /proc);
3. bot replies while that daemon runs: ``/latest 20`` and ``/search chine``, from the
   update put into the stand-in to the first reply it receives (a different chat each
   time, so Telegram's per-chat limit does not pace them);
4. ``mcwatch items search "chine AND mine*" --since 90d``: wall time and peak RSS;
5. ``mcwatch rules backtest mining --since 365d``: wall time, and the items it says it
   scanned against the items published in the window;
6. a loopback feed of 30 items (two reports of stories of the last day, two new
   Mali–China reports, news) polled into the year: the time of ``store_items`` and of
   the whole write transaction (``store_outcome``);
7. the digest round: every digest reader due at once (their time set to the default
   07:30 Africa/Bamako on the copy), one ``digest_tick`` against the stand-in with
   Telegram's limits; once (``--digest-repeat``): it takes minutes when paced per chat.

Before the figures the copy is put at rest: what was in flight when the history was
built (a retry, two leases, edits) is sent to a recording sender, and every feed's next
poll is pushed a day out, so "nothing due" holds for the daemon as for the tick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import history  # noqa: E402
from sqlalchemy import func, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.clock import FixedClock  # noqa: E402
from bot.deliver import digest_job, outbox  # noqa: E402
from bot.deliver.pacing import Pacer  # noqa: E402
from bot.deps import open_deps  # noqa: E402
from bot.ingest import pipeline  # noqa: E402
from bot.settings import Secret, Settings  # noqa: E402
from store import deliveries  # noqa: E402
from store.db import make_engine, transaction  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Digest, Feed, Item, ItemTopic, Subscriber  # noqa: E402
from tests.support.botapi import BotApi, FloodLimits  # noqa: E402
from tests.support.builders import RecordingSender, no_pacing  # noqa: E402
from tests.support.feed_server import FeedServer  # noqa: E402

TOKEN = "123456:HISTORY-BENCH"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Column:
    """One database's figures: label → shown value."""

    url: str
    dialect: str
    figures: dict[str, str] = field(default_factory=dict)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


# -- copies ------------------------------------------------------------------------------


@contextmanager
def working_copy(url: str) -> Iterator[str]:
    """A throw-away copy of the history at ``url`` (removed afterwards)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = Path(parsed.database or "")
        target = source.with_name(f"bench-{os.getpid()}-{time.monotonic_ns()}.sqlite")
        shutil.copyfile(source, target)
        try:
            yield f"sqlite:///{target}"
        finally:
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        return
    name = f"hist_bench_{os.getpid()}_{time.monotonic_ns() % 10**8}"
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_for(url: str, api: BotApi | None = None) -> Settings:
    if api is None:
        return Settings(database_url=url)
    return Settings(database_url=url, telegram_token=Secret(TOKEN), telegram_api_url=api.base_url)


async def at_rest(url: str) -> int:
    """Send what was in flight when the history was built (to a recording sender) and
    push every feed's next poll a day out: then nothing is due. Returns alerts sent."""
    engine = make_engine(url)
    sent = 0
    try:
        with transaction(engine) as session:
            session.execute(update(Feed).values(next_poll_at=datetime.now(UTC) + timedelta(days=1)))
        sender = RecordingSender()
        async with open_deps(settings_for(url), engine, sender, pacer=no_pacing()) as deps:
            for _ in range(10):
                before = len(sender.sent) + len(sender.edits)
                await outbox.deliver_pending(deps)
                if len(sender.sent) + len(sender.edits) == before:
                    break
        sent = len(sender.sent) + len(sender.edits)
    finally:
        engine.dispose()
    return sent


# -- figures -----------------------------------------------------------------------------


async def figure_tick(url: str, repeat: int, column: Column) -> None:
    engine = make_engine(url)
    try:
        sender = RecordingSender()
        async with open_deps(settings_for(url), engine, sender, pacer=no_pacing()) as deps:
            walls = []
            for _ in range(repeat):
                began = time.perf_counter()
                await outbox.deliver_pending(deps)
                walls.append(time.perf_counter() - began)
        leases = []
        for _ in range(repeat):
            began = time.perf_counter()
            with transaction(engine) as session:
                now = datetime.now(UTC)
                taken = deliveries.lease_deliveries(session, now)
                taken += deliveries.lease_edits(session, now)
                session.rollback()  # a measurement, not a lease
            leases.append(time.perf_counter() - began)
        column.figures["1. tick, nothing due: deliver_pending"] = f"{ms(median(walls))}" + (
            f" (sent {len(sender.sent)}!)" if sender.sent else ""
        )
        column.figures["1. lease_deliveries + lease_edits"] = f"{ms(median(leases))}" + (
            f" (took {len(taken)}!)" if taken else ""
        )
    finally:
        engine.dispose()


def child_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCWATCH_")}
    env.update({"MCWATCH_DATABASE_URL": url, "PYTHONPATH": str(ROOT), **extra})
    return env


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants (/proc, proc(5))."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == current)
    return total


def reader_chats(url: str, n: int) -> list[int]:
    """Active, unpaused private chats with instant alerts (they have stories to list)."""
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            rows = session.execute(
                select(Subscriber.chat_id)
                .where(
                    Subscriber.active,
                    Subscriber.paused.is_(False),  # type: ignore[attr-defined]
                    Subscriber.chat_type == "private",
                )
                .order_by(Subscriber.id)
                .limit(n)
            ).scalars()
            return list(rows)
    finally:
        engine.dispose()


def wait_reply(api: BotApi, chat_id: int, seen: int, timeout: float) -> float | None:
    """Seconds until the stand-in holds more than ``seen`` messages to ``chat_id``."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if len(api.messages_to(chat_id)) > seen:
            return time.perf_counter() - began
        time.sleep(0.002)  # polling the stand-in's record, not waiting out a delay
    return None


def figure_daemon(url: str, repeat: int, idle_seconds: float, column: Column) -> None:
    """Figures 2 and 3: one ``mcwatch run`` subprocess."""
    api = BotApi(limits=FloodLimits())
    chats = reader_chats(url, 2 * repeat + 2)
    lines: list[str] = []
    ready = threading.Event()
    with tempfile.TemporaryDirectory() as cwd:  # no .env of ours is read
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=cwd,
            env=child_env(
                url,
                MCWATCH_TELEGRAM_TOKEN=TOKEN,
                MCWATCH_TELEGRAM_API_URL=api.base_url,
                MCWATCH_LOG_LEVEL="INFO",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line.rstrip())
                if "feeds enabled" in line:
                    ready.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            started = time.perf_counter()
            if not ready.wait(900):
                raise RuntimeError("mcwatch run did not start:\n" + "\n".join(lines[-20:]))
            # Started: the first getUpdates means the loop is in its idle routine.
            while not any(m == "getUpdates" for m, _ in api.calls):
                if process.poll() is not None or time.perf_counter() - started > 900:
                    raise RuntimeError("mcwatch run stopped:\n" + "\n".join(lines[-20:]))
                time.sleep(0.05)
            column.figures["2. daemon start (to first getUpdates)"] = ms(
                time.perf_counter() - started
            )
            cpu0, wall0 = cpu_seconds(process.pid), time.perf_counter()
            time.sleep(idle_seconds)  # the window measured: the daemon idles meanwhile
            cpu1, wall1 = cpu_seconds(process.pid), time.perf_counter()
            share = (cpu1 - cpu0) / (wall1 - wall0)
            column.figures[f"2. idle daemon CPU ({idle_seconds:.0f} s)"] = f"{share:.1%} of a core"
            for label, command in (
                ("/latest 20", "/latest 20"),
                ("/search chine", "/search chine"),
            ):
                waits = []
                for _ in range(repeat):
                    chat = chats.pop(0) if chats else 10_000_000
                    seen = len(api.messages_to(chat))
                    api.push_message(chat, command, language_code="fr")
                    waited = wait_reply(api, chat, seen, 120.0)
                    waits.append(waited if waited is not None else float("inf"))
                column.figures[f"3. reply {label}"] = ms(median(waits))
            sent = [m for m in api.sent if m.method == "sendMessage"]
            column.figures["2. daemon: 429s / messages while measured"] = (
                f"{api.too_many_requests} / {len(sent)}"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            api.close()
    tracebacks = [line for line in lines if line.startswith("Traceback")]
    if tracebacks:
        column.figures["2. daemon tracebacks"] = str(len(tracebacks))


def run_measured(url: str, *args: str) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in kB, output) of one ``mcwatch`` command: the child's own
    peak from wait4(2) (RUSAGE_CHILDREN is a maximum over every child, the daemon's too)."""
    with tempfile.TemporaryDirectory() as cwd, tempfile.TemporaryFile("w+") as out:
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=cwd,
            env=child_env(url),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"mcwatch {' '.join(args)} failed: {output.strip()[-400:]}")
    return wall, usage.ru_maxrss, output


def figure_search(url: str, repeat: int, column: Column) -> None:
    runs = [
        run_measured(url, "items", "search", "chine AND mine*", "--since", "90d")
        for _ in range(repeat)
    ]
    found = max(len(runs[-1][2].strip().splitlines()) - 1, 0)  # a header, then one per item
    column.figures['4. items search "chine AND mine*" --since 90d'] = (
        f"{ms(median([r[0] for r in runs]))}, {median([r[1] for r in runs]) / 1024:.0f} MB, "
        f"{found} found"
    )


def figure_backtest(url: str, repeat: int, column: Column) -> None:
    runs = [
        run_measured(url, "rules", "backtest", "mining", "--since", "365d", "--json")
        for _ in range(repeat)
    ]
    output = runs[-1][2]
    try:
        document = json.loads(output[output.index("{") :])
        scanned, matched = document.get("scanned"), document.get("matched")
    except ValueError:
        found = re.search(r"(\d+) of (\d+) stored items", output)
        matched, scanned = (found.group(1), found.group(2)) if found else ("?", "?")
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            since = datetime.now(UTC) - timedelta(days=365)
            window = session.execute(
                select(func.count()).select_from(Item).where(Item.published >= since)  # type: ignore[arg-type,operator]
            ).scalar()
    finally:
        engine.dispose()
    column.figures["5. rules backtest mining --since 365d"] = (
        f"{ms(median([r[0] for r in runs]))}, scanned {scanned} of {window}, {matched} hits"
    )


def feed_body(url: str, round_no: int) -> tuple[bytes, int]:
    """30 items: reports of two stories of the last day, two new Mali–China reports
    and 26 items of news. Returns (RSS bytes, items expected to match)."""
    rng = history.random.Random(1000 + round_no)
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            recent = session.execute(
                select(Item.title, Item.summary, Item.language)
                .where(Item.id.in_(select(ItemTopic.item_id)))  # type: ignore[attr-defined]
                .order_by(Item.published.desc())  # type: ignore[attr-defined]
                .offset(2 * round_no)
                .limit(2)
            ).all()
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    entries: list[tuple[str, str]] = [(t, s) for t, s, _ in recent]
    fill = {"p": "Kita", "c": "CMEC", "s": "Kalana", "n": str(700 + round_no)}
    entries += [
        history.report(rng, "energy", "fr", fill),
        history.report(rng, "health", "en", fill),
    ]
    entries += [history.news_item(rng, "fr") for _ in range(26)]
    rss = []
    for n, (title, summary) in enumerate(entries):
        published = (now - timedelta(minutes=5 + n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        rss.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://bench{round_no}.example/{n}</link>"
            f"<guid>bench-{round_no}-{n}</guid><pubDate>{published}</pubDate>"
            f"<description>{escape(summary)}</description></item>"
        )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench {round_no}</title><language>fr</language>{''.join(rss)}"
        "</channel></rss>"
    )
    return body.encode(), 4


def figure_feed(url: str, repeat: int, column: Column) -> None:
    timings: dict[str, list[float]] = {"store_items": [], "store_outcome": []}
    originals = {name: getattr(pipeline, name) for name in timings}

    def timed(name: str) -> Callable[..., Any]:
        original = originals[name]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timings[name].append(time.perf_counter() - began)

        return wrapper

    server = FeedServer()
    engine = make_engine(url)
    outcomes = []
    try:
        for name in timings:
            setattr(pipeline, name, timed(name))

        async def poll_rounds() -> None:
            async with open_deps(
                settings_for(url), engine, RecordingSender(), pacer=no_pacing()
            ) as deps:
                for round_no in range(repeat):
                    body, _ = feed_body(url, round_no)
                    server.serve(f"/bench{round_no}.xml", body)
                    with transaction(engine) as session:
                        from store import feeds
                        from store.feeds import NewFeed

                        row = feeds.add_feed(
                            session,
                            NewFeed(
                                url=server.url(f"/bench{round_no}.xml"),
                                name=f"Bench {round_no}",
                                language="fr",
                            ),
                            datetime.now(UTC),
                        )
                        feed_id = row.id
                    outcomes.extend(
                        await pipeline.poll(deps, feed_id=feed_id, include_not_due=True)
                    )

        asyncio.run(poll_rounds())
    finally:
        for name, original in originals.items():
            setattr(pipeline, name, original)
        server.close()
        engine.dispose()
    summary = ", ".join(
        f"{o.new_items} new/{o.matched} matched/{o.queued} queued" for o in outcomes[:1]
    )
    column.figures["6. feed with matches: store_items"] = ms(median(timings["store_items"]))
    column.figures["6. feed with matches: write transaction"] = (
        f"{ms(median(timings['store_outcome']))} ({summary})"
    )


def figure_digest(url: str, column: Column, everyone: bool = False) -> None:
    """Every digest reader due at once, one tick against the stand-in; ``everyone``:
    every active subscriber made a daily digest reader first (``--digest-everyone``:
    the 1,000 readers of issue 14's round)."""
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            readers = Subscriber.__table__  # type: ignore[attr-defined]
            if everyone:
                session.execute(
                    update(readers).where(readers.c.active).values(mode="digest", paused=False)
                )
            session.execute(
                update(readers)
                .where(readers.c.mode.in_(("digest", "both")))
                .values(timezone=None, digest_time=None)
            )
            last = session.execute(select(func.max(Digest.local_date))).scalar()
        day = datetime.fromisoformat(last).replace(tzinfo=UTC) + timedelta(days=1)
        clock = FixedClock(day.replace(hour=7, minute=31))
        api = BotApi(limits=FloodLimits())
        settings = settings_for(url, api)
        from bot.telegram.app import build_application
        from bot.telegram.sender import TelegramSender

        async def tick() -> tuple[float, int]:
            application = build_application(settings)
            await application.initialize()
            try:
                async with open_deps(
                    settings, engine, TelegramSender(application.bot), clock=clock, pacer=Pacer()
                ) as deps:
                    began = time.perf_counter()
                    plans = await digest_job.digest_tick(deps)
                    return time.perf_counter() - began, len(plans)
            finally:
                await application.shutdown()

        try:
            wall, sent = asyncio.run(tick())
        finally:
            api.close()
        with transaction(engine) as session:
            due = session.execute(
                select(func.count())
                .select_from(Digest)
                .where(Digest.local_date == day.date().isoformat())  # type: ignore[arg-type]
            ).scalar()
    finally:
        engine.dispose()
    messages = sum(1 for m in api.sent if m.method in ("sendMessage", "sendPhoto"))
    column.figures["7. digest round (one tick)"] = (
        f"{ms(wall)}: {sent} of {due} digests sent, {messages} messages, "
        f"{api.too_many_requests} × 429"
    )


# -- main --------------------------------------------------------------------------------


def measure(
    url: str,
    only: set[int],
    repeat: int,
    idle: float,
    digest_repeat: int,
    everyone: bool = False,
) -> Column:
    dialect = make_url(url).get_backend_name()
    column = Column(url, "SQLite" if dialect == "sqlite" else "PostgreSQL")
    print(f"{column.dialect}: {url}", flush=True)
    with working_copy(url) as copy:
        engine = make_engine(copy)
        began = time.perf_counter()
        before, after = upgrade(engine)
        engine.dispose()
        column.figures["0. migrate the copy"] = (
            f"{ms(time.perf_counter() - began)} ({before} → {after})"
        )
        drained = asyncio.run(at_rest(copy))
        column.figures["0. in flight at build, sent first"] = str(drained)
        steps: list[tuple[int, Callable[[], None]]] = [
            (1, lambda: asyncio.run(figure_tick(copy, repeat, column))),
            (2, lambda: figure_daemon(copy, repeat, idle, column)),
            (4, lambda: figure_search(copy, repeat, column)),
            (5, lambda: figure_backtest(copy, repeat, column)),
            (6, lambda: figure_feed(copy, repeat, column)),
        ]
        for number, step in steps:
            if number in only or (number == 2 and 3 in only):
                began = time.perf_counter()
                try:
                    step()
                except Exception as exc:  # one figure failing must not lose the others
                    column.figures[f"{number}. FAILED"] = f"{type(exc).__name__}: {exc}"[:200]
                print(f"  figure {number} done ({time.perf_counter() - began:.0f} s)", flush=True)
    if 7 in only:
        for _ in range(digest_repeat):
            with working_copy(url) as copy:
                engine = make_engine(copy)
                upgrade(engine)
                engine.dispose()
                try:
                    figure_digest(copy, column, everyone)
                except Exception as exc:
                    column.figures["7. FAILED"] = f"{type(exc).__name__}: {exc}"[:200]
        print("  figure 7 done", flush=True)
    return column


def table(columns: Sequence[Column]) -> str:
    labels: list[str] = []
    for column in columns:
        labels += [k for k in column.figures if k not in labels]
    order = {k: n for n, k in enumerate(labels)}
    labels.sort(key=lambda k: (int(k.split(".")[0]), order[k]))
    width = max((len(k) for k in labels), default=10)
    cells = [[c.figures.get(k, "–") for c in columns] for k in labels]
    widths = [max([len(c.dialect)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    head = "figure".ljust(width) + "".join(
        f" | {c.dialect.ljust(w)}" for c, w in zip(columns, widths, strict=True)
    )
    lines = [head, "-" * len(head)]
    for label, row in zip(labels, cells, strict=True):
        lines.append(
            label.ljust(width)
            + "".join(f" | {v.ljust(w)}" for v, w in zip(row, widths, strict=True))
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        action="append",
        required=True,
        help="a history (bench/history.py); repeat for SQLite and PostgreSQL",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="figures to run, e.g. 1,4")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--digest-repeat", type=int, default=1)
    parser.add_argument(
        "--digest-everyone",
        action="store_true",
        help="figure 7 with every active subscriber a daily digest reader",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    only = {int(n) for n in args.only.split(",") if n.strip()}
    columns = [
        measure(
            url, only, args.repeat, args.idle_seconds, args.digest_repeat, args.digest_everyone
        )
        for url in args.url
    ]
    print()
    print(table(columns))
    if args.json:
        args.json.write_text(json.dumps([c.__dict__ for c in columns], indent=2) + "\n")


if __name__ == "__main__":
    main()
