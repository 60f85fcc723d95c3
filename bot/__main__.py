"""Entry point of the `mcwatch` command.

Exit status: 0 ok, 1 failure (one line on stderr), 2 bad usage or bad setting
(see ``bot.cli.McwatchGroup``).
"""

from __future__ import annotations

import sys


def main() -> None:
    from bot.cli import app  # imported here: importing bot does nothing

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
