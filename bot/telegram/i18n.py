"""Interface text in French and English (both first-class), from ``locales/*.toml``."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("fr", "en")
_LOCALES = Path(__file__).parent / "locales"


@cache
def catalog(language: str) -> dict[str, str]:
    with (_LOCALES / f"{language}.toml").open("rb") as handle:
        return dict(tomllib.load(handle))


def language_for(telegram_code: str | None) -> str:
    """A new user's interface language from Telegram's ``language_code``."""
    return "fr" if (telegram_code or "").lower().startswith("fr") else "en"


def t(language: str, key: str, **values: object) -> str:
    """The text for ``key`` in ``language`` (English when the language is unknown)."""
    text = catalog(language if language in LANGUAGES else "en")[key]
    return text.format(**values) if values else text
