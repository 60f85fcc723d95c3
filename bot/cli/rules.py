"""`mcwatch rules …`: try rules on a text, on stored items, on a labelled file, and
see what readers said of the alerts (``feedback``)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import emit_json, fail, table
from bot.cli.runtime import Runtime
from bot.errors import RuleSyntaxError

if TYPE_CHECKING:
    from bot.match import Matcher
    from bot.types import StoredItem

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
    from bot.ingest.normalize import detect_language
    from bot.types import MatchInput

    runtime = Runtime.load()
    language = lang or detect_language(f"{title}\n{text}")
    explanation = _stored_matcher(runtime).explain(MatchInput(title, text, language))
    if as_json:
        emit_json(explanation.to_dict())
    else:
        typer.echo(explanation.to_text())


def _stored_matcher(runtime: Runtime) -> Matcher:
    """The stored rules compiled: read with ``sqlite3`` when the database is a ready
    SQLite file (``store.snapshot``: no SQLAlchemy to load, half the command's time),
    else through the store, which migrates and seeds first."""
    from store.snapshot import read_rules

    found = read_rules(runtime.settings.database_url)
    if found is None:
        from bot.ingest.stored_rules import stored_matcher

        return stored_matcher(runtime.engine)
    from bot.match import Lexicon, compile_rules

    rules, lexicon = found
    return compile_rules(rules, Lexicon.from_mapping(lexicon))


def _rule(runtime: Runtime, slug_or_query: str) -> tuple[str, str]:
    from store import topics as store_topics
    from store.db import transaction

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
    as_json: JsonOption = False,
) -> None:
    """Run a rule over every stored item of the window: counts per day and sample hits
    (gate included)."""
    from bot.ingest.stored_rules import matching_pages
    from bot.timeparse import parse_since
    from store import search as store_search
    from store.db import transaction

    runtime = Runtime.load()
    try:
        start = parse_since(since, runtime.clock.now())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    label, query = _rule(runtime, slug_or_query)
    per_day: Counter[str] = Counter()
    samples: list[StoredItem] = []
    read = 0
    try:
        for page in matching_pages(runtime.engine, query, gate=True, since=start, every=True):
            read += page.candidates
            for item in page.hits:
                per_day[item.published.date().isoformat()] += 1
            samples += page.hits[: 10 - len(samples)]
    except RuleSyntaxError as exc:
        raise typer.BadParameter(
            f"{exc}\n  {query}\n  {' ' * (exc.column - 1)}^", param_hint="QUERY"
        ) from None
    with transaction(runtime.engine) as session:
        window = store_search.count_since(session, start)
    matched = sum(per_day.values())
    report = {
        "rule": label,
        "query": query,
        "since": start.isoformat(),
        # Every item of the window is covered: the full-text index ruled out all but
        # the candidates, which the matcher read.
        "scanned": window,
        "candidates": read,
        "matched": matched,
        "per_day": dict(sorted(per_day.items())),
        "samples": [
            {"id": i.id, "published": i.published.isoformat(), "title": i.title, "link": i.link}
            for i in samples
        ],
    }
    if as_json:
        emit_json(report)
        return
    typer.echo(
        f"{label}: {matched} of {window} stored items since {since} match ({read} candidates read)"
    )
    table(["day", "hits"], sorted(per_day.items()))
    if samples:
        typer.echo("")
        table(["published", "title"], [[i.published, i.title] for i in samples])


def _read_yaml(path: Path) -> object:
    from bot.seed_files import read_yaml_document

    return read_yaml_document(path)  # one line naming the file, whatever is wrong


@app.command("eval")
def eval_command(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Labelled YAML items (see tests/data/CORPUS.md).")
    ],
    topics_file: Annotated[
        Path | None,
        typer.Option(
            "--topics", help="Score the topics of this YAML file instead of the stored ones."
        ),
    ] = None,
    misses: Annotated[
        bool, typer.Option("--misses", help="List every wrong decision after the scores.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Precision, recall and F1 per topic (and for the Mali–China relationship) on a
    labelled file."""
    from bot.errors import LabelledFileError
    from bot.ingest.stored_rules import stored_matcher
    from bot.match import compile_rules, load_topics_document
    from bot.match.evaluate import evaluate, load_labelled

    matcher: Matcher
    if topics_file is not None:
        try:
            lexicon, specs = load_topics_document(_read_yaml(topics_file))  # type: ignore[arg-type]
            matcher = compile_rules([spec.rule for spec in specs], lexicon)
        except (ValueError, RuleSyntaxError) as exc:
            raise fail(f"{topics_file}: {exc}") from None
    else:
        matcher = stored_matcher(Runtime.load().engine)
    try:
        labelled = load_labelled(_read_yaml(file), matcher.slugs)
    except LabelledFileError as exc:
        raise fail(f"{file}: {exc}") from None
    report = evaluate(matcher, labelled)
    scores = {"relationship": report.relationship, "gate": report.gate, **report.topics}
    if as_json:
        emit_json(
            {
                "items": len(labelled),
                "scores": {
                    name: {
                        "precision": round(s.precision, 4),
                        "recall": round(s.recall, 4),
                        "f1": round(s.f1, 4),
                        "tp": s.tp,
                        "fp": s.fp,
                        "fn": s.fn,
                    }
                    for name, s in scores.items()
                },
                "misses": [
                    {
                        "id": m.item_id,
                        "decision": m.decision,
                        "kind": m.kind,
                        "category": m.category,
                    }
                    for m in report.misses
                ],
            }
        )
        return
    typer.echo(f"{len(labelled)} labelled items")
    table(
        ["decision", "precision", "recall", "F1", "tp", "fp", "fn"],
        [
            [name, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", s.tp, s.fp, s.fn]
            for name, s in scores.items()
        ],
    )
    if misses and report.misses:
        typer.echo("")
        table(
            ["item", "decision", "kind", "category"],
            [[m.item_id, m.decision, m.kind, m.category] for m in report.misses],
        )


@app.command("feedback")
def feedback_command(
    since: Annotated[
        str, typer.Option("--since", help="Verdicts given or changed this far back: 7d, 30d.")
    ] = "30d",
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            metavar="FILE",
            help="Write the verdicts as a labelled YAML file that `mcwatch rules eval` reads.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """What readers said with 👍 / 👎: per topic, alerts sent, verdicts, precision, and
    the 👎 items with the terms that fired."""
    from bot.feedback import summarise
    from bot.timeparse import parse_since
    from store import topics as store_topics
    from store import verdicts
    from store.db import transaction

    runtime = Runtime.load()
    try:
        start = parse_since(since, runtime.clock.now())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    if export is not None:
        _export_verdicts(runtime, start, export, as_json)
        return
    with transaction(runtime.engine) as session:
        sent = verdicts.alerts_sent_by_topic(session, start)
        records = verdicts.records_since(session, start)
        order = [topic.slug for topic in store_topics.list_topics(session)]
    summary = summarise(sent, records, order)
    if as_json:
        emit_json({"since": start.isoformat(), "topics": [row.to_dict() for row in summary]})
        return
    typer.echo(f"{len(records)} verdicts since {since}")
    table(
        ["topic", "alerts sent", "👍", "👎", "precision"],
        [
            [
                row.topic or "(none)",
                row.alerts_sent,
                row.relevant,
                row.not_relevant,
                "-" if row.precision is None else f"{row.precision:.3f}",
            ]
            for row in summary
        ],
    )
    down = [(row.topic, item) for row in summary for item in row.rated_down]
    if down:
        typer.echo("")
        table(
            ["topic", "item", "reason", "readers", "title", "terms"],
            [
                [topic, i.item_id, i.reason or "-", i.readers, i.title, ", ".join(i.terms)]
                for topic, i in down
            ],
        )


def _export_verdicts(runtime: Runtime, start: datetime, path: Path, as_json: bool) -> None:
    """``rules feedback --export``: the labelled file, in ``load_labelled``'s format."""
    import yaml

    from bot.feedback import labelled_items
    from bot.ingest.stored_rules import stored_matcher
    from store import verdicts
    from store.db import transaction

    with transaction(runtime.engine) as session:
        sources = verdicts.label_sources_since(session, start)
    entries = labelled_items(sources, stored_matcher(runtime.engine).fallback)
    header = (
        f"# Readers' verdicts since {start:%Y-%m-%d %H:%M} UTC, from `mcwatch rules feedback"
        " --export`;\n# score the rules on them with `mcwatch rules eval FILE`.\n"
    )
    path.write_text(
        header + yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=100),
        encoding="utf-8",
    )
    report = {"file": str(path), "items": len(entries), "verdicts": len(sources)}
    if as_json:
        emit_json(report)
        return
    typer.echo(f"{len(entries)} labelled items from {len(sources)} verdicts written to {path}")
    if not entries:
        typer.echo("mcwatch: nothing to score yet: `rules eval` needs at least one item", err=True)
