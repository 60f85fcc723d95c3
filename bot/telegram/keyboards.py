"""Inline keyboards."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

TOGGLE_PREFIX = "t:"


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
