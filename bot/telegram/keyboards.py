"""Inline keyboards. Callback data is ``PREFIX + value``; ``app`` routes each prefix to
its handler."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

TOGGLE_PREFIX = "t:"  # t:SLUG — /topics, flip one subscription
STOP_PREFIX = "stop:"  # stop:yes | stop:no — /stop's confirmation


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
