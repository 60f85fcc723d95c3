"""How every parser cleans the fields it hands on, so that all formats agree.

A feed's text, language, numbers and dates arrive in each format's own shape; these
functions turn them into what ``ParsedFeed`` and ``RawEntry`` hold. Each parser calls
them on its own values: no parser hands another its intermediate shapes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Dates before web feeds existed are a broken clock or a placeholder (0001-01-01).
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)

# C0 controls are not XML characters, and PostgreSQL refuses NUL in text: a guid, link
# or author carrying one would fail the feed's whole transaction.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}


def clean_text(value: object) -> str:
    """A string without C0 controls and surrounding space; anything else → ""."""
    return _CONTROLS.sub("", value).strip() if isinstance(value, str) else ""


def language_code(value: object) -> str | None:
    """``"fr-FR"`` → ``"fr"``: the two-letter code, lower case; None when absent."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()[:2]


def positive_int(value: object) -> int | None:
    """A whole number above zero written as text (``<ttl> 60 </ttl>``), else None."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def update_period_seconds(period: object, frequency: object) -> int | None:
    """sy:updatePeriod / sy:updateFrequency (RSS 1.0 syndication module) in seconds."""
    seconds = _PERIOD_SECONDS.get(clean_text(period).lower())
    if seconds is None:
        return None
    return max(1, seconds // (positive_int(frequency) or 1))


def plausible(when: datetime | None) -> datetime | None:
    """``when`` in UTC, or None when it is before web feeds (normalise then uses the
    time first seen). A naive datetime is taken as UTC."""
    if when is None:
        return None
    try:
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in the year 0 in UTC
        return None
    return when if when >= EARLIEST else None


def from_struct_time(value: object) -> datetime | None:
    """feedparser's ``*_parsed`` values (a ``time.struct_time`` in UTC) → datetime."""
    if not isinstance(value, tuple) or not value:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return when if when >= EARLIEST else None
