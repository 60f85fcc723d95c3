"""Telegram's send limits, kept by us: every call that puts something in a chat (alert,
edit, digest part, chart, command reply, keyboard redraw) waits its turn here, so mcwatch
never provokes a 429 itself.

Telegram's FAQ: about 1 message per second in one chat, 20 per minute in one group, 30
per second overall. ``Pacer.delay`` is the pure decision (how long until this chat may
get its next message); ``Pacer.wait`` sleeps that long and books the slot;
``Pacer.send`` waits, sends, and retries in place what Telegram asks to retry: the
one function through which alerts, edits, digest parts and command replies reach a chat
(``bot.deliver.send_policy.retry_delay`` decides how long, from a ``Retries`` row). ``now`` and
``sleep`` are injected: tests pass a clock that ``sleep`` moves, and never wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.deliver.send_policy import REPLIES, Retries, retry_delay
from bot.errors import RetryLater
from bot.logs import Tally

log = logging.getLogger(__name__)

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
    # Telegram's 429s, said once and then as figures per 10 minutes (issue 14: logged as
    # ERROR with a traceback each, before): each one is obeyed, none is a failure.
    throttles: Tally = field(
        default_factory=lambda: Tally(
            log,
            first=(
                "Telegram asked to slow down (429 in a {key}); its retry_after is obeyed "
                "(figures every {minutes} min)"
            ),
            figures="Telegram's 429s in {minutes} min: {figures}",
        )
    )

    def __post_init__(self) -> None:
        self.throttles.now = self.now  # the figures run on the pacer's clock

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
        self,
        chat_id: int,
        send: Callable[[], Awaitable[T]],
        retries: Retries = REPLIES,
        *,
        throttled: Callable[[], None] | None = None,
    ) -> T:
        """``send()`` when ``chat_id`` may get a message, retried in place while Telegram
        says "later" (``RetryLater``) and ``retry_delay`` allows; then its error.

        A 429 holds the chat for its ``retry_after`` (and calls ``throttled``) whether
        or not it is waited here: whatever is sent there next waits it out too.
        """
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            await self.wait(chat_id)
            try:
                return await send()
            except RetryLater as exc:
                if not exc.backoff:  # a 429: Telegram's own retry_after
                    self.hold(chat_id, exc.retry_after)
                    self.throttles.record("group" if chat_id < 0 else "private chat")
                    if throttled is not None:
                        throttled()
                delay = retry_delay(retries, attempt, exc, waited)
                if delay is None:
                    if attempt == 1:
                        raise
                    tried = f"{exc} (gave up after {attempt} attempts)"
                    raise RetryLater(tried, exc.retry_after, backoff=exc.backoff) from exc
                waited += delay
                if exc.backoff:  # our own wait: the chat is held meanwhile, as for a 429
                    self.hold(chat_id, delay)
