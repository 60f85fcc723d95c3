"""The admin CLI, `mcwatch`: one thin module per command group."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from bot import __version__
from bot.cli import db, demo, digest, feeds, items, rules, run, subscribers, topics
from bot.cli.failures import report

# Typer ≥ 0.25 vendors click privately; its UsageError is reached through a public class.
UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
# What click itself raises to end a command: exits, aborts, usage errors. They pass.
_CLICK_ENDINGS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, ClickException)


class McwatchGroup(TyperGroup):
    """Turns every failure into one line on stderr and SPEC's exit codes, at the edge:
    2 for a bad setting or value (a usage problem), 1 for any other failure
    (``bot.cli.failures`` says which, in words, without secrets)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _CLICK_ENDINGS:
            raise
        except Exception as exc:  # the edge: nothing passes as a traceback
            failure = report(exc)
            typer.echo(failure.line, err=True)
            ctx.exit(failure.code)


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
