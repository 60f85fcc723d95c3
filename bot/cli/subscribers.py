"""`mcwatch subscribers …`."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.output import emit_json, table
from bot.cli.runtime import Runtime

app = typer.Typer(help="Telegram subscribers.", no_args_is_help=True)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List subscribers with their mode and topics."""
    from store import subscribers as store_subscribers
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        rows = [
            (s, store_subscribers.subscribed_slugs(session, s.id or 0))
            for s in store_subscribers.list_subscribers(session)
        ]
    if as_json:
        emit_json(
            [
                {
                    "id": s.id,
                    "chat_id": s.chat_id,
                    "chat_type": s.chat_type,
                    "title": s.title,
                    "language": s.language,
                    "mode": s.mode,
                    "active": s.active,
                    "paused": s.paused,
                    "topics": slugs,
                }
                for s, slugs in rows
            ]
        )
        return
    table(
        ["id", "chat", "type", "name", "lang", "mode", "active", "topics"],
        [
            [s.id, s.chat_id, s.chat_type, s.title, s.language, s.mode, s.active, slugs]
            for s, slugs in rows
        ],
    )
