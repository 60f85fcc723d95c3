"""`mcwatch run`, `poll`, `deliver`: the same functions the scheduler's ticks call."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import emit_json, show_progress, table
from bot.cli.runtime import CONSOLE_CHAT_ID, Runtime

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from telegram.ext import Application

    from bot.deps import Deps
    from bot.pipeline import PollOutcome
    from bot.telegram.sender import Sender


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
    from bot.deps import open_deps
    from bot.telegram.sender import ConsoleSender, TelegramSender

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


async def _run(runtime: Runtime, once: bool) -> None:
    import asyncio

    from bot.jobs import run_forever, run_once

    if runtime.settings.console_mode:
        typer.echo(
            "mcwatch: no MCWATCH_TELEGRAM_TOKEN set: console mode, alerts are printed here.",
            err=True,
        )
    async with connected(runtime) as (deps, application):
        if once:
            report = await run_once(deps, application)
            typer.echo(
                f"updates: {report.updates}, feeds polled: {len(report.polled)}, "
                f"new items: {sum(o.new_items for o in report.polled)}, "
                f"alerts sent: {report.delivered.sent}, retrying: {report.delivered.retried}, "
                f"failed: {report.delivered.failed + report.delivered.blocked}, "
                f"digests: {report.digests}",
                err=True,
            )
            return
        if application is not None:
            from bot.telegram.app import publish_commands

            await publish_commands(application)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        typer.echo("mcwatch: running; Ctrl-C to stop.", err=True)
        await run_forever(deps, application, stop)


def poll(
    all_feeds: Annotated[
        bool, typer.Option("--all", help="Poll every enabled feed now, ignoring schedules.")
    ] = False,
    feed: Annotated[int | None, typer.Option("--feed", help="Poll only this feed id.")] = None,
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
        ["feed", "status", "entries", "new", "matched", "queued", "error"],
        [
            [o.feed_id, o.status, o.entries, o.new_items, o.matched, o.queued, o.error]
            for o in outcomes
        ],
    )
    if not outcomes:
        typer.echo("no feed is due (use --all to poll every feed now)", err=True)


async def _poll(runtime: Runtime, all_feeds: bool, feed_id: int | None) -> list[PollOutcome]:
    from bot.deps import open_deps
    from bot.pipeline import poll_iter, select_feeds
    from bot.telegram.sender import ConsoleSender

    engine = runtime.engine
    async with open_deps(runtime.settings, engine, ConsoleSender(), clock=runtime.clock) as deps:
        due = select_feeds(deps, include_not_due=all_feeds or feed_id is not None, feed_id=feed_id)
        outcomes: list[PollOutcome] = []
        if show_progress() and due:
            with typer.progressbar(length=len(due), label="polling", file=sys.stderr) as bar:
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
    from bot.outbox import deliver_pending

    async with connected(runtime) as (deps, _):
        report = await deliver_pending(deps)
    typer.echo(
        f"sent: {report.sent}, retrying later: {report.retried}, failed: {report.failed}, "
        f"blocked: {report.blocked}, held (quiet hours): {report.held}, edited: {report.edited}",
        err=True,
    )
