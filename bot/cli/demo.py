"""`mcwatch demo`: the whole pipeline, offline, on the sample feeds in seeds/samples/.

It serves the samples on a loopback port, uses a throw-away SQLite database (your
real database is not touched), polls once, prints the alerts and a digest.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from bot.cli.run import ensure_console_subscriber
from bot.cli.runtime import CONSOLE_CHAT_ID, Runtime
from bot.clock import SystemClock

FEED_SUFFIXES = (".rss", ".atom", ".xml")


def demo() -> None:
    """Offline showcase: serve the sample feeds on loopback, poll once, print alerts
    and a digest. No network, no token, no change to your database."""
    import http.server
    import tempfile
    import threading

    from bot.logs import setup_logging
    from bot.resources import data_path

    class _QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    setup_logging("WARNING")
    samples = data_path("seeds", "samples")
    files = sorted(p for p in samples.iterdir() if p.suffix in FEED_SUFFIXES)
    if not files:
        raise typer.Exit(1)
    handler = functools.partial(_QuietHandler, directory=str(samples))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mcwatch-demo-") as tmp:
            _demo(Path(tmp), f"http://127.0.0.1:{server.server_address[1]}", files)
    finally:
        server.shutdown()
        server.server_close()


def _demo(tmp: Path, base: str, files: list[Path]) -> None:
    import asyncio

    from bot.deliver.digest_job import plan_digest
    from bot.deliver.outbox import deliver_pending
    from bot.deliver.render import html_to_console
    from bot.deliver.senders import ConsoleSender
    from bot.deps import open_deps
    from bot.ingest.pipeline import poll
    from bot.seed_files import seed
    from bot.settings import Settings
    from store import feeds
    from store.db import make_engine, transaction
    from store.feeds import NewFeed
    from store.migrate import upgrade

    settings = Settings(database_url=f"sqlite:///{tmp / 'demo.db'}")
    runtime = Runtime(settings=settings, clock=SystemClock())
    engine = make_engine(settings.database_url)
    upgrade(engine)
    seed(engine, runtime.clock, with_feeds=False)
    with transaction(engine) as session:
        for path in files:
            feeds.add_feed(
                session, NewFeed(url=f"{base}/{path.name}", name=path.stem), runtime.clock.now()
            )
    ensure_console_subscriber(engine, runtime, active=True)
    typer.echo(f"mcwatch demo: {len(files)} sample feeds served on {base}\n")

    async def go() -> None:
        async with open_deps(settings, engine, ConsoleSender(), clock=runtime.clock) as deps:
            outcomes = await poll(deps, include_not_due=True)
            for o in sorted(outcomes, key=lambda o: o.feed_id):
                typer.echo(
                    f"polled feed {o.feed_id}: {o.status}, {o.new_items} items, "
                    f"{o.matched} matched" + (f", error: {o.error}" if o.error else "")
                )
            typer.echo("")
            report = await deliver_pending(deps)
            typer.echo(f"{report.sent} alerts sent to the console (chat {CONSOLE_CHAT_ID})\n")

            # The demo's digest covers every sample story, whatever its date.
            plan = plan_digest(
                deps,
                subscriber_id=None,
                chat_id=CONSOLE_CHAT_ID,
                language="en",
                timezone=None,
                start=datetime(2000, 1, 1, tzinfo=UTC),
                end=deps.clock.now(),
            )
            typer.echo("── digest " + "─" * 50)
            for message in plan.messages:
                typer.echo(html_to_console(message))

    asyncio.run(go())
    engine.dispose()
