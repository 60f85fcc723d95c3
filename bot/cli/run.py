"""`mcwatch run`, `poll`, `deliver`: the same functions the scheduler's ticks call."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import emit_json, show_progress, table
from bot.cli.runtime import CONSOLE_CHAT_ID, Runtime
from bot.ids import MAX_ROW_ID

if TYPE_CHECKING:
    import asyncio

    from sqlalchemy import Engine
    from telegram.ext import Application

    from bot.deliver.senders import Sender
    from bot.deps import Deps
    from bot.ingest.pipeline import PollOutcome


def ensure_console_subscriber(engine: Engine, runtime: Runtime, *, active: bool) -> None:
    """Console mode has one subscriber, the terminal; with a token it is switched off."""
    from store import subscribers
    from store.db import transaction

    with transaction(engine) as session:
        existing = subscribers.find_subscriber(session, CONSOLE_CHAT_ID)
        if active:
            subscribers.register(
                session,
                CONSOLE_CHAT_ID,
                chat_type="console",
                title="console",
                language="en",
                now=runtime.clock.now(),
            )
        elif existing is not None and existing.id is not None:
            subscribers.deactivate(session, existing.id)


@asynccontextmanager
async def connected(runtime: Runtime) -> AsyncIterator[tuple[Deps, Application | None]]:  # type: ignore[type-arg]
    """Deps with the right sender: Telegram with a token, the console without one.

    The Application (handlers, getMe) exists only in Telegram mode and is shut down on
    the way out.
    """
    from bot.deliver.senders import ConsoleSender
    from bot.deps import open_deps
    from bot.telegram.sender import TelegramSender

    settings, engine = runtime.settings, runtime.engine
    application = None
    sender: Sender
    if settings.console_mode:
        ensure_console_subscriber(engine, runtime, active=True)
        sender = ConsoleSender()
    else:
        ensure_console_subscriber(engine, runtime, active=False)
        from bot.telegram.app import build_application

        application = build_application(settings)
        await application.initialize()
        sender = TelegramSender(application.bot)
    try:
        async with open_deps(settings, engine, sender, clock=runtime.clock) as deps:
            if application is not None:
                from bot.telegram.app import attach

                attach(application, deps)
            yield deps, application
    finally:
        if application is not None:
            await application.shutdown()


def run(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Handle pending Telegram updates, poll "
            "every due feed, deliver pending alerts, then exit.",
        ),
    ] = False,
) -> None:
    """Start the scheduler and the Telegram bot (console mode without a token)."""
    import asyncio

    runtime = Runtime.load()
    asyncio.run(_run(runtime, once))


def summary(runtime: Runtime, application: Application | None) -> str:  # type: ignore[type-arg]
    """The one line `run` starts with: database, mode, topics, feeds, bot, next poll."""
    from store.db import transaction, where
    from store.status import overview

    with transaction(runtime.engine) as session:
        watch = overview(session)
    if application is None:
        mode = "console mode (no MCWATCH_TELEGRAM_TOKEN: alerts are printed here)"
    else:
        mode = f"Telegram mode as @{application.bot.username}"
    now = runtime.clock.now()
    if not watch.feeds_enabled:
        upcoming = "no feed to poll (mcwatch feeds add URL)"
    elif watch.next_poll_at is None or watch.next_poll_at <= now:
        upcoming = "next poll now"
    else:
        minutes = max(1, round((watch.next_poll_at - now).total_seconds() / 60))
        upcoming = f"next poll in {minutes} min"
    backend = runtime.engine.url.get_backend_name()
    return (
        f"mcwatch: database {where(runtime.engine.url)} ({backend}), {mode}, "
        f"{watch.topics_enabled} topics, {watch.feeds_enabled} feeds enabled, {upcoming}"
    )


async def _run(runtime: Runtime, once: bool) -> None:
    import asyncio

    from bot.jobs import TelegramLeader, run_forever, run_once

    async with connected(runtime) as (deps, application):
        typer.echo(summary(runtime, application), err=True)
        # One worker of those sharing the database reads updates and sends (bot.jobs):
        # the lease is taken here, renewed while running, released on the way out.
        leader = TelegramLeader(deps)
        if once:
            report = await run_once(deps, application, leader)
            typer.echo(
                f"updates: {report.updates}, feeds polled: {len(report.polled)}, "
                f"new items: {sum(o.new_items for o in report.polled)}, "
                f"alerts sent: {report.delivered.sent}, retrying: {report.delivered.retried}, "
                f"failed: {report.delivered.failed + report.delivered.blocked}, "
                f"digests: {report.digests}",
                err=True,
            )
            return
        stop = asyncio.Event()
        menu = None
        if application is not None:  # a Bot API hiccup at start must not stop the daemon
            menu = asyncio.create_task(publish_menu(application, stop))
        received: list[str] = []
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, _stopper(stop, received, sig.name))
        typer.echo("mcwatch: running; Ctrl-C to stop.", err=True)
        started = loop.time()
        try:
            await run_forever(deps, application, stop, leader)
        finally:
            if menu is not None:
                menu.cancel()
            why = f" on {received[0]}" if received else ""
            typer.echo(f"mcwatch: stopped{why} after {_duration(loop.time() - started)}", err=True)


MENU_RETRY_SECONDS = (5.0, 30.0, 120.0, 600.0)  # then every 10 minutes


async def publish_menu(
    application: Application,  # type: ignore[type-arg]
    stop: asyncio.Event,
    delays: tuple[float, ...] = MENU_RETRY_SECONDS,
) -> bool:
    """Publish the command menu, retried later while Telegram or the network fails; a
    failure is one line in the log, and the daemon runs meanwhile. True once published."""
    import asyncio
    import logging

    from telegram.error import TelegramError

    from bot.telegram.app import publish_commands

    log = logging.getLogger("bot.cli.run")
    attempt = 0
    while not stop.is_set():
        try:
            await publish_commands(application)
            return True
        except TelegramError as exc:
            delay = delays[min(attempt, len(delays) - 1)]
            log.warning(
                "the command menu could not be published (%s: %s); retrying in %.0f s",
                type(exc).__name__,
                exc.message,
                delay,
            )
        attempt += 1
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
    return False


def _stopper(stop: asyncio.Event, received: list[str], name: str) -> Callable[[], None]:
    def handle() -> None:
        received.append(name)
        stop.set()

    return handle


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def poll(
    all_feeds: Annotated[
        bool, typer.Option("--all", help="Poll every enabled feed now, ignoring schedules.")
    ] = False,
    feed: Annotated[
        int | None, typer.Option("--feed", min=1, max=MAX_ROW_ID, help="Poll only this feed id.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Fetch due feeds now, match, store and queue alerts."""
    import asyncio

    runtime = Runtime.load()
    outcomes = asyncio.run(_poll(runtime, all_feeds, feed))
    if as_json:
        emit_json([asdict(o) for o in outcomes])
        return
    table(
        ["id", "feed", "status", "entries", "new", "matched", "queued", "error"],
        [_row(o) for o in outcomes],
    )
    if not outcomes:
        typer.echo("no feed is due (use --all to poll every feed now)", err=True)


def _row(o: PollOutcome) -> list[object]:
    name = o.name or o.url
    return [o.feed_id, name, o.status, o.entries, o.new_items, o.matched, o.queued, o.error]


async def _poll(runtime: Runtime, all_feeds: bool, feed_id: int | None) -> list[PollOutcome]:
    from bot.deliver.senders import ConsoleSender
    from bot.deps import open_deps
    from bot.ingest.pipeline import poll_iter, select_feeds
    from bot.logs import progress_line

    engine = runtime.engine
    if runtime.settings.console_mode:  # the terminal is the subscriber: `deliver` prints
        ensure_console_subscriber(engine, runtime, active=True)
    async with open_deps(runtime.settings, engine, ConsoleSender(), clock=runtime.clock) as deps:
        due = select_feeds(deps, include_not_due=all_feeds or feed_id is not None, feed_id=feed_id)
        outcomes: list[PollOutcome] = []
        if show_progress() and due:
            bar = typer.progressbar(length=len(due), label="polling", file=sys.stderr)
            with bar, progress_line(bar.render_progress):
                async for outcome in poll_iter(deps, due):
                    outcomes.append(outcome)
                    bar.update(1)
        else:
            outcomes = [outcome async for outcome in poll_iter(deps, due)]
    return sorted(outcomes, key=lambda o: o.feed_id)


def deliver() -> None:
    """Send queued alerts now."""
    import asyncio

    runtime = Runtime.load()
    asyncio.run(_deliver(runtime))


async def _deliver(runtime: Runtime) -> None:
    from bot.deliver.outbox import deliver_pending

    async with connected(runtime) as (deps, _):
        report = await deliver_pending(deps)
    typer.echo(
        f"sent: {report.sent}, retrying later: {report.retried}, failed: {report.failed}, "
        f"blocked: {report.blocked}, held (quiet hours): {report.held}, edited: {report.edited}",
        err=True,
    )
