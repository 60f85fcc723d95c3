"""What to do after Telegram refused a message. Pure: errors and counts in, intents out.

One policy for everything mcwatch puts in a chat. ``retry_delay`` decides whether a
send is tried again in place, and after how long (``bot.deliver.pacing.Pacer.send`` waits and
retries); ``after_failure`` decides what becomes of an alert, an edit or a digest part
that still failed: tried again at a time, its chat blocked the bot, or refused for
good. Both take their waits from ``wait_after``, the one backoff formula, and their
figures from a ``Retries`` row.

    after_failure(error, attempts, now)
    | error                      | decision                                         |
    |----------------------------|--------------------------------------------------|
    | RetryLater: a 429          | RetryAt(now + retry_after), Telegram's own       |
    | RetryLater: 5xx, timeout   | RetryAt(now + 5 s · 2^(attempts-1), at most 1 h) |
    | RecipientBlocked: 403      | Blocked: deactivate, drop what is queued there   |
    | MessageRejected: 400       | Refused: give up, with the reason                |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import MessageRejected, RecipientBlocked, RetryLater

SendFailure = RetryLater | RecipientBlocked | MessageRejected
# The doubling stops growing long before this; the bound only keeps 2**n a small number
# for an alert retried for months (5 s · 2^63 is far past any longest_backoff).
_MAX_DOUBLINGS = 63


@dataclass(frozen=True, slots=True)
class Retries:
    """How a send is retried when Telegram says "later".

    | row              | REPLIES    | QUEUED    | why                                        |
    |------------------|------------|-----------|--------------------------------------------|
    | attempts         | 10         | 4         | sends in place, the first included. A      |
    |                  |            |           | reply: at a 50 % failure rate lost 1 time  |
    |                  |            |           | in 1024. Queued: 3 short 429s waited, then |
    |                  |            |           | the queue takes over                       |
    | first_backoff    | 0.5 s      | 5 s       | 5xx and timeouts: Telegram gives no figure |
    | longest_backoff  | 4 s        | 1 h       | the guess doubles up to this; a queued     |
    |                  |            |           | alert is still tried hourly, never dropped |
    | backoff_in_place | yes        | no        | a reader waits for a reply; a queued 5xx   |
    |                  |            |           | goes back to the queue (next_attempt_at)   |
    | longest_wait     | 30 s       | 10 s      | a longer 429 is not waited in place: the   |
    |                  |            |           | reader has given up / the queue waits it   |
    | patience         | 60 s       | 30 s      | all in-place waits of one send together    |

    A 429's ``retry_after`` is Telegram's own figure and is obeyed as it is (and holds
    the chat for everything else sent there meanwhile: ``Pacer.send``).
    """

    attempts: int
    first_backoff: float
    longest_backoff: float
    backoff_in_place: bool
    longest_wait: float
    patience: float


REPLIES = Retries(  # command replies and keyboard redraws: the reader is waiting
    attempts=10,
    first_backoff=0.5,
    longest_backoff=4.0,
    backoff_in_place=True,
    longest_wait=30.0,
    patience=60.0,
)
QUEUED = Retries(  # alerts, their edits, digest parts: the database retries them
    attempts=4,
    first_backoff=5.0,
    longest_backoff=3600.0,
    backoff_in_place=False,
    longest_wait=10.0,
    patience=30.0,
)


def wait_after(retries: Retries, error: RetryLater, failures: int) -> float:
    """Seconds until a send that failed ``failures`` times in a row (1-based) may be
    tried again: a 429's ``retry_after`` as it is; for a 5xx or a timeout our guess,
    ``first_backoff`` doubling with each failure up to ``longest_backoff``."""
    if not error.backoff:
        return error.retry_after
    doublings = min(max(failures, 1) - 1, _MAX_DOUBLINGS)
    return min(retries.first_backoff * 2.0**doublings, retries.longest_backoff)


def retry_delay(retries: Retries, attempt: int, error: RetryLater, waited: float) -> float | None:
    """Seconds to wait in place before trying again after failed attempt ``attempt``
    (1-based), ``waited`` seconds having been waited already; None: give up here (the
    caller re-raises, and a queued send goes to ``after_failure``)."""
    if attempt >= retries.attempts:
        return None
    if error.backoff and not retries.backoff_in_place:
        return None
    delay = wait_after(retries, error, attempt)
    if not error.backoff and delay > retries.longest_wait:
        return None
    return delay if waited + delay <= retries.patience else None


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again at ``at`` (UTC); ``reason`` is kept as the row's last error."""

    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Blocked:
    """The chat blocked the bot or is gone: deactivate it, drop what is queued for it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Telegram will never accept this message as it is: give it up, with the reason."""

    reason: str


Decision = RetryAt | Blocked | Refused


def after_failure(
    error: SendFailure, attempts: int, now: datetime, retries: Retries = QUEUED
) -> Decision:
    """What becomes of a queued send (alert, edit, digest part) that failed, this being
    its ``attempts``-th attempt (1-based; the lease counts them)."""
    if isinstance(error, RetryLater):
        delay = wait_after(retries, error, attempts)
        return RetryAt(now + timedelta(seconds=delay), str(error))
    if isinstance(error, RecipientBlocked):
        return Blocked(f"blocked: {error}")
    return Refused(f"rejected: {error}")
