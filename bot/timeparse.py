"""The times people type, parsed one way everywhere. Pure.

Settings (``MCWATCH_DIGEST_TIME``, ``MCWATCH_TIMEZONE``), the bot's commands
(``/digesttime``, ``/timezone``, ``/quiet``), the store (a subscriber's "HH:MM" columns)
and the CLI (``--since 7d``) all read their times here:

- ``parse_hhmm``: ``07:30`` or ``7:30`` → ``time(7, 30)``; 00:00 to 23:59.
- ``parse_zone``: an IANA zone named as Area/City (``Africa/Bamako``), or ``UTC``.
- ``parse_quiet``: ``22:00-07:00`` (spaces and an en dash allowed) → (start, end);
  ``off`` → None.
- ``parse_duration``: ``30m``, ``12h``, ``7d``, ``2w`` → a ``timedelta``;
  ``parse_since`` → the time that long before now.

A value that is not one is an ``UnparsableTime`` (a ``ValueError``) whose ``expected``
says in words what would be, so that each caller words its own message ("MCWATCH_TIMEZONE
must be …", the bot's usage line).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import UnparsableTime

HHMM = "HH:MM"
ZONE = "an IANA timezone such as Africa/Bamako"
QUIET = "HH:MM-HH:MM or off"
DURATION = "a duration such as 30m, 12h, 7d or 2w"

_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_DURATION = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_hhmm(value: str) -> time:
    """``'07:30'``, ``'7:30'`` → ``time(7, 30)``; surrounding spaces are ignored."""
    match = _HHMM.fullmatch(value.strip())
    if not match:
        raise UnparsableTime(HHMM, value)
    return time(int(match.group(1)), int(match.group(2)))


def format_hhmm(value: time) -> str:
    """``time(6, 5)`` → ``'06:05'``: how times are shown and stored."""
    return f"{value:%H:%M}"


def parse_zone(value: str) -> str:
    """The IANA name of a zone tzdata knows, as typed (``'Europe/Paris'``).

    Area/City only, or ``UTC``: ``ZoneInfo`` also takes legacy names (``EST``, ``Cuba``,
    ``GB``) that name no place a reader would look for, and a zone's offset is what they
    mean by it. A region folder (``America/Argentina``) and a path are refused.
    """
    name = value.strip()
    if "/" not in name and name.upper() != "UTC":
        raise UnparsableTime(ZONE, value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a normalised key ("../../etc/passwd"); OSError: a tzdata folder
        # such as "America/Argentina" is a region, not a zone.
        raise UnparsableTime(ZONE, value) from None
    return name


def parse_quiet(value: str) -> tuple[time, time] | None:
    """``'22:00-07:00'`` → ``(time(22), time(7))`` (it may span midnight); ``'off'`` → None.

    Spaces are ignored and an en dash (``22:00–07:00``, as phones type it) is a dash.
    Hours that start when they end are no quiet hours: refused.
    """
    text = "".join(value.split()).replace("–", "-")
    if text.lower() == "off":
        return None
    parts = text.split("-")
    if len(parts) != 2:
        raise UnparsableTime(QUIET, value)
    try:
        start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
    except UnparsableTime:
        raise UnparsableTime(QUIET, value) from None
    if start == end:
        raise UnparsableTime(QUIET, value)
    return start, end


def parse_duration(value: str) -> timedelta:
    """``'30m'``, ``'12h'``, ``'7d'``, ``'2w'`` → a ``timedelta``.

    OverflowError beyond a ``timedelta``'s range (999,999,999 days).
    """
    match = _DURATION.fullmatch(value.strip())
    if not match:
        raise UnparsableTime(DURATION, value)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_since(value: str, now: datetime) -> datetime:
    """``'7d'`` → the time seven days before ``now`` (the CLI's ``--since``)."""
    try:
        return now - parse_duration(value)
    except OverflowError:  # from the timedelta, or from a date before year 1
        raise ValueError(
            f"{value.strip()} reaches back before year 1; try a shorter duration"
        ) from None
