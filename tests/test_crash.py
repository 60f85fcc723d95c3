"""Crash test: `mcwatch deliver` killed (SIGKILL) at random points of a fan-out, ten
times, then run to the end. No alert is lost; the only duplicates are the documented
case (README "Delivery guarantees": Telegram accepted the message, the process died
before marking it sent); they are counted and reported.

Everything is real: separate OS processes running the console script's ``main``, a
database file (and PostgreSQL when named), python-telegram-bot over HTTP to the Bot API
stand-in, which runs in this process and records what it accepted.

Two things keep it within seconds:

- A killed sender's alerts stay leased until the lease expires. The product's setting
  ``MCWATCH_DELIVERY_LEASE`` (seconds; 120 by default, renewed while a sender lives)
  is set to 1 here, and before each restart the test waits, bounded, until no lease is
  left: it advances time the only way a separate process allows, by letting it pass.
- Starting mcwatch is ~2 s of imports. Each process is started while the previous one
  runs and waits on its stdin after importing; "go" makes it call
  ``bot.__main__.main(["deliver"])``, exactly what ``mcwatch deliver`` runs.

Kill points come from a seeded RNG: mostly "after the stand-in accepted k more
messages" (then a random few milliseconds, to land anywhere between Telegram's answer
and the commit), sometimes "a random delay after go" (start-up, leasing, sending).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import Engine, func
from sqlmodel import col, select

from bot.clock import FixedClock, SystemClock
from bot.deliver.outbox import MAX_IN_FLIGHT
from store.db import make_engine, transaction
from store.migrate import upgrade
from store.models import Delivery, Item, Subscriber
from tests.support.botapi import BotApi, FloodLimits, SentMessage
from tests.support.builders import add_subscriber, fanout_story, queue_fanout

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST"
SEED = 20260223
KILLS = 10
LEASE_SECONDS = 1
PRIVATE_CHATS = range(2001, 2029)
GROUPS = (-3001, -3002)
STORIES = 5  # each to every chat, story after story: 150 alerts
# Imports first, then wait for the go: the start-up cost is paid while the previous
# process runs (bot.cli alone is light since its commands import lazily: the modules
# `deliver` needs are named). The command itself is the console script's.
WARM_START = (
    "import sys\n"
    "import bot.cli, bot.cli.run, bot.deps, bot.deliver.outbox, bot.telegram.app"
    "  # noqa: F401,E401\n"
    "sys.stdin.readline()\n"
    "from bot.__main__ import main\n"
    "main(['deliver'])\n"
)

Key = tuple[int, int]  # (chat id, story number): one alert


@dataclass
class Run:
    first: int  # index in botapi.sent of the first message this run had accepted
    last: int = 0  # one past its last
    ambiguous: frozenset[Key] = frozenset()  # accepted, but not marked sent at the kill


class Deliverer:
    """One `mcwatch deliver` process, started (and importing) ahead of its go."""

    def __init__(self, env: dict[str, str], cwd: Path, log: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WARM_START],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.close()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.running:
            self.process.kill()  # SIGKILL: no handler, no cleanup, no last commit
        self.process.wait(timeout=10)


@pytest.fixture
def stand_in() -> Iterator[BotApi]:
    # Generous flood limits: mcwatch's own Pacer still keeps Telegram's (1/s per private
    # chat, 30/s overall), and a 429 would only blur what this test is about.
    limits = FloodLimits(
        private_burst=100,
        private_per_second=100.0,
        group_per_minute=10**6,
        overall_per_second=10**6,
    )
    server = BotApi(token=TOKEN, limits=limits)
    try:
        yield server
    finally:
        server.close()


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.001) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def alert_states(engine: Engine) -> dict[Key, str]:
    with transaction(engine) as session:
        rows = session.exec(
            select(Subscriber.chat_id, Item.link, Delivery.status)
            .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
            .join(Item, col(Item.id) == col(Delivery.item_id))
        ).all()
    states = {}
    for chat_id, link, status in rows:
        story = fanout_story(link)
        assert story is not None
        states[(chat_id, story)] = status
    return states


def live_leases(engine: Engine) -> int:
    """Alerts still leased by someone (a killed sender's, until they expire)."""
    with transaction(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(
                    col(Delivery.status) == "sending",
                    col(Delivery.leased_until) >= SystemClock().now(),
                )
            ).one()
        )


def keys_of(messages: list[SentMessage]) -> list[Key]:
    keys = []
    for message in messages:
        story = fanout_story(message.text)
        assert story is not None, f"not an alert of the fan-out: {message!r}"
        keys.append((message.chat_id, story))
    return keys


@pytest.mark.slow
def test_killed_ten_times_mid_fanout_loses_nothing(
    database_url: str, stand_in: BotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Slow (about 15 s a database): ten real `mcwatch deliver` processes, each started,
    killed with SIGKILL mid-send and restarted — a crash can only be shown by crashing."""
    engine = make_engine(database_url)
    upgrade(engine)
    clock = FixedClock(SystemClock().now())  # due now for the real clock of the processes
    chats = [*GROUPS, *PRIVATE_CHATS]
    subscriber_ids = [
        add_subscriber(
            engine, chat, clock, chat_type="supergroup" if chat < 0 else "private"
        )
        for chat in chats
    ]
    queued = queue_fanout(engine, clock.now(), [subscriber_ids] * STORIES)
    expected = set(alert_states(engine))
    assert queued == len(expected) == len(chats) * STORIES

    env = {k: v for k, v in os.environ.items() if not k.startswith("MCWATCH_")}
    env |= {
        "MCWATCH_DATABASE_URL": database_url,
        "MCWATCH_TELEGRAM_TOKEN": TOKEN,
        "MCWATCH_TELEGRAM_API_URL": stand_in.base_url,
        "MCWATCH_DELIVERY_LEASE": str(LEASE_SECONDS),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    }
    rng = random.Random(SEED)
    runs: list[Run] = []
    started: list[Deliverer] = []
    log_path = tmp_path / "deliver.log"
    with log_path.open("ab") as log:

        def start() -> Deliverer:
            started.append(Deliverer(env, tmp_path, log))
            return started[-1]

        def logs() -> str:
            return log_path.read_text(errors="replace")[-3000:]

        def settle(run: Run) -> None:
            """Close the books on a run once it is dead and its leases have expired (a
            request it wrote just before the kill may be accepted after it died)."""
            assert wait_until(lambda: live_leases(engine) == 0, LEASE_SECONDS + 10, 0.02)
            assert stand_in.wait_idle(), "the stand-in is still handling a request"
            run.last = len(stand_in.sent)
            states = alert_states(engine)
            run.ambiguous = frozenset(
                key
                for key in keys_of(stand_in.sent[run.first : run.last])
                if states[key] != "sent"
            )
            runs.append(run)

        try:
            ready = start()
            while len(runs) < KILLS:
                current, ready = ready, start()  # the next one imports while this one runs
                run = Run(first=len(stand_in.sent))
                current.go()
                if rng.random() < 0.75:
                    target = run.first + rng.randint(1, 15)
                    deadline = time.monotonic() + 30
                    while len(stand_in.sent) < target and current.running:
                        assert time.monotonic() < deadline, logs()
                        time.sleep(0.001)
                    time.sleep(rng.uniform(0, 0.02))
                else:
                    time.sleep(rng.uniform(0.2, 1.5))
                assert current.running, f"the queue drained before kill {len(runs) + 1}\n{logs()}"
                current.kill()
                settle(run)

            final = Run(first=len(stand_in.sent))
            ready.go()
            assert ready.process.wait(timeout=60) == 0, logs()
            settle(final)
            assert final.ambiguous == frozenset()
        finally:
            for deliverer in started:
                deliverer.kill()

    received = keys_of(stand_in.sent)
    copies = Counter(received)
    states = alert_states(engine)
    engine.dispose()

    # Nothing lost: every queued alert reached its chat and is marked sent.
    assert set(copies) == expected
    assert set(states.values()) == {"sent"}
    # Duplicates only in the documented case: an alert gets one extra copy for each run
    # that had it accepted and died before marking it sent, and no other.
    ambiguous = Counter(key for run in runs for key in run.ambiguous)
    assert {key: n - 1 for key, n in copies.items() if n > 1} == dict(ambiguous)
    # At most one ambiguous alert per message in flight when the kill came.
    assert all(len(run.ambiguous) <= MAX_IN_FLIGHT for run in runs)
    duplicates = sum(copies.values()) - len(copies)
    assert duplicates <= KILLS * MAX_IN_FLIGHT
    # Each chat still saw its alerts (first copies) in the order they were queued.
    first_seen: dict[int, list[int]] = defaultdict(list)
    for chat_id, story in dict.fromkeys(received):
        first_seen[chat_id].append(story)
    assert all(stories == sorted(stories) for stories in first_seen.values())
    assert stand_in.too_many_requests == 0

    with capsys.disabled():
        dialect = database_url.split(":", 1)[0].split("+", 1)[0]
        print(
            f"\ncrash test ({dialect}): {KILLS} SIGKILLs during a fan-out of {queued} alerts "
            f"to {len(chats)} chats: none lost, {duplicates} duplicate(s), each the "
            f"documented case (ambiguous per kill: {[len(r.ambiguous) for r in runs[:-1]]}, "
            f"messages accepted per run: {[r.last - r.first for r in runs]})"
        )
