"""`mcwatch db …`: schema, seeds, and pruning and vacuuming what a year leaves."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.output import fail
from bot.cli.runtime import Runtime

if TYPE_CHECKING:
    from store.retention import Pruned
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


@app.command("vacuum")
def vacuum(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Say what would be pruned; change and vacuum nothing."),
    ] = False,
) -> None:
    """Prune what MCWATCH_RETENTION says is old (unmatched items, sent alerts of stories
    that can no longer be alerted), then give the space back: VACUUM on SQLite, VACUUM
    ANALYZE on PostgreSQL. Without MCWATCH_RETENTION everything is kept."""
    from bot.ingest.dedupe import THRESHOLDS
    from store import retention
    from store.db import where

    runtime = Runtime.load()
    settings = runtime.settings
    engine = runtime.engine
    parts: list[str] = []
    released = retention.release_unmatched_stories(engine, dry_run=dry_run).released
    if settings.retention is None:
        parts.append("kept everything (MCWATCH_RETENTION is not set)")
    else:
        limits = retention.cutoffs(
            runtime.clock.now(), settings.retention, settings.backlog, THRESHOLDS.repost_window
        )
        pruned = retention.prune(engine, limits, dry_run=dry_run)
        # A story left empty by the prune held only unmatched items: the release took
        # it, unless it ran on rolled-back rows (--dry-run), where it was counted there.
        released += 0 if dry_run else pruned.stories
        verb = "would prune" if dry_run else "pruned"
        parts.append(
            pruned_line(verb, pruned, settings.retention, alerts_kept=limits.alerts is None)
        )
    if released:
        verb = "would drop" if dry_run else "dropped"
        parts.insert(0, f"{verb} {_count(released, 'story', 'stories')} of unmatched items")
    name = where(engine.url)
    if dry_run:
        parts.append(f"nothing changed in {name} (--dry-run)")
    else:
        done = retention.vacuum(engine)
        parts.append(f"{done.statement} {name}: {_size(done.before)} → {_size(done.after)}")
    typer.echo("; ".join(parts))


def pruned_line(verb: str, pruned: Pruned, age: timedelta, *, alerts_kept: bool) -> str:
    """``pruned 12 unmatched items and 3 sent or failed alerts older than 90d``."""
    what = _count(pruned.items, "unmatched item", "unmatched items")
    if alerts_kept:
        # The at-most-once rows are all that stops a late report from alerting again.
        return (
            f"{verb} {what} older than {_duration(age)} (sent alerts kept: with "
            "MCWATCH_BACKLOG_DAYS=0 a late report is news)"
        )
    alerts = _count(pruned.alerts, "sent or failed alert", "sent or failed alerts")
    return f"{verb} {what} and {alerts} older than {_duration(age)}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _duration(value: timedelta) -> str:
    """Roughly as MCWATCH_RETENTION spells it: ``90d``, else ``180h``, else minutes."""
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def _size(n: int) -> str:
    """Bytes in SI units, as ``df -H`` shows them: ``412.3 MB``."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
