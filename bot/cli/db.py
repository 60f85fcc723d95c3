"""`mcwatch db …`: schema and seeds."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import fail
from bot.cli.runtime import Runtime

if TYPE_CHECKING:
    from store.seed import SeedPlan, SeedReport, Step

app = typer.Typer(help="Database schema and seed data.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    from store.db import database_errors, make_engine
    from store.migrate import startup_lock
    from store.migrate import upgrade as upgrade_schema

    runtime = Runtime.load()
    engine = make_engine(runtime.settings.database_url)
    with database_errors(engine.url), startup_lock(engine):
        before, after = upgrade_schema(engine)
    if before == after:
        typer.echo(f"schema already at {after}")
    else:
        typer.echo(f"schema upgraded from {before or 'empty'} to {after}")


@app.command("seed")
def seed(
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Restore the seed's version of every seeded topic, alias set and feed "
            "(edited ones restored, removed ones back), after showing the difference.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="With --reset on a terminal: apply without asking."),
    ] = False,
) -> None:
    """Load what is new in seeds/ (topics, alias sets, feeds) without duplicating
    anything; what you edited or removed is left alone and listed."""
    from bot.seed_files import load_seed_data, preview
    from bot.seed_files import seed as load_seeds

    runtime = Runtime.load()
    engine = runtime.engine  # a first start seeds everything here
    data = load_seed_data()
    expected = None
    if reset:
        expected = preview(engine, data, reset=True)
        show_difference(expected)
        # Scripts (no terminal) get what they asked for; a person is asked first.
        asked = expected.changes and not yes and _on_a_terminal()
        if asked and not typer.confirm("Apply these changes?", default=False):
            raise fail("nothing changed")
    report = load_seeds(engine, runtime.clock, reset=reset, data=data, expected=expected)
    assert report is not None
    show_report(report)


def _on_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


_DOING = {
    ("add", "new in the seed"): "added",
    ("add", "removed by you"): "comes back",
    ("update", "changed in the seed"): "updated",
}


def show_difference(plan: SeedPlan) -> None:
    """What ``--reset`` changes, one line per thing, the differing fields below it."""
    if not plan.changes:
        typer.echo("nothing to reset: the seeded topics, alias sets and feeds are the seed's")
        return
    typer.echo("db seed --reset changes:")
    for step in plan.changes:
        doing = _DOING.get((step.action, step.reason), "restored")
        typer.echo(f"  {step.label}: {doing} ({step.reason})")
        for difference in step.differences:
            typer.echo(f"    {difference.field}")
            typer.echo(f"      yours: {difference.yours}")
            typer.echo(f"      seed:  {difference.seed}")


def show_report(report: SeedReport) -> None:
    typer.echo(
        f"topics added: {report.topics_added}, updated: {report.topics_updated}; "
        f"feeds added: {report.feeds_added}, updated: {report.feeds_updated}"
    )
    for step in report.skipped:
        typer.echo(skipped_line(step))
    if report.skipped:
        typer.echo("(`mcwatch db seed --reset` shows the difference and restores the seed's)")


def skipped_line(step: Step) -> str:
    return f"skipped {step.label} ({step.reason})"
