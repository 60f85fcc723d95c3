"""The admin CLI, `mcwatch`: one thin module per command group."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from bot import __version__
from bot.cli import db, demo, digest, feeds, items, rules, run, subscribers, topics
from bot.errors import McwatchError, SettingsError

# Typer ≥ 0.25 vendors click privately; its UsageError is reached through a public class.
UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


class McwatchGroup(TyperGroup):
    """Turns mcwatch's errors into one line on stderr and SPEC's exit codes, at the edge:
    2 for a bad setting (a usage problem), 1 for any other failure."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            typer.echo(f"mcwatch: {exc}", err=True)
            ctx.exit(2)
        except McwatchError as exc:
            typer.echo(f"mcwatch: error: {exc}", err=True)
            ctx.exit(1)


app = typer.Typer(
    name="mcwatch",
    cls=McwatchGroup,
    help="mcwatch watches French and English news for Mali–China cooperation and alerts "
    "Telegram subscribers. Configure with MCWATCH_* environment variables (see README).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mcwatch {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """mcwatch: Mali–China news alerts on Telegram."""


app.command("run")(run.run)
app.command("poll")(run.poll)
app.command("deliver")(run.deliver)
app.command("digest")(digest.digest)
app.command("demo")(demo.demo)
app.add_typer(feeds.app, name="feeds")
app.add_typer(topics.app, name="topics")
app.add_typer(items.app, name="items")
app.add_typer(rules.app, name="rules")
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(db.app, name="db")
