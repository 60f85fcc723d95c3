"""Entry point of the `mcwatch` command.

Exit status: 0 ok, 1 failure (one line on stderr), 2 bad usage or bad setting
(see ``bot.cli.McwatchGroup``). Usage errors are one line too, naming the help to read:
``mcwatch poll: error: No such option: --bogus (see 'mcwatch poll --help')``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    import typer

    from bot.cli import UsageError, app  # imported here: importing bot does nothing

    try:
        status = app(args=argv, prog_name="mcwatch", standalone_mode=False)
    except UsageError as exc:
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "mcwatch"
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help())  # a bare group: show its help, as --help would
        else:
            message = exc.format_message()  # type: ignore[attr-defined]
            # A rule error points at its column on the lines below: no hint after the caret.
            hint = "" if "\n" in message else f" (see '{command} --help')"
            typer.echo(f"{command}: error: {message}{hint}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
