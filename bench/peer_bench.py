"""mcwatch beside a general feed reader on the same loopback farm, in one run.

    python bench/peer_bench.py [--feeds 500] [--items 30] [--runs 3] [--reader-python PATH]

Builds a farm of ``--feeds`` RSS feeds of ``--items`` items each (about 1.4 KB of text
per item; 5 % of the items about Mali–China, syndicated: one story in several feeds),
served on 8 loopback addresses (127.0.0.1–8) with ETag and Last-Modified so that a
second poll is answered 304.
Then, ``--runs`` times and alternating, each in a fresh database:

- lemon24/reader (``update_feeds(workers=4, scheduled=False)``: every feed, as
  ``--all``; by default reader skips feeds not yet due), from its own virtual environment
  (``--reader-python``; by default one is made under ``~/.cache/mcwatch-bench`` with
  ``pip install 'reader>=3.26,<4'``);
- ``mcwatch poll --all`` in a temporary directory (default SQLite, console mode, the
  farm imported from OPML and the seeded feeds removed);

a first pass then a repeat pass (every feed 304), both from bytecode (see
``mcwatch_env``; ``--source`` for mcwatch without it), each timed as a whole command with
``/usr/bin/time`` (wall seconds and peak RSS). Prints the medians and the three ratios
mcwatch / reader; the goals of issue 11 are first pass ≤ 0.5×, repeat ≤ 0.7×, peak
RSS ≤ 1.2×. ``--feeds 5000`` shows whether the cost per item grows with the watch list.

Run by hand (minutes), never as a test.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "mcwatch-bench"
HOSTS = 8

WORDS = (
    "le gouvernement a annoncé une réforme des marchés publics et la saison agricole "
    "s'annonce difficile dans plusieurs régions du pays selon les services techniques "
    "the ministry said on Tuesday that the new budget would support schools and clinics "
    "while traders in the capital reported rising prices for rice millet and fuel"
).split()
STORIES = [
    (
        "Kayes : une entreprise chinoise lance les travaux de la route {n}",
        "Le ministre malien des Transports et l'ambassadeur de Chine ont posé la première "
        "pierre du tronçon {n}, financé par un prêt chinois.",
    ),
    (
        "Mali: Chinese medical team {n} arrives at Hospital of Mali",
        "The {n}th Chinese medical team was welcomed in Bamako by Mali's health minister, "
        "the Chinese embassy said.",
    ),
    (
        "Goulamina : Ganfeng expédie le lot {n} de spodumène vers la Chine",
        "Le groupe chinois Ganfeng a annoncé l'expédition du lot {n} de concentré depuis "
        "la mine malienne de Goulamina.",
    ),
    (
        "China and Mali sign agreement {n} on solar power in Sikasso",
        "Mali's energy minister and the Chinese ambassador signed agreement {n} for a "
        "solar plant near Sikasso built by a Chinese firm.",
    ),
]


def lorem(rng: random.Random, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out).capitalize() + "."


def build_farm(feeds: int, items: int, seed: int = 2026) -> dict[str, bytes]:
    """Path → RSS bytes. Mali–China stories are 5 % of the items, each in about 5 feeds."""
    rng = random.Random(seed)
    distinct = max(len(STORIES), feeds * items // 100)
    stories = [
        (STORIES[k % len(STORIES)][0].format(n=k), STORIES[k % len(STORIES)][1].format(n=k))
        for k in range(distinct)
    ]
    farm: dict[str, bytes] = {}
    for number in range(feeds):
        entries = []
        for index in range(items):
            published = formatdate(1_764_000_000 - (number * items + index) * 60, usegmt=True)
            if rng.random() < 0.05:
                title, lede = rng.choice(stories)
                body = lede + " " + lorem(rng, 1200)
            else:
                title = lorem(rng, 70).rstrip(".")
                body = lorem(rng, 1350)
            guid = f"http://127.0.0.1/f{number}/{index}"
            entries.append(
                f"<item><title>{escape(title)}</title><link>{guid}</link><guid>{guid}</guid>"
                f"<pubDate>{published}</pubDate><description>{escape(body)}</description></item>"
            )
        farm[f"/f{number}.xml"] = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Farm feed {number}</title><link>http://127.0.0.1/f{number}</link>"
            f"<description>bench</description><language>fr</language>{''.join(entries)}"
            "</channel></rss>"
        ).encode()
    return farm


class Farm:
    """The farm on 127.0.0.1, answering conditional GETs with 304."""

    LAST_MODIFIED = formatdate(1_764_000_000, usegmt=True)

    def __init__(self, files: dict[str, bytes]) -> None:
        etags = {path: '"' + hashlib.sha1(body).hexdigest()[:16] + '"' for path, body in
                 files.items()}
        self.served: Counter[int] = Counter()  # responses by status, since the last reset
        served = self.served

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = files.get(self.path.split("?")[0])
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = etags[self.path.split("?")[0]]
                fresh = self.headers.get("If-None-Match") == etag or (
                    self.headers.get("If-None-Match") is None
                    and self.headers.get("If-Modified-Since") == Farm.LAST_MODIFIED
                )
                served[304 if fresh else 200] += 1
                self.send_response(304 if fresh else 200)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", Farm.LAST_MODIFIED)
                if fresh:
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.servers, self.urls = serve_on_loopback(Handler, list(files))

    def close(self) -> None:
        close_servers(self.servers)


def serve_on_loopback(
    handler: type[http.server.BaseHTTPRequestHandler], paths: list[str]
) -> tuple[list[http.server.ThreadingHTTPServer], list[str]]:
    """Outlets are many hosts: one server per loopback address (``HOSTS``), the paths
    dealt out among them (feed readers limit requests per host). Returns the servers,
    serving in threads, and each path's URL."""
    servers = [
        http.server.ThreadingHTTPServer((f"127.0.0.{n}", 0), handler)
        for n in range(1, HOSTS + 1)
    ]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = [
        "http://{}:{}{}".format(*servers[i % HOSTS].server_address[:2], path)
        for i, path in enumerate(paths)
    ]
    return servers, urls


def close_servers(servers: list[http.server.ThreadingHTTPServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Timed:
    seconds: float
    rss_mb: float
    served: str  # what the farm answered during the command: "500×200", "500×304"


def timed(command: list[str], cwd: Path, env: dict[str, str], farm: Farm) -> Timed:
    """Wall seconds and peak RSS of a whole command (from /usr/bin/time), and the
    responses the farm gave it."""
    report = cwd / "time.txt"
    farm.served.clear()
    subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", "-o", str(report), *command],
        cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    seconds, kilobytes = report.read_text().split()[-2:]
    served = ", ".join(f"{n}×{status}" for status, n in sorted(farm.served.items()))
    return Timed(float(seconds), int(kilobytes) / 1024, served or "nothing")


READER_PASS = """
import sys
from reader import make_reader
reader = make_reader(sys.argv[1])
if len(sys.argv) > 2:
    for url in open(sys.argv[2]).read().split():
        reader.add_feed(url, exist_ok=True)
else:
    reader.update_feeds(workers=4, scheduled=False)  # every feed, as poll --all
reader.close()
"""


def reader_python(given: str | None) -> str:
    if given:
        return given
    venv = CACHE / "reader-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "reader>=3.26,<4", "sgmllib3k"],
            check=True,
        )
    return str(python)


def run_reader(python: str, farm: Farm, work: Path) -> tuple[Timed, Timed]:
    urls = farm.urls
    env = {**os.environ}
    script = work / "reader_pass.py"
    script.write_text(READER_PASS)
    (work / "urls.txt").write_text("\n".join(urls))
    db = str(work / "reader.sqlite")
    subprocess.run([python, str(script), db, str(work / "urls.txt")], check=True)
    first = timed([python, str(script), db], work, env, farm)
    repeat = timed([python, str(script), db], work, env, farm)
    return first, repeat


def mcwatch_env(source: bool = False) -> dict[str, str]:
    """mcwatch's environment. Its modules run from bytecode, as reader's do: pip compiled
    reader's at install, while an editable install under ``PYTHONDONTWRITEBYTECODE``
    (set on these machines) compiles mcwatch's ~300 modules again in every process and
    every pool worker. The bytecode goes to a cache of its own, never into the tree.
    ``source``: as the environment has it (``--source``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCWATCH_")}
    if not source:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
    env["MCWATCH_LOG_LEVEL"] = "ERROR"
    env["MCWATCH_BACKLOG_DAYS"] = "100000"  # the farm's dates are old: keep them news
    return env


def run_mcwatch(farm: Farm, work: Path, mcwatch: str, source: bool) -> tuple[Timed, Timed]:
    urls = farm.urls
    env = mcwatch_env(source)
    seeded = json.loads(
        subprocess.run(
            [mcwatch, "feeds", "list", "--json"], cwd=work, env=env, check=True,
            capture_output=True, text=True,
        ).stdout
    )
    for feed in seeded:  # the seeded feeds are on the internet: never polled here
        subprocess.run(
            [mcwatch, "feeds", "remove", str(feed["id"])], cwd=work, env=env, check=True,
            stdout=subprocess.DEVNULL,
        )
    outlines = "".join(f'<outline type="rss" text="f{i}" xmlUrl="{u}"/>'
                       for i, u in enumerate(urls))
    (work / "farm.opml").write_text(
        f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>'
    )
    subprocess.run(
        [mcwatch, "feeds", "import", "farm.opml"], cwd=work, env=env, check=True,
        stdout=subprocess.DEVNULL,
    )
    first = timed([mcwatch, "poll", "--all"], work, env, farm)
    repeat = timed([mcwatch, "poll", "--all"], work, env, farm)
    return first, repeat


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reader-python")
    parser.add_argument(
        "--mcwatch",
        default=shutil.which("mcwatch") or str(Path(sys.executable).parent / "mcwatch"),
        help="the mcwatch command to time (another installation, for a before/after)",
    )
    parser.add_argument(
        "--source",
        action="store_true",
        help="run mcwatch as the environment has it (PYTHONDONTWRITEBYTECODE: no bytecode)",
    )
    args = parser.parse_args()
    mcwatch = args.mcwatch
    files = build_farm(args.feeds, args.items)
    size = sum(map(len, files.values()))
    farm = Farm(files)
    python = reader_python(args.reader_python)
    results: dict[str, list[tuple[Timed, Timed]]] = {"reader": [], "mcwatch": []}
    print(f"{args.feeds} feeds × {args.items} items ({size / 1e6:.1f} MB) on 127.0.0.1, "
          f"{os.cpu_count()} cores; {args.runs} runs, alternating")
    try:
        for number in range(1, args.runs + 1):
            for name in ("reader", "mcwatch"):
                with tempfile.TemporaryDirectory() as tmp:
                    work = Path(tmp)
                    if name == "reader":
                        pair = run_reader(python, farm, work)
                    else:
                        pair = run_mcwatch(farm, work, mcwatch, args.source)
                results[name].append(pair)
                first, repeat = pair
                print(f"  run {number} {name:8}: first {first.seconds:6.2f} s ({first.served}), "
                      f"repeat {repeat.seconds:5.2f} s ({repeat.served}), "
                      f"peak RSS {max(first.rss_mb, repeat.rss_mb):6.1f} MB")
    finally:
        farm.close()
    items = args.feeds * args.items
    rows = {}
    for name, pairs in results.items():
        first = median([p[0].seconds for p in pairs])
        repeat = median([p[1].seconds for p in pairs])
        rss = median([max(p[0].rss_mb, p[1].rss_mb) for p in pairs])
        rows[name] = (first, repeat, rss)
        print(f"{name:8} median: first {first:6.2f} s ({first / items * 1000:.3f} ms/item), "
              f"repeat {repeat:5.2f} s, peak RSS {rss:6.1f} MB")
    (rf, rr, rm), (mf, mr, mm) = rows["reader"], rows["mcwatch"]
    print(f"ratios mcwatch/reader: first pass {mf / rf:.2f}× (goal ≤ 0.5), repeat pass "
          f"{mr / rr:.2f}× (goal ≤ 0.7), peak RSS {mm / rm:.2f}× (goal ≤ 1.2)")


if __name__ == "__main__":
    main()
