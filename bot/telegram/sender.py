"""The Telegram sender: ``bot.deliver.senders.Sender`` over python-telegram-bot.

``telegram_errors`` turns python-telegram-bot's errors into mcwatch's delivery errors
(see ``bot.errors``), for ``TelegramSender`` and for the command replies alike; what
then happens to the message is ``bot.deliver.send_policy``'s decision. The ``Sender`` protocol
and the console sender live outside this package (``bot.deliver.senders``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.deliver.send_policy import QUEUED
from bot.errors import MessageRejected, RecipientBlocked, RetryLater
from bot.types import SendReceipt

if TYPE_CHECKING:
    from telegram import Bot

# python-telegram-bot is imported where Telegram is talked to, never for the console:
# console mode (`run --once`, `demo`, the CLI) does not pay for it.

# 5xx and timeouts come with no Retry-After: the figure on the error is nominal, the
# backoff is the policy's (``bot.deliver.send_policy.wait_after``, which ignores it).
TRANSIENT_RETRY_SECONDS = QUEUED.first_backoff


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


_CHAT_GONE = (
    "chat not found",
    "user is deactivated",
    "bot was kicked",
    "not enough rights to send",
    "have no rights to send",
    "chat_write_forbidden",
)


@contextmanager
def telegram_errors() -> Iterator[None]:
    """Translate python-telegram-bot's exceptions into mcwatch's delivery errors."""
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

    try:
        yield
    except RetryAfter as exc:
        raise RetryLater(str(exc), _seconds(exc.retry_after)) from exc
    except Forbidden as exc:
        raise RecipientBlocked(exc.message) from exc
    except BadRequest as exc:
        if any(marker in exc.message.lower() for marker in _CHAT_GONE):
            raise RecipientBlocked(exc.message) from exc
        raise MessageRejected(exc.message) from exc
    except NetworkError as exc:  # includes TimedOut and 5xx answers
        reason = exc.message or type(exc).__name__
        raise RetryLater(reason, TRANSIENT_RETRY_SECONDS, backoff=True) from exc
    except TelegramError as exc:
        raise RetryLater(exc.message, TRANSIENT_RETRY_SECONDS, backoff=True) from exc


def _markup(reply_markup: Any) -> Any:
    """``bot.feedback.Keyboard`` (a tuple of rows) as python-telegram-bot's markup; any
    other markup as it is."""
    if isinstance(reply_markup, tuple):
        from bot.telegram.keyboards import inline

        return inline(reply_markup)
    return reply_markup


class TelegramSender:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt:
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode

        with telegram_errors():
            message = await self.bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=ParseMode.HTML if html_mode else None,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=_markup(reply_markup),
            )
        return SendReceipt(message_id=message.message_id)

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, reply_markup: Any = None
    ) -> None:
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode

        try:
            with telegram_errors():
                await self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    reply_markup=_markup(reply_markup),
                )
        except MessageRejected as exc:
            if "message is not modified" not in str(exc).lower():
                raise

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt:
        from telegram import InputFile
        from telegram.constants import ParseMode

        with telegram_errors():
            message = await self.bot.send_photo(
                chat_id=chat_id,
                photo=InputFile(png, filename="trend.png"),
                caption=caption or None,
                parse_mode=ParseMode.HTML,
            )
        return SendReceipt(message_id=message.message_id)
