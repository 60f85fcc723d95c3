"""The python-telegram-bot Application: every handler is registered here, in one place,
with the one error handler (``log_failure``).

What the bot answers (``add_handlers``, first match wins):

| update                                   | private chat     | group or channel           |
|------------------------------------------|------------------|----------------------------|
| one of ``COMMANDS`` / ``ADMIN_COMMANDS`` | its handler      | its handler                |
| another command                          | pointer to /help | only if ``/x@mcwatch_bot`` |
| anything else                            | pointer to /help | nothing (people talk)      |
| a button (``t:``, ``stop:``, ``v:``)     | its handler      | its handler (admins)       |
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.errors import McwatchError
from bot.feedback import DIGEST_PREFIX, VERDICT_PREFIX
from bot.logs import context as fields
from bot.logs import redact
from bot.telegram import admin, commands
from bot.telegram.keyboards import STOP_PREFIX, TOGGLE_PREFIX
from bot.text import DEFAULT, languages, t

if TYPE_CHECKING:
    from bot.deps import Deps
    from bot.settings import Settings

# The command menu Telegram shows, in this order; each description is the catalogue's
# ``menu_<command>`` (bot/locales/*.toml).
COMMANDS: tuple[str, ...] = (
    "start",
    "help",
    "settings",
    "topics",
    "subscribe",
    "unsubscribe",
    "mode",
    "digesttime",
    "digestday",
    "timezone",
    "lang",
    "quiet",
    "latest",
    "search",
    "watch",
    "watches",
    "unwatch",
    "digest",
    "trend",
    "pause",
    "resume",
    "stop",
)
ADMIN_COMMANDS = ("stats", "feeds", "health")

log = logging.getLogger(__name__)


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    """The Application, talking to ``MCWATCH_TELEGRAM_API_URL`` (a stand-in in tests)."""
    assert settings.telegram_token is not None
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token.reveal())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_api_url.replace("/bot", "/file/bot"))
        # No AIORateLimiter: every call to a chat (replies and edits too) waits in our
        # Pacer (deps.pacer), which also has the per-private-chat limit AIORateLimiter
        # lacks. A second limiter unaware of the first would only add its own waits.
        .updater(None)  # updates are fetched by bot.jobs (same code for run and --once)
        .build()
    )
    add_handlers(application)
    application.add_error_handler(log_failure)
    return application


def add_handlers(application: Application) -> None:  # type: ignore[type-arg]
    handlers = {
        "start": commands.start,
        "help": commands.help_command,
        "settings": commands.settings_command,
        "topics": commands.topics_command,
        "subscribe": commands.subscribe,
        "unsubscribe": commands.unsubscribe,
        "mode": commands.mode,
        "digesttime": commands.digesttime,
        "digestday": commands.digestday,
        "timezone": commands.timezone,
        "lang": commands.lang,
        "quiet": commands.quiet,
        "latest": commands.latest,
        "search": commands.search,
        "watch": commands.watch,
        "watches": commands.watches_command,
        "unwatch": commands.unwatch,
        "digest": commands.digest_command,
        "trend": commands.trend,
        "pause": commands.pause,
        "resume": commands.resume,
        "stop": commands.stop,
        "stats": admin.stats,
        "feeds": admin.feeds_command,
        "health": admin.health,
    }
    # Channel posts too: a channel mcwatch serves is configured by posting commands in it.
    messages = filters.UpdateType.MESSAGES | filters.UpdateType.CHANNEL_POST
    for name, callback in handlers.items():
        application.add_handler(CommandHandler(name, callback, filters=messages))
    # After the commands above: whatever they did not take.
    application.add_handler(MessageHandler(filters.COMMAND & messages, commands.unknown_command))
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND,
            commands.free_text,
        )
    )
    application.add_handler(
        CallbackQueryHandler(commands.toggle_topic, pattern=f"^{TOGGLE_PREFIX}")
    )
    application.add_handler(CallbackQueryHandler(commands.stop_pressed, pattern=f"^{STOP_PREFIX}"))
    application.add_handler(
        CallbackQueryHandler(commands.verdict_pressed, pattern=f"^{VERDICT_PREFIX}")
    )
    application.add_handler(
        CallbackQueryHandler(commands.digest_verdict_pressed, pattern=f"^{DIGEST_PREFIX}")
    )
    application.add_handler(ChatMemberHandler(admin.membership, ChatMemberHandler.MY_CHAT_MEMBER))


def _where(update: object) -> str:
    """The failing update in a few fields: never the text a user wrote, except the
    command word."""
    if not isinstance(update, Update):
        return fields(update=type(update).__name__ if update is not None else None)
    message = update.effective_message
    command = None
    if update.callback_query is not None:
        kind = "button"
    elif message is not None and message.text and message.text.startswith("/"):
        kind, command = "command", message.text.split(maxsplit=1)[0][:40]
    else:
        kind = "message" if message is not None else "update"
    chat = update.effective_chat
    return fields(
        update_id=update.update_id,
        chat_id=chat.id if chat is not None else None,
        kind=kind,
        command=command,
    )


async def log_failure(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The Application's error handler: one log line per failed update, never the token.

    Telegram's and the network's failures (what is left once ``bot.deliver.pacing`` has retried)
    are WARNING; anything else is a bug, ERROR. The traceback only at DEBUG.
    """
    error = context.error
    if error is None:
        return
    secrets = (context.bot.token,)
    expected = isinstance(error, McwatchError | TelegramError)
    reason = redact(" ".join(f"{type(error).__name__}: {error}".split()), secrets)
    log.log(
        logging.WARNING if expected else logging.ERROR,
        "update failed %s",
        " ".join(part for part in (_where(update), f"error={reason!r}") if part),
    )
    if log.isEnabledFor(logging.DEBUG):
        trace = "".join(traceback.format_exception(error))
        log.debug("traceback of the failure above:\n%s", redact(trace, secrets))


def attach(application: Application, deps: Deps) -> None:  # type: ignore[type-arg]
    application.bot_data["deps"] = deps


def menu(language: str) -> list[BotCommand]:
    """The command menu in ``language``."""
    return [BotCommand(command, t(language, f"menu_{command}")) for command in COMMANDS]


async def publish_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu in every interface language (Telegram picks by the user's
    language), and in English for the others."""
    for language in languages():
        await application.bot.set_my_commands(menu(language), language_code=language)
    await application.bot.set_my_commands(menu(DEFAULT))
