"""Inline keyboards. Callback data is ``PREFIX + value``; ``app`` routes each prefix to
its handler. The verdict buttons under alerts are described by ``bot.feedback`` (the
outbox has no python-telegram-bot) and drawn here by ``inline``."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.feedback import Keyboard

TOGGLE_PREFIX = "t:"  # t:SLUG — /topics, flip one subscription
STOP_PREFIX = "stop:"  # stop:yes | stop:no — /stop's confirmation
# v:ID:CODE — a verdict on an alert: bot.feedback (VERDICT_PREFIX) builds those buttons.


def topics_keyboard(
    topics: Sequence[tuple[str, str]], subscribed: set[str]
) -> InlineKeyboardMarkup:
    """One button per topic (slug, name), two per row; ✅ marks a subscription."""
    buttons = [
        InlineKeyboardButton(
            f"{'✅' if slug in subscribed else '▫️'} {name or slug}",
            callback_data=f"{TOGGLE_PREFIX}{slug}",
        )
        for slug, name in topics
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def stop_keyboard(yes: str, cancel: str) -> InlineKeyboardMarkup:
    """/stop's question: forget me (``stop:yes``) or keep everything (``stop:no``)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(yes, callback_data=f"{STOP_PREFIX}yes"),
                InlineKeyboardButton(cancel, callback_data=f"{STOP_PREFIX}no"),
            ]
        ]
    )


def inline(keyboard: Keyboard) -> InlineKeyboardMarkup:
    """A keyboard described by the delivery side (``bot.feedback.Keyboard``: the verdict
    buttons under an alert), as python-telegram-bot sends it."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button.label, callback_data=button.data) for button in row]
            for row in keyboard
        ]
    )
