"""The python-telegram-bot Application: every handler is registered here, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import BotCommand
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    filters,
)

from bot.telegram import admin, commands
from bot.telegram.keyboards import TOGGLE_PREFIX

if TYPE_CHECKING:
    from bot.deps import Deps
    from bot.settings import Settings

# (command, French description, English description): the menu Telegram shows.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("start", "S'abonner", "Subscribe"),
    ("help", "Aide", "Help"),
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


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    """The Application, talking to ``MCWATCH_TELEGRAM_API_URL`` (a stand-in in tests)."""
    assert settings.telegram_token is not None
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token.reveal())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_api_url.replace("/bot", "/file/bot"))
        # Overall 30/s and 20/min per group for replies; alerts are paced by our Pacer,
        # which also knows the per-private-chat limit that AIORateLimiter lacks.
        .rate_limiter(AIORateLimiter(max_retries=0))
        .updater(None)  # updates are fetched by bot.jobs (same code for run and --once)
        .build()
    )
    add_handlers(application)
    return application


def add_handlers(application: Application) -> None:  # type: ignore[type-arg]
    handlers = {
        "start": commands.start,
        "help": commands.help_command,
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
    application.add_handler(
        CallbackQueryHandler(commands.toggle_topic, pattern=f"^{TOGGLE_PREFIX}")
    )
    application.add_handler(ChatMemberHandler(admin.membership, ChatMemberHandler.MY_CHAT_MEMBER))


def attach(application: Application, deps: Deps) -> None:  # type: ignore[type-arg]
    application.bot_data["deps"] = deps


async def publish_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu, in French and English (Telegram picks by the user's language)."""
    for language, column in (("fr", 1), ("en", 2)):
        await application.bot.set_my_commands(
            [BotCommand(row[0], row[column]) for row in COMMANDS], language_code=language
        )
    await application.bot.set_my_commands([BotCommand(row[0], row[2]) for row in COMMANDS])
