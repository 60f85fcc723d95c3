"""next_poll_at as a table of policies; ids are the sentences the policy says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.ingest.schedule import base_interval, next_poll_at
from bot.types import FetchResult, ParsedFeed

NOW = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OK = FetchResult(feed_id=1, url="u", status=200)


def parsed(ttl: int | None = None, period: int | None = None) -> ParsedFeed:
    return ParsedFeed("t", "fr", (), ttl_minutes=ttl, update_period_seconds=period)


CASES = [
    ("a healthy feed waits its interval", OK, None, 0, HOUR),
    (
        "max-age longer than the interval stretches it",
        FetchResult(1, "u", 200, max_age=7200),
        None,
        0,
        2 * HOUR,
    ),
    (
        "max-age shorter than the interval never shortens it",
        FetchResult(1, "u", 200, max_age=60),
        None,
        0,
        HOUR,
    ),
    (
        "max-age is capped at a day",
        FetchResult(1, "u", 200, max_age=10 * 86400),
        None,
        0,
        24 * HOUR,
    ),
    ("RSS ttl stretches the wait", OK, parsed(ttl=180), 0, 3 * HOUR),
    ("sy:updatePeriod stretches the wait", OK, parsed(period=86400), 0, 24 * HOUR),
    (
        "a first failure retries after one interval",
        FetchResult(1, "u", 500, error="x"),
        None,
        1,
        HOUR,
    ),
    ("failures back off exponentially", FetchResult(1, "u", 500, error="x"), None, 4, 8 * HOUR),
    ("backoff is capped at a day", FetchResult(1, "u", 500, error="x"), None, 12, 24 * HOUR),
    (
        "Retry-After is honoured",
        FetchResult(1, "u", 429, error="x", retry_after=5 * 3600),
        None,
        1,
        5 * HOUR,
    ),
]


@pytest.mark.parametrize(
    ("case", "result", "feed", "failures", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_next_poll(
    case: str, result: FetchResult, feed: ParsedFeed | None, failures: int, expected: timedelta
) -> None:
    assert next_poll_at(NOW, HOUR, result, parsed=feed, failures=failures) == NOW + expected


def test_jitter_moves_by_at_most_ten_percent() -> None:
    early = next_poll_at(NOW, HOUR, OK, jitter=-1.0)
    late = next_poll_at(NOW, HOUR, OK, jitter=1.0)
    assert early == NOW + HOUR * 0.9 and late == NOW + HOUR * 1.1


def _every(gap: timedelta, n: int = 10) -> list[datetime]:
    return [NOW - gap * i for i in range(n)]


ADAPTIVE = [
    ("an admin's interval is kept as it is", HOUR * 2, _every(timedelta(minutes=5)), HOUR * 2),
    ("too few dated items: the default", None, _every(HOUR, 2), HOUR / 4),
    ("a third of the median gap between items", None, _every(HOUR * 3), HOUR),
    (
        "a fast feed is not polled more than every 10 minutes",
        None,
        _every(timedelta(minutes=2)),
        timedelta(minutes=10),
    ),
    ("a slow feed is still polled every 4 hours", None, _every(timedelta(days=3)), HOUR * 4),
]


@pytest.mark.parametrize(
    ("case", "explicit", "dates", "expected"), ADAPTIVE, ids=[c[0] for c in ADAPTIVE]
)
def test_base_interval(
    case: str, explicit: timedelta | None, dates: list[datetime], expected: timedelta
) -> None:
    assert base_interval(explicit, HOUR / 4, dates) == expected
