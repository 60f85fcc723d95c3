"""`mcwatch rules …`: try rules on a text, on stored items, on a labelled file."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from bot.cli.output import emit_json, show_progress, table
from bot.cli.runtime import Runtime, parse_since
from bot.errors import RuleSyntaxError
from bot.normalize import detect_language
from bot.rules import query_matcher, stored_matcher
from bot.types import MatchInput
from store import items as store_items
from store import topics as store_topics
from store.db import transaction

app = typer.Typer(
    help="Test rules on a text, backtest them on stored items, evaluate them on a labelled file.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@app.command("test")
def test(
    text: Annotated[str, typer.Argument(help="The item's text (summary or body).")],
    title: Annotated[str, typer.Option("--title", help="The item's title.")] = "",
    lang: Annotated[
        str | None, typer.Option("--lang", help="fr or en (detected if not given).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Which topics match this text, and why (terms, and where Mali and China meet)."""
    runtime = Runtime.load()
    language = lang or detect_language(f"{title}\n{text}")
    explanation = stored_matcher(runtime.engine).explain(MatchInput(title, text, language))
    if as_json:
        emit_json(explanation.to_dict())
    else:
        typer.echo(explanation.to_text())


def _rule(runtime: Runtime, slug_or_query: str) -> tuple[str, str]:
    with transaction(runtime.engine) as session:
        topic = store_topics.find_topic(session, slug_or_query)
    if topic is not None:
        return topic.slug, topic.query
    return "query", slug_or_query


@app.command("backtest")
def backtest(
    slug_or_query: Annotated[
        str, typer.Argument(metavar="SLUG|QUERY", help="A topic's slug, or a rule to try.")
    ],
    since: Annotated[str, typer.Option("--since", help="How far back: 12h, 30d, 8w.")] = "30d",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N items scanned.")] = 50_000,
    as_json: JsonOption = False,
) -> None:
    """Run a rule over stored items: counts per day and sample hits (gate included)."""
    runtime = Runtime.load()
    try:
        start = parse_since(since, runtime.clock.now())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    label, query = _rule(runtime, slug_or_query)
    try:
        matcher = query_matcher(runtime.engine, query)
    except RuleSyntaxError as exc:
        raise typer.BadParameter(
            f"{exc}\n  {query}\n  {' ' * (exc.column - 1)}^", param_hint="QUERY"
        ) from None
    with transaction(runtime.engine) as session:
        stored = store_items.list_items(session, since=start, limit=limit)
    per_day: Counter[str] = Counter()
    hits = []
    if show_progress() and stored:
        with typer.progressbar(stored, label="backtest", file=None) as bar:
            found = [i for i in bar if matcher.match(MatchInput(i.title, i.summary, i.language))]
    else:
        found = [i for i in stored if matcher.match(MatchInput(i.title, i.summary, i.language))]
    for item in found:
        per_day[item.published.date().isoformat()] += 1
        hits.append(item)
    report = {
        "rule": label,
        "query": query,
        "since": start.isoformat(),
        "scanned": len(stored),
        "matched": len(hits),
        "per_day": dict(sorted(per_day.items())),
        "samples": [
            {"id": i.id, "published": i.published.isoformat(), "title": i.title, "link": i.link}
            for i in hits[:10]
        ],
    }
    if as_json:
        emit_json(report)
        return
    typer.echo(f"{label}: {len(hits)} of {len(stored)} stored items since {since} match")
    table(["day", "hits"], sorted(per_day.items()))
    if hits:
        typer.echo("")
        table(["published", "title"], [[i.published, i.title] for i in hits[:10]])
