"""The pooled path stores what the serial path stores.

A big poll parses, normalises and matches in worker processes (``bot/ingest/prepare.py``); a
small one, or ``MCWATCH_WORKERS=0``, in the main process. Same feeds, same order (one
fetch at a time, so story grouping sees the items in the same order): the same items,
under the same topics, grouped into the same stories. Through the CLI, on the labelled
corpora served on loopback. Starting two spawned workers costs about a second; nothing
waits on a timer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from tests.support.feed_server import FeedServer
from tests.support.labelled_feeds import REALWORLD_DEV, working_directory

DATA = Path(__file__).parent / "data"
FEEDS = 8  # the written corpora are dealt out over this many feeds (the pool's minimum)


def written_feeds() -> dict[str, bytes]:
    """tests/data's corpora as RSS feeds, entries dealt out in turn."""
    entries = [
        entry
        for name in ("corpus.yaml", "heldout.yaml")
        for entry in yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    ]
    items: dict[int, list[str]] = defaultdict(list)
    for number, entry in enumerate(entries):
        published = entry["published"]
        when = published if isinstance(published, str) else published.isoformat()
        items[number % FEEDS].append(
            f"<item><guid>{escape(entry['id'])}</guid><title>{escape(entry['title'])}</title>"
            f"<description>{escape(entry['summary'])}</description>"
            f"<pubDate>{escape(_rfc822(when))}</pubDate></item>"
        )
    return {
        f"/written{n}.rss": (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>written {n}</title><link>http://127.0.0.1/</link><description>t"
            f"</description>{''.join(items[n])}</channel></rss>"
        ).encode()
        for n in range(FEEDS)
    }


def _rfc822(iso: str) -> str:
    from datetime import datetime
    from email.utils import format_datetime

    return format_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def poll_all(files: dict[str, bytes], workdir: Path, workers: int) -> dict[str, Any]:
    """Serve ``files``, add them, ``poll --all`` once; what was stored, by feed and title."""
    server = FeedServer()
    runner = CliRunner()
    env = {
        "MCWATCH_WORKERS": str(workers),
        "MCWATCH_FETCH_CONCURRENCY": "1",
        "MCWATCH_BACKLOG_DAYS": "0",
        "MCWATCH_LOG_LEVEL": "ERROR",
    }
    try:
        with working_directory(workdir):
            for path, body in files.items():
                server.serve(path, body)
            seeded = json.loads(runner.invoke(app, ["feeds", "list", "--json"], env=env).stdout)
            for row in seeded:  # the seeded feeds are on the internet: never polled here
                removed = runner.invoke(app, ["feeds", "remove", str(row["id"])], env=env)
                assert removed.exit_code == 0, removed.output
            for path in files:
                added = runner.invoke(app, ["feeds", "add", server.url(path)], env=env)
                assert added.exit_code == 0, added.output
            polled = runner.invoke(app, ["poll", "--all", "--json"], env=env)
            assert polled.exit_code == 0, polled.output
            assert {o["status"] for o in json.loads(polled.stdout)} == {"ok"}
            found = runner.invoke(
                app, ["items", "list", "--since", "36500d", "--limit", "10000", "--json"], env=env
            )
            assert found.exit_code == 0, found.output
    finally:
        server.close()
    rows = json.loads(found.stdout)
    by_story: dict[int, set[tuple[int, str]]] = defaultdict(set)
    for row in rows:
        by_story[row["cluster_id"]].add((row["feed_id"], row["title"]))
    return {
        "items": {(r["feed_id"], r["title"]): sorted(r["topics"]) for r in rows},
        "stories": {frozenset(members) for members in by_story.values()},
    }


def corpus_files() -> dict[str, bytes]:
    files = written_feeds()
    if (REALWORLD_DEV / "labels.jsonl").exists():
        for path in sorted(REALWORLD_DEV.glob("feed_*")):
            files[f"/{path.name}"] = path.read_bytes()
    return files


@pytest.mark.slow  # two polls of ~560 items through the CLI, two spawned workers: ~30 s
def test_the_pooled_path_stores_what_the_serial_path_stores(tmp_path: Path) -> None:
    files = corpus_files()
    (tmp_path / "serial").mkdir()
    (tmp_path / "pooled").mkdir()
    serial = poll_all(files, tmp_path / "serial", workers=0)
    pooled = poll_all(files, tmp_path / "pooled", workers=2)
    assert len(serial["items"]) >= 400
    assert sum(1 for topics in serial["items"].values() if topics) >= 150
    assert pooled["items"] == serial["items"]
    assert pooled["stories"] == serial["stories"]
