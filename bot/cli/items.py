"""`mcwatch items …`: what was found."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import emit_json, fail, table
from bot.cli.runtime import Runtime
from bot.ids import MAX_ROW_ID

if TYPE_CHECKING:
    from bot.ingest.dedupe import Fingerprint
    from bot.types import StoredItem

app = typer.Typer(help="List and search stored items.", no_args_is_help=True)


@app.command("list")
def list_command(
    topic: Annotated[
        str | None, typer.Option("--topic", help="Only items of this topic slug.")
    ] = None,
    since: Annotated[str, typer.Option("--since", help="How far back: 30m, 12h, 7d, 2w.")] = "7d",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most N items.")] = 50,
    country: Annotated[
        str | None,
        typer.Option("--country", help="Only items from outlets of this country (ISO code: ML)."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="Only items from outlets of this kind: malian_public, malian_private, "
            "chinese_state, agency, panafrican, search or blog.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List stored items, newest first."""
    from bot.provenance import parse_country, parse_kind
    from bot.timeparse import parse_since
    from store import items as store_items
    from store.db import transaction

    try:
        country = None if country is None else parse_country(country)
    except ValueError as exc:
        raise fail(f"--country: {exc}", 2) from None
    try:
        kind = None if kind is None else parse_kind(kind)
    except ValueError as exc:
        raise fail(f"--kind: {exc}", 2) from None
    runtime = Runtime.load()
    try:
        start = parse_since(since, runtime.clock.now())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    with transaction(runtime.engine) as session:
        rows = store_items.list_items(
            session, topic=topic, since=start, limit=limit, country=country, kind=kind
        )
    if as_json:
        emit_json([_item_json(item) for item in rows])
        return
    table(
        ["id", "published", "lang", "topics", "source", "from", "title"],
        [[i.id, i.published, i.language, i.topics, i.source, _from(i), i.title] for i in rows],
    )


def _item_json(item: StoredItem) -> dict[str, object]:
    """SPEC's ``items list --json`` row, with who is speaking (null: unknown)."""
    from store.schemas import item_json

    return {**item_json(item), "country": item.country, "kind": item.kind}


def _from(item: StoredItem) -> str | None:
    """'CN chinese_state': who is speaking, for the table."""
    return " ".join(value for value in (item.country, item.kind) if value) or None


@app.command("show")
def show(
    item_id: Annotated[
        int, typer.Argument(help="The item's id (see items list).", min=1, max=MAX_ROW_ID)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """One item: its topics with the terms and sentence that matched, and its story —
    the first report and the other reports grouped with it, with why."""
    from bot.ingest.dedupe import why_same_story
    from store import items as store_items
    from store.db import transaction
    from store.schemas import item_json

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        item = store_items.get_item(session, item_id)
        if item is None:
            typer.echo(f"mcwatch: no item {item_id}", err=True)
            raise typer.Exit(1)
        evidence = store_items.item_evidence(session, item_id)
        members = store_items.story_members(session, item.story_id) if item.story_id else []
    probe = _fingerprint(item)
    others = [m for m in members if m.id != item.id]
    story = [{**item_json(m), "why": why_same_story(probe, _fingerprint(m))} for m in others]
    if as_json:
        emit_json(
            {
                **item_json(item),
                "summary": item.summary,
                "matches": [
                    {"slug": slug, "terms": terms, "evidence": sentence}
                    for slug, terms, sentence in evidence
                ],
                "story": story,
            }
        )
        return
    typer.echo(f"#{item.id} {item.title}")
    typer.echo(f"  {item.source} · {item.published:%Y-%m-%d %H:%M} UTC · {item.language}")
    if item.link:
        typer.echo(f"  {item.link}")
    for slug, terms, sentence in evidence:
        typer.echo(f"  topic {slug}: {', '.join(terms)}")
        if sentence:
            typer.echo(f"    « {sentence} »")
    if not evidence:
        typer.echo("  no topic (not about Mali–China cooperation)")
    if not others:
        typer.echo("  story: this item only" if item.story_id else "  story: none")
        return
    first = members[0]
    role = "the first report" if first.id == item.id else f"first reported by #{first.id}"
    typer.echo(f"  story {item.story_id}: {len(members)} reports, {role}")
    for member, row in zip(others, story, strict=True):
        typer.echo(f"    #{member.id} {member.source}: {member.title}")
        typer.echo(f"      {row['why']}")


def _fingerprint(item: StoredItem) -> Fingerprint:
    from bot.ingest.dedupe import fingerprint

    return fingerprint(
        item.id, item.story_id, item.title, item.summary, item.language, item.published
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
    from bot.ingest.stored_rules import search as search_stored
    from bot.timeparse import parse_since
    from store.schemas import item_json

    runtime = Runtime.load()
    try:
        start = parse_since(since, runtime.clock.now())
        hits = search_stored(runtime.engine, query, since=start, limit=limit)
    except ValueError as exc:  # RuleSyntaxError is a ValueError, with its column
        raise typer.BadParameter(str(exc), param_hint="QUERY") from None
    if as_json:
        emit_json([item_json(item) for item in hits])
        return
    table(
        ["id", "published", "lang", "topics", "source", "title"],
        [[i.id, i.published, i.language, i.topics, i.source, i.title] for i in hits],
    )
