"""`mcwatch topics …`: what is watched for. Every change is validated before it is
saved; a rule that does not parse is refused with its column and nothing is written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.output import emit_json, table
from bot.cli.runtime import Runtime
from bot.errors import RuleSyntaxError

app = typer.Typer(
    help="List, show, add, edit, remove, enable, disable, import and export "
    "topics and their rules.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
SlugArgument = Annotated[str, typer.Argument(metavar="SLUG", help="The topic's slug.")]
_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _topic_json(topic: Any) -> dict[str, Any]:
    return {
        "slug": topic.slug,
        "name": topic.name,
        "description": topic.description,
        "query": topic.query,
        "enabled": topic.enabled,
    }


def _checked_query(runtime: Runtime, query: str) -> str:
    from bot.ingest.stored_rules import stored_lexicon
    from bot.match import validate_rule

    query = " ".join(query.split())
    try:
        validate_rule(query, stored_lexicon(runtime.engine))
    except RuleSyntaxError as exc:
        pointer = " " * (exc.column - 1) + "^"
        raise typer.BadParameter(f"{exc}\n  {query}\n  {pointer}", param_hint="--query") from None
    return query


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List topics with their rules."""
    from store import topics as store_topics
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        rows = store_topics.list_topics(session)
    if as_json:
        emit_json([_topic_json(t) for t in rows])
        return
    table(
        ["slug", "name", "enabled", "query"], [[t.slug, t.name, t.enabled, t.query] for t in rows]
    )


@app.command("show")
def show(slug: SlugArgument, as_json: JsonOption = False) -> None:
    """Show one topic in full."""
    from store import topics as store_topics
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        topic = store_topics.get_topic(session, slug)
    if as_json:
        emit_json(_topic_json(topic))
        return
    typer.echo(f"{topic.slug} — {topic.name} ({'enabled' if topic.enabled else 'disabled'})")
    if topic.description:
        typer.echo(topic.description)
    typer.echo(f"query: {topic.query}")


@app.command("add")
def add(
    slug: SlugArgument,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    query: Annotated[str, typer.Option("--query", help="The rule (see README, Rule language).")],
    description: Annotated[str, typer.Option("--description", help="What belongs here.")] = "",
) -> None:
    """Add a topic; its rule is checked first."""
    from store import topics as store_topics
    from store.db import transaction

    if not _SLUG.match(slug):
        raise typer.BadParameter(
            "lower-case letters, digits, - and _, starting with a letter", param_hint="SLUG"
        )
    runtime = Runtime.load()
    checked = _checked_query(runtime, query)
    with transaction(runtime.engine) as session:
        if store_topics.find_topic(session, slug) is not None:
            raise typer.BadParameter(
                f"topic {slug!r} exists; use `mcwatch topics edit`", param_hint="SLUG"
            )
        store_topics.upsert_topic(session, slug, name=name, query=checked, description=description)
    typer.echo(f"added topic {slug}")


@app.command("edit")
def edit(
    slug: SlugArgument,
    query: Annotated[str | None, typer.Option("--query", help="A new rule.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A new display name.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="A new description.")
    ] = None,
) -> None:
    """Change a topic's rule, name or description; a new rule is checked first."""
    from store import topics as store_topics
    from store.db import transaction

    if query is None and name is None and description is None:
        raise typer.BadParameter("give --query, --name or --description", param_hint="options")
    runtime = Runtime.load()
    checked = _checked_query(runtime, query) if query is not None else None
    with transaction(runtime.engine) as session:
        topic = store_topics.get_topic(session, slug)
        store_topics.upsert_topic(
            session,
            slug,
            name=name if name is not None else topic.name,
            query=checked if checked is not None else topic.query,
            description=description if description is not None else topic.description,
        )
    typer.echo(f"updated topic {slug}")


@app.command("remove")
def remove(slug: SlugArgument) -> None:
    """Remove a topic (stored items keep their other topics)."""
    from store import topics as store_topics
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        store_topics.remove_topic(session, slug)
    typer.echo(f"removed topic {slug}")


def _set_enabled(slug: str, enabled: bool) -> None:
    from store import topics as store_topics
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        topic = store_topics.get_topic(session, slug)
        store_topics.upsert_topic(
            session,
            slug,
            name=topic.name,
            query=topic.query,
            description=topic.description,
            enabled=enabled,
        )
    typer.echo(f"{'enabled' if enabled else 'disabled'} topic {slug}")


@app.command("enable")
def enable(slug: SlugArgument) -> None:
    """Match this topic again."""
    _set_enabled(slug, True)


@app.command("disable")
def disable(slug: SlugArgument) -> None:
    """Stop matching this topic (kept, with its history)."""
    _set_enabled(slug, False)


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        # The file is checked by the reader (bot.seed_files.read_yaml_document): missing, a
        # directory, unreadable, not UTF-8 or not YAML is one line and exit 1.
        typer.Argument(
            metavar="FILE", readable=False, help="A topics YAML file (as seeds/topics.yaml)."
        ),
    ],
) -> None:
    """Load topics and alias sets from a YAML file; all of it is checked before any of
    it is saved. Topics of the file replace those of the same slug; others stay."""
    from bot.seed_files import parse_topics_document, read_yaml
    from store.db import transaction
    from store.seed import import_topics

    topic_seeds, lexicon = parse_topics_document(read_yaml(file), str(file))
    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        report = import_topics(session, topic_seeds, lexicon)
    typer.echo(f"topics added: {report.topics_added}, updated: {report.topics_updated}")


@app.command("export")
def export(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="[FILE]", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Write topics and alias sets as YAML (importable with `topics import`)."""
    import yaml

    from store import topics as store_topics
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        rows = store_topics.list_topics(session)
        lexicon = store_topics.load_lexicon(session) or {}
    document = {
        "version": 1,
        **lexicon,
        "topics": [
            {
                "slug": t.slug,
                "name": t.name,
                "description": t.description or t.name,
                "query": t.query,
            }
            for t in rows
        ],
    }
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
    if file is None:
        typer.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {file}", err=True)
