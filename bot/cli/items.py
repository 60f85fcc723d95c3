"""`mcwatch items …`: what was found."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.output import emit_json, table
from bot.cli.runtime import Runtime, parse_since
from bot.rules import query_matcher
from bot.types import MatchInput
from store import items as store_items
from store.db import transaction
from store.schemas import item_json

app = typer.Typer(help="List and search stored items.", no_args_is_help=True)


@app.command("list")
def list_command(
    topic: Annotated[
        str | None, typer.Option("--topic", help="Only items of this topic slug.")
    ] = None,
    since: Annotated[str, typer.Option("--since", help="How far back: 30m, 12h, 7d, 2w.")] = "7d",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most N items.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List stored items, newest first."""
    runtime = Runtime.load()
    try:
        start = parse_since(since, runtime.clock.now())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    with transaction(runtime.engine) as session:
        rows = store_items.list_items(session, topic=topic, since=start, limit=limit)
    if as_json:
        emit_json([item_json(item) for item in rows])
        return
    table(
        ["id", "published", "lang", "topics", "source", "title"],
        [[i.id, i.published, i.language, i.topics, i.source, i.title] for i in rows],
    )


@app.command("search")
def search(
    query: Annotated[
        str,
        typer.Argument(
            help="Words or a rule, e.g. 'barrage Kenie*' or '\"ressortissants chinois\" -football'."
        ),
    ],
    since: Annotated[str, typer.Option("--since", help="How far back: 30m, 12h, 7d, 2w.")] = "90d",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most N hits.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Search stored items with the rule language (accent- and case-insensitive)."""
    runtime = Runtime.load()
    try:
        start = parse_since(since, runtime.clock.now())
        matcher = query_matcher(runtime.engine, query, gate=False)
    except ValueError as exc:  # RuleSyntaxError is a ValueError, with its column
        raise typer.BadParameter(str(exc), param_hint="QUERY") from None
    with transaction(runtime.engine) as session:
        stored = store_items.list_items(session, since=start, limit=100_000)
    hits = [i for i in stored if matcher.match(MatchInput(i.title, i.summary, i.language))]
    hits = hits[:limit]
    if as_json:
        emit_json([item_json(item) for item in hits])
        return
    table(
        ["id", "published", "lang", "topics", "source", "title"],
        [[i.id, i.published, i.language, i.topics, i.source, i.title] for i in hits],
    )
