"""Telegram's send limits, kept by us: every call that puts something in a chat (alert,
edit, digest part, chart, command reply, keyboard redraw) waits its turn here, so mcwatch
never provokes a 429 itself.

Telegram's FAQ: about 1 message per second in one chat, 20 per minute in one group, 30
per second overall. ``Pacer.delay`` is the pure decision (how long until this chat may
get its next message); ``Pacer.wait`` sleeps that long and books the slot;
``Pacer.send`` waits, sends, and retries in place what Telegram asks to retry
(``retry_delay`` decides how long, from the ``Retries`` table).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.errors import RetryLater

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    private_interval: float = 1.0  # seconds between two messages to one private chat
    group_per_minute: int = 20  # messages per 60 s to one group or channel
    overall_per_second: int = 30  # messages per 1 s across all chats

    @classmethod
    def none(cls) -> Limits:
        """No limits: console mode prints, and a terminal has no flood control."""
        return cls(private_interval=0.0, group_per_minute=10**9, overall_per_second=10**9)


@dataclass(frozen=True, slots=True)
class Retries:
    """How a send is retried in place when Telegram says "later".

    | row          | value          | why                                                   |
    |--------------|----------------|-------------------------------------------------------|
    | attempts     | 10             | at a 50 % failure rate a reply is lost 1 time in 1024 |
    | backoff      | 0.5 1 2 4 s    | 5xx and timeouts are short blips; then every 4 s      |
    | longest_wait | 30 s           | a 429 asking longer: the reader has long given up     |
    | patience     | 60 s           | all waits of one send together                        |

    A 429's ``retry_after`` is Telegram's own figure and is obeyed as it is (and holds
    the chat for everything else sent there meanwhile).
    """

    attempts: int = 10
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    longest_wait: float = 30.0
    patience: float = 60.0


REPLIES = Retries()  # command replies: the reader is waiting for them


def retry_delay(retries: Retries, attempt: int, error: RetryLater, waited: float) -> float | None:
    """Seconds to wait before trying again after failed attempt ``attempt`` (1-based),
    ``waited`` seconds having been waited already; None: give up (and re-raise)."""
    if attempt >= retries.attempts:
        return None
    if error.backoff:  # 5xx or timeout: Telegram gave no figure, ours grows
        delay = retries.backoff[min(attempt, len(retries.backoff)) - 1]
    else:
        delay = error.retry_after
        if delay > retries.longest_wait:
            return None
    return delay if waited + delay <= retries.patience else None


@dataclass
class Pacer:
    limits: Limits = field(default_factory=Limits)
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _last: dict[int, float] = field(default_factory=dict)
    _group: dict[int, deque[float]] = field(default_factory=dict)
    _overall: deque[float] = field(default_factory=deque)
    _blocked_until: dict[int, float] = field(default_factory=dict)
    _all_blocked_until: float = 0.0

    def delay(self, chat_id: int, at: float) -> float:
        """Seconds to wait before sending to ``chat_id`` at time ``at``."""
        wait = max(0.0, self._all_blocked_until - at, self._blocked_until.get(chat_id, 0) - at)
        if chat_id < 0:  # groups, supergroups and channels have negative ids
            window = self._group.get(chat_id, deque())
            if len(window) >= self.limits.group_per_minute:
                wait = max(wait, window[0] + 60.0 - at)
        elif chat_id in self._last:
            wait = max(wait, self._last[chat_id] + self.limits.private_interval - at)
        if len(self._overall) >= self.limits.overall_per_second:
            wait = max(wait, self._overall[0] + 1.0 - at)
        return wait

    def book(self, chat_id: int, at: float) -> None:
        self._last[chat_id] = at
        if chat_id < 0:
            window = self._group.setdefault(chat_id, deque())
            window.append(at)
            while window and window[0] <= at - 60.0:
                window.popleft()
        self._overall.append(at)
        while self._overall and self._overall[0] <= at - 1.0:
            self._overall.popleft()

    def hold(self, chat_id: int | None, seconds: float) -> None:
        """Telegram said RetryAfter: nothing to that chat (or to anyone) for ``seconds``."""
        until = self.now() + seconds
        if chat_id is None:
            self._all_blocked_until = max(self._all_blocked_until, until)
        else:
            self._blocked_until[chat_id] = max(self._blocked_until.get(chat_id, 0.0), until)

    async def wait(self, chat_id: int) -> None:
        while (pause := self.delay(chat_id, self.now())) > 0:
            await self.sleep(pause)
        self.book(chat_id, self.now())

    async def send(
        self, chat_id: int, send: Callable[[], Awaitable[T]], retries: Retries = REPLIES
    ) -> T:
        """``send()`` when ``chat_id`` may get a message, retried in place while Telegram
        says "later" (``RetryLater``) and ``retry_delay`` allows; then its error."""
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            await self.wait(chat_id)
            try:
                return await send()
            except RetryLater as exc:
                delay = retry_delay(retries, attempt, exc, waited)
                if delay is None:
                    if attempt == 1:
                        raise
                    tried = f"{exc} (gave up after {attempt} attempts)"
                    raise RetryLater(tried, exc.retry_after, backoff=exc.backoff) from exc
                waited += delay
                self.hold(chat_id, delay)
