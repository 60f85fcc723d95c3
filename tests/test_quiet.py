"""Quiet hours: a table whose ids are the sentences of the policy."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.deliver.plan import quiet_until

T = time


def utc(day: int, hour: int, minute: int = 0, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


CASES = [
    ("outside quiet hours nothing is held", utc(23, 12), "Africa/Bamako", T(22), T(7), None),
    (
        "late evening is held until the morning",
        utc(23, 23),
        "Africa/Bamako",
        T(22),
        T(7),
        utc(24, 7),
    ),
    (
        "after midnight is held until the same morning",
        utc(24, 3),
        "Africa/Bamako",
        T(22),
        T(7),
        utc(24, 7),
    ),
    ("the end minute itself is free", utc(24, 7), "Africa/Bamako", T(22), T(7), None),
    ("a daytime window", utc(23, 13), "Africa/Bamako", T(12), T(14), utc(23, 14)),
    (
        "local time, not UTC: Paris in winter is UTC+1",
        utc(23, 21, 30),
        "Europe/Paris",
        T(22),
        T(7),
        utc(24, 6),
    ),
    (
        "the end follows daylight saving (Paris, 29 March 2026)",
        utc(28, 23, month=3),
        "Europe/Paris",
        T(22),
        T(7),
        utc(29, 5, month=3),
    ),
    ("off means never held", utc(23, 23), "Africa/Bamako", None, None, None),
]


@pytest.mark.parametrize(
    ("case", "now", "zone", "start", "end", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_quiet_until(
    case: str,
    now: datetime,
    zone: str,
    start: time | None,
    end: time | None,
    expected: datetime | None,
) -> None:
    assert quiet_until(now, zone, start, end) == expected
