"""Senders: the one seam between mcwatch and a chat.

``Sender`` is what the outbox, the digest and the CLI send through; ``ConsoleSender``
prints when no token is configured (console mode), and imports no python-telegram-bot.
``bot.telegram.sender.TelegramSender`` is the other one: it turns python-telegram-bot's
errors into mcwatch's delivery errors (``bot.errors``), which ``bot.deliver.send_policy``
decides about.

``reply_markup``: buttons under the message, as ``bot.feedback.Keyboard`` (rows of
label and callback data; the verdict buttons under an alert) or python-telegram-bot's
own markup. An edit redraws them: Telegram drops the buttons of a message edited
without them. The console has no buttons to press and shows none.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from bot.deliver.render import html_to_console
from bot.types import SendReceipt


class Sender(Protocol):
    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt: ...

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, reply_markup: Any = None
    ) -> None: ...

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt: ...


class ConsoleSender:
    """Console mode: print each message, framed, to ``stream``."""

    shows_images = False  # a digest's trend comes as a line of text (bot.deliver.digest_job)

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.count = 0

    def _frame(self, label: str, body: str) -> None:
        print(f"── {label} " + "─" * max(4, 60 - len(label)), file=self.stream)
        print(body, file=self.stream)
        print(file=self.stream, flush=True)

    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt:
        self.count += 1
        self._frame(f"message to chat {chat_id}", html_to_console(text) if html_mode else text)
        return SendReceipt(message_id=self.count)

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, reply_markup: Any = None
    ) -> None:
        self._frame(f"message {message_id} in chat {chat_id} updated", html_to_console(text))

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt:
        self.count += 1
        self._frame(
            f"chart to chat {chat_id}", f"[PNG, {len(png):,} bytes] " + html_to_console(caption)
        )
        return SendReceipt(message_id=self.count)
