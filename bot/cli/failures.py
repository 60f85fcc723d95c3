"""The CLI's last line: whatever goes wrong ends as one line on stderr and an exit status.

mcwatch's own errors (``bot.errors``) carry their product words. The world's failures
that reach the edge untranslated — the database, the Telegram Bot API, the network,
files, numbers out of range — are named here with what to do. Anything else is a bug:
one line that says how to see the traceback (``MCWATCH_LOG_LEVEL=DEBUG`` logs it).

Every line goes through ``bot.logs.redact``: a library's exception text may quote the bot
token (python-telegram-bot's ``InvalidToken`` does), and nothing prints a secret.

Exit status, as SPEC says: 2 for a usage or setting problem, 1 for any other failure.
Libraries are looked at only if they are loaded: an exception cannot come from a module
that was never imported, and the error path should not import one.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from bot.errors import McwatchError, SettingsError
from bot.logs import known_secrets, redact

log = logging.getLogger("mcwatch")

USAGE, FAILURE = 2, 1


@dataclass(frozen=True, slots=True)
class Failure:
    message: str  # one line, without the "mcwatch: " prefix
    code: int

    @property
    def line(self) -> str:
        return f"mcwatch: {self.message}"


def explain(exc: BaseException) -> Failure:
    """What ``exc`` means to the person at the terminal, in one line."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return explain(exc.exceptions[0])
    failure = _explain(exc)
    text = " ".join(redact(failure.message, known_secrets()).split())
    return Failure(text, failure.code)


def _explain(exc: BaseException) -> Failure:
    if isinstance(exc, SettingsError):
        return Failure(str(exc), USAGE)
    if isinstance(exc, McwatchError):
        return Failure(f"error: {exc}", FAILURE)
    for explainer in (_telegram, _database, _migrations, _network):
        failure = explainer(exc)
        if failure is not None:
            return failure
    if isinstance(exc, UnicodeDecodeError):
        return Failure(f"error: a file is not UTF-8 text ({exc.reason}); save it as UTF-8", 1)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return Failure(f"error: {where}{exc.strerror or exc}", FAILURE)
    if isinstance(exc, OverflowError):
        return Failure(f"error: a value is out of range ({exc})", USAGE)
    return Failure(
        f"error: unexpected {type(exc).__name__}: {_first_line(exc)} "
        "(MCWATCH_LOG_LEVEL=DEBUG logs the traceback)",
        FAILURE,
    )


def _telegram(exc: BaseException) -> Failure | None:
    if "telegram" not in sys.modules:
        return None
    from telegram.error import InvalidToken, NetworkError, TelegramError

    if isinstance(exc, InvalidToken):
        return Failure("Telegram rejected the bot token; check MCWATCH_TELEGRAM_TOKEN", USAGE)
    if isinstance(exc, NetworkError):  # also TimedOut, and 5xx answers
        return Failure(
            f"error: cannot reach the Telegram Bot API ({exc.message}); check the network "
            "or MCWATCH_TELEGRAM_API_URL",
            FAILURE,
        )
    if isinstance(exc, TelegramError):
        return Failure(f"error: Telegram refused: {exc.message}", FAILURE)
    return None


def _database(exc: BaseException) -> Failure | None:
    if "sqlalchemy" not in sys.modules:
        return None
    from bot.cli.runtime import Runtime
    from store.db import database_failure

    runtime = Runtime.current
    url = runtime.settings.database_url if runtime else "sqlite:///data/mcwatch.db"
    message = database_failure(exc, url)
    return Failure(f"error: {message}", FAILURE) if message is not None else None


def _migrations(exc: BaseException) -> Failure | None:
    if "alembic" not in sys.modules:
        return None
    from alembic.util import CommandError

    if not isinstance(exc, CommandError):
        return None
    if "can't locate revision" in str(exc).lower():
        return Failure(
            "error: the database was migrated by a newer mcwatch than this one "
            f"({_first_line(exc)}); install that version, or point MCWATCH_DATABASE_URL "
            "at another database",
            FAILURE,
        )
    return Failure(f"error: the database migration failed: {_first_line(exc)}", FAILURE)


def _network(exc: BaseException) -> Failure | None:
    if "httpx" not in sys.modules:
        return None
    import httpx

    if isinstance(exc, httpx.HTTPError):
        return Failure(f"error: network: {type(exc).__name__}: {_first_line(exc)}", FAILURE)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def report(exc: BaseException) -> Failure:
    """Explain ``exc``, and log its traceback at DEBUG (redacted by the log filter)."""
    failure = explain(exc)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("the traceback of: %s", failure.message, exc_info=exc)
    return failure
