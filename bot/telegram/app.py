"""The python-telegram-bot Application: every handler is registered here, in one place,
with the one error handler (``log_failure``).

What the bot answers (``add_handlers``, first match wins):

| update                                   | private chat     | group or channel           |
|------------------------------------------|------------------|----------------------------|
| one of ``COMMANDS`` / ``ADMIN_COMMANDS`` | its handler      | its handler                |
| another command                          | pointer to /help | only if ``/x@mcwatch_bot`` |
| anything else                            | pointer to /help | nothing (people talk)      |
| a button (``t:``, ``stop:``)             | its handler      | its handler (admins)       |
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
from bot.logs import context as fields
from bot.logs import redact
from bot.telegram import admin, commands
from bot.telegram.keyboards import STOP_PREFIX, TOGGLE_PREFIX

if TYPE_CHECKING:
    from bot.deps import Deps
    from bot.settings import Settings

# (command, French description, English description): the menu Telegram shows.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("start", "S'abonner", "Subscribe"),
    ("help", "Aide", "Help"),
    ("settings", "Mes réglages", "My settings"),
    ("topics", "Choisir les thèmes", "Choose topics"),
    ("subscribe", "S'abonner à des thèmes", "Subscribe to topics"),
    ("unsubscribe", "Se désabonner de thèmes", "Unsubscribe from topics"),
    ("mode", "Alertes, résumé ou les deux", "Alerts, digest or both"),
    ("digesttime", "Heure du résumé quotidien", "Daily digest time"),
    ("timezone", "Fuseau horaire", "Timezone"),
    ("lang", "Langue de l'interface", "Interface language"),
    ("quiet", "Heures de silence", "Quiet hours"),
    ("latest", "Derniers articles", "Latest stories"),
    ("search", "Chercher", "Search"),
    ("digest", "Un résumé maintenant", "A digest now"),
    ("trend", "Tendance sur 14 jours", "14-day trend"),
    ("pause", "Mettre en pause", "Pause alerts"),
    ("resume", "Reprendre", "Resume alerts"),
    ("stop", "Tout arrêter et m'oublier", "Stop and forget me"),
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
        "timezone": commands.timezone,
        "lang": commands.lang,
        "quiet": commands.quiet,
        "latest": commands.latest,
        "search": commands.search,
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

    Telegram's and the network's failures (what is left once ``bot.pacing`` has retried)
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


async def publish_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu, in French and English (Telegram picks by the user's language)."""
    for language, column in (("fr", 1), ("en", 2)):
        await application.bot.set_my_commands(
            [BotCommand(row[0], row[column]) for row in COMMANDS], language_code=language
        )
    await application.bot.set_my_commands([BotCommand(row[0], row[2]) for row in COMMANDS])
