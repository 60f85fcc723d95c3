"""Pacing decisions, driven by a fake monotonic time (no sleeping)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.deliver.pacing import Limits, Pacer
from bot.deliver.send_policy import QUEUED
from bot.errors import RetryLater


def test_private_chat_gets_one_message_per_second() -> None:
    pacer = Pacer()
    pacer.book(1, at=10.0)
    assert pacer.delay(1, at=10.2) == pytest.approx(0.8)
    assert pacer.delay(2, at=10.2) == 0  # another chat is not held up
    assert pacer.delay(1, at=11.0) == 0


def test_group_gets_twenty_per_minute() -> None:
    pacer = Pacer()
    for n in range(20):
        pacer.book(-100, at=float(n))
    assert pacer.delay(-100, at=20.0) == pytest.approx(40.0)  # first slot frees at 60 s
    assert pacer.delay(-100, at=60.0) == 0


def test_overall_thirty_per_second() -> None:
    pacer = Pacer(limits=Limits())
    for chat in range(30):
        pacer.book(chat, at=5.0 + chat / 100)
    assert pacer.delay(999, at=5.5) == pytest.approx(0.5)


def test_retry_after_holds_one_chat_or_everyone() -> None:
    clock = [100.0]
    pacer = Pacer(now=lambda: clock[0])
    pacer.hold(1, 7)
    assert pacer.delay(1, at=100.0) == 7 and pacer.delay(2, at=100.0) == 0
    pacer.hold(None, 3)
    assert pacer.delay(2, at=100.0) == 3


@pytest.mark.parametrize(("token", "waits"), [(None, False), ("123456:TEST-token", True)])
def test_console_mode_never_waits_for_telegrams_pacing(token: str | None, waits: bool) -> None:
    """Console mode prints: the pacer the entry points build does not hold it back
    (`mcwatch demo` spent 9 of its 12 s sleeping); the Telegram mode keeps the limits."""
    import asyncio

    from bot.deliver.senders import ConsoleSender
    from bot.deps import open_deps
    from bot.settings import Secret, Settings

    settings = Settings(telegram_token=Secret(token) if token else None)

    async def delays() -> list[float]:
        async with open_deps(settings, None, ConsoleSender()) as deps:  # type: ignore[arg-type]
            found = []
            for chat in (1, 1, 1, -100):
                found.append(deps.pacer.delay(chat, at=10.0))
                deps.pacer.book(chat, at=10.0)
            return found

    assert any(d > 0 for d in asyncio.run(delays())) is waits


def test_429s_are_one_info_line_then_figures_per_ten_minutes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 429 is Telegram's flood control doing its job, obeyed: said once at INFO when it
    starts, then one line of figures per 10 minutes, never a line (or an ERROR with its
    traceback) per answer."""
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    pacer = Pacer(now=lambda: clock[0], sleep=sleep)
    answers = iter([RetryLater("429", 2.0), None] * 400)

    async def send() -> str:
        if (error := next(answers)) is not None:
            raise error
        return "sent"

    async def busy_for_21_minutes() -> None:
        chat = 0
        while clock[0] < 1260:
            chat = chat + 1 if chat < 5 else -1  # five private chats and one group
            assert await pacer.send(chat, send, QUEUED) == "sent"
            clock[0] += 3

    with caplog.at_level(logging.INFO, logger="bot.deliver.pacing"):
        asyncio.run(busy_for_21_minutes())
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.deliver.pacing"]
    assert lines[0] == (
        "Telegram asked to slow down (429 in a private chat); its retry_after is obeyed "
        "(figures every 10 min)"
    )
    assert len(lines) == 3  # the first, then figures at 10 and 20 minutes
    assert all(line.startswith("Telegram's 429s in 10 min: group ") for line in lines[1:])
    assert "private chat " in lines[1]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "bot.deliver.pacing")
