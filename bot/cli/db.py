"""`mcwatch db …`: schema and seeds."""

from __future__ import annotations

import typer

from bot.cli.runtime import Runtime

app = typer.Typer(help="Database schema and seed data.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    from store.db import make_engine
    from store.migrate import upgrade as upgrade_schema

    runtime = Runtime.load()
    before, after = upgrade_schema(make_engine(runtime.settings.database_url))
    if before == after:
        typer.echo(f"schema already at {after}")
    else:
        typer.echo(f"schema upgraded from {before or 'empty'} to {after}")


@app.command("seed")
def seed() -> None:
    """(Re)load topics, alias sets and feeds from seeds/ without duplicating anything."""
    from bot.seeds import seed as load_seeds

    runtime = Runtime.load()
    report = load_seeds(runtime.engine, runtime.clock)
    assert report is not None
    typer.echo(
        f"topics added: {report.topics_added}, updated: {report.topics_updated}; "
        f"feeds added: {report.feeds_added}"
    )
