"""`mcwatch digest`: preview or send the digests (daily and weekly) that are due."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import fail
from bot.cli.run import connected
from bot.cli.runtime import Runtime
from bot.ids import MAX_CHAT_ID

if TYPE_CHECKING:
    from bot.deliver.digest_job import DigestPlan


def digest(
    send: Annotated[bool, typer.Option("--send", help="Send instead of printing.")] = False,
    chat: Annotated[
        int | None,
        typer.Option(
            "--chat",
            min=-MAX_CHAT_ID,
            max=MAX_CHAT_ID,
            help="Only this subscriber's chat id, now, whether due or not.",
        ),
    ] = None,
) -> None:
    """Print the digests that are due (default), send them (--send), or one
    subscriber's digest now (--chat ID)."""
    import asyncio

    runtime = Runtime.load()
    asyncio.run(_digest(runtime, send, chat))


async def _digest(runtime: Runtime, send: bool, chat: int | None) -> None:
    from bot.deliver.digest import due_digests
    from bot.deliver.digest_job import digest_now, digest_tick, plan_period, send_plan
    from store import digests, subscribers
    from store.db import transaction

    async with connected(runtime) as (deps, _):
        if chat is not None:
            with transaction(deps.engine) as session:
                prefs = subscribers.preferences(session, chat, deps.settings)
            if prefs is None:
                raise fail(f"no subscriber with chat id {chat}")
            plan = digest_now(deps, prefs, buttons=send)
            if send:
                await send_plan(deps, plan)
                typer.echo(f"sent a digest of {plan.stories} stories to chat {chat}", err=True)
            else:
                _print(plan)
            return
        if send:
            sent = await digest_tick(deps)
            typer.echo(f"{len(sent)} digests sent", err=True)
            return
        # Preview: what the next tick would send (the same `due_digests`), recording nothing.
        with transaction(deps.engine) as session:
            readers = digests.digest_readers(session, deps.settings)
        due = due_digests(readers, deps.clock.now())
        for period in due:
            _print(plan_period(deps, period, buttons=False))
        if not due:
            typer.echo("no digest is due now (use --chat ID to see one subscriber's now)", err=True)


def _print(plan: DigestPlan) -> None:
    from bot.deliver.render import html_to_console

    typer.echo(f"── digest for chat {plan.chat_id} ({plan.stories} stories) " + "─" * 20)
    for message in plan.messages:
        typer.echo(html_to_console(message))
    if plan.chart:
        typer.echo(f"[trend chart: PNG, {len(plan.chart):,} bytes]")
    typer.echo("")
