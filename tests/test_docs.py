"""Every bot command is registered, described in the menu and documented in the README
(the CLI's counterpart is in test_cli.py)."""

from __future__ import annotations

import re
from pathlib import Path

from telegram.ext import ApplicationBuilder, CommandHandler

from bot.telegram.app import ADMIN_COMMANDS, COMMANDS, add_handlers, menu
from bot.text import languages

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def registered() -> set[str]:
    application = ApplicationBuilder().token("123:TEST").updater(None).build()
    add_handlers(application)
    return {
        command
        for handlers in application.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for command in handler.commands
    }


def test_every_registered_command_is_in_the_menu_or_admin_only() -> None:
    assert registered() == set(COMMANDS) | set(ADMIN_COMMANDS)


def test_every_menu_command_is_described_in_every_language() -> None:
    for language in languages():
        descriptions = [command.description for command in menu(language)]
        # Telegram's bounds for a BotCommand description: 1 to 256 characters.
        assert all(1 <= len(text) <= 256 for text in descriptions), language
        assert len(set(descriptions)) == len(COMMANDS), language  # no two alike


def test_every_bot_command_is_in_the_readme() -> None:
    documented = set(re.findall(r"`/([a-z]+)", README))
    assert registered() - documented == set()


# SPEC "Telegram bot": the names are fixed by the product contract; the bot may offer
# more (issue 12 asked for /settings), never fewer or renamed.
SPEC_COMMANDS = set(
    "start help topics subscribe unsubscribe mode digesttime timezone lang quiet latest "
    "search digest trend pause resume stop stats feeds health".split()
)
# issue 15: digestday (the weekly digest's day); watch, watches, unwatch (personal watches)
BEYOND_SPEC = {"settings", "digestday", "watch", "watches", "unwatch"}


def test_the_bot_has_every_command_of_the_spec_and_no_unplanned_one() -> None:
    assert registered() == SPEC_COMMANDS | BEYOND_SPEC


def test_the_readme_map_names_every_module() -> None:
    """The architecture map in the README is `ls bot/` and `ls store/`: a module added
    without its line there fails here."""
    root = Path(__file__).resolve().parent.parent
    start = README.index("## Architecture")
    block = README[start : README.index("```", README.index("```", start) + 3)]
    names = {
        path.name
        for folder in ("bot", "bot/ingest", "bot/deliver", "store")
        for path in (root / folder).iterdir()
        if (path.suffix == ".py" or path.is_dir())
        and path.name not in ("__init__.py", "__pycache__")
    }
    missing = sorted(n for n in names if not re.search(rf"(?<![\w.]){re.escape(n)}", block))
    assert missing == []
