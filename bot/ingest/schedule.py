"""When to poll a feed next. Pure: ``next_poll_at(...)`` takes values, returns a time.

Rows of the policy, in order of precedence:
- a failure backs off exponentially from the feed's interval, capped at ``MAX_BACKOFF``,
  and never earlier than the server's Retry-After;
- a success waits the feed's interval, stretched (never shortened) by the server's
  Cache-Control max-age, RSS <ttl> and sy:updatePeriod, each capped at ``MAX_HINT``;
- every delay gets ±``JITTER`` so that feeds added together drift apart (no thundering herd).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from bot.types import FetchResult, ParsedFeed

MIN_INTERVAL = timedelta(minutes=5)  # never hammer a publisher, whatever a feed says
# The floor in seconds, as the settings and `feeds add --interval` refuse what is below
# it (rather than raise it silently here).
MIN_INTERVAL_SECONDS = int(MIN_INTERVAL.total_seconds())
MAX_HINT = timedelta(hours=24)  # a max-age or ttl beyond a day is ignored past a day
MAX_BACKOFF = timedelta(hours=24)  # a failing feed is still tried daily, never dropped
JITTER = 0.10  # ±10 %
# A feed with no interval of its own is polled at about a third of its median gap
# between items: a story is then picked up within a third of the usual wait.
ADAPTIVE_MIN = timedelta(minutes=10)  # news-search feeds publish by the minute
ADAPTIVE_MAX = timedelta(hours=4)  # a weekly outlet is still checked a few times a day
ADAPTIVE_SAMPLE = 20  # most recent items considered


def base_interval(
    explicit: timedelta | None, default: timedelta, published: Sequence[datetime]
) -> timedelta:
    """The feed's own interval if an admin set one, else one adapted to its rate."""
    if explicit is not None:
        return explicit
    recent = sorted(set(published), reverse=True)[:ADAPTIVE_SAMPLE]
    gaps = sorted(a - b for a, b in pairwise(recent))
    if len(gaps) < 2:
        return default
    median = gaps[len(gaps) // 2]
    return min(max(median / 3, ADAPTIVE_MIN), ADAPTIVE_MAX)


def next_poll_at(
    now: datetime,
    interval: timedelta,
    result: FetchResult,
    *,
    parsed: ParsedFeed | None = None,
    failures: int = 0,
    jitter: float = 0.0,
) -> datetime:
    """``jitter`` in [-1, 1] is supplied by the caller (random in production)."""
    interval = max(interval, MIN_INTERVAL)
    if result.error is not None:
        delay = min(interval * (1 << max(0, failures - 1)), MAX_BACKOFF)  # 2**n, an int
    else:
        delay = interval
        hints = [result.max_age]
        if parsed is not None:
            if parsed.ttl_minutes:
                hints.append(parsed.ttl_minutes * 60.0)
            if parsed.update_period_seconds:
                hints.append(float(parsed.update_period_seconds))
        for hint in hints:
            if hint:
                delay = max(delay, min(timedelta(seconds=hint), MAX_HINT))
    delay = delay * (1 + JITTER * max(-1.0, min(1.0, jitter)))
    if result.retry_after is not None:
        delay = max(delay, timedelta(seconds=min(result.retry_after, MAX_BACKOFF.total_seconds())))
    return now + delay
