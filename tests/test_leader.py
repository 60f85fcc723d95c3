"""One Telegram leader among the workers sharing a database (issue 14, point 3).

Several ``mcwatch run`` on one database measured 10,525 × 429 of 22,286 calls (each
worker paced Telegram for itself) and, of 50 ``/help``, 23 answered once, 6 twice, 21
never (every worker read ``getUpdates``; one loop died on an IntegrityError). Here two
workers — each its own Deps, Application and pacer, as two processes have — share one
real database (SQLite file, PostgreSQL when named) and one Bot API stand-in: one reads
and sends, the other does not; a dead leader is replaced within the lease, on the
FixedClock; the updates loop survives what killed it. Loops wait through an injected
``wait``: nothing sleeps, and the only real-time waits are bounded waits for the
stand-in to have answered.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from telegram.ext import Application

from bot import jobs
from bot.clock import FixedClock
from bot.deps import Deps, open_deps
from bot.ingest.fetch import FetchLimits
from bot.jobs import LEASE_SECONDS, LEASE_STEP_SECONDS, TelegramLeader
from bot.settings import Secret, Settings
from bot.telegram.app import attach, build_application
from bot.telegram.sender import TelegramSender
from store import leases
from store.db import make_engine, transaction
from tests.support.botapi import BotApi
from tests.support.builders import (
    RecordingSender,
    add_subscriber,
    deps_for,
    no_pacing,
    queue_fanout,
    seeded,
)
from tests.support.telegram import HUMAN_PACE, TOKEN

NAME = jobs.TELEGRAM_LEASE


# -- the lease row ----------------------------------------------------------------------
def test_one_owner_at_a_time_and_an_expired_lease_changes_hands(engine: Engine) -> None:
    clock = FixedClock()
    t0 = clock.now()
    with transaction(engine) as session:
        assert leases.take(session, NAME, "a", t0, 30) == leases.Lease(
            NAME, "a", t0 + timedelta(seconds=30)
        )
        assert leases.take(session, NAME, "b", t0, 30) is None  # a holds it
    with transaction(engine) as session:
        assert leases.renew(session, NAME, "a", t0 + timedelta(seconds=10), 30) is not None
        assert leases.take(session, NAME, "b", t0 + timedelta(seconds=39), 30) is None
        taken = leases.take(session, NAME, "b", t0 + timedelta(seconds=40), 30)
        assert taken is not None and taken.owner == "b"  # a's renewed lease ran out
    with transaction(engine) as session:
        assert leases.renew(session, NAME, "a", t0 + timedelta(seconds=41), 30) is None
        assert leases.release(session, NAME, "a") is False  # not a's to give up
        assert leases.who(session, NAME) == taken
        assert leases.release(session, NAME, "b") is True
        assert leases.who(session, NAME) is None
        assert leases.take(session, NAME, "a", t0 + timedelta(seconds=42), 30) is not None


def test_workers_racing_for_a_free_lease_get_one_winner_and_no_error(engine: Engine) -> None:
    """The first lease is an insert: eight workers starting together, one wins, none
    meets an IntegrityError (the error that left a worker's update loop deaf)."""
    now = FixedClock().now()
    start = threading.Barrier(8)
    won: list[str] = []
    errors: list[BaseException] = []

    def contend(owner: str) -> None:
        try:
            start.wait()
            with transaction(engine) as session:
                if leases.take(session, NAME, owner, now, 30) is not None:
                    won.append(owner)
        except BaseException as exc:  # the test reports any
            errors.append(exc)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(won) == 1
    with transaction(engine) as session:
        holder = leases.who(session, NAME)
    assert holder is not None and holder.owner == won[0]


# -- the leader -------------------------------------------------------------------------
@asynccontextmanager
async def two_workers(engine: Engine, clock: FixedClock) -> AsyncIterator[tuple[Deps, Deps]]:
    async with deps_for(engine, clock) as a, deps_for(engine, clock) as b:
        yield a, b


def test_a_dead_leader_is_replaced_within_the_lease(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock()

    async def go() -> None:
        async with two_workers(engine, clock) as (a_deps, b_deps):
            a, b = TelegramLeader(a_deps, owner="a"), TelegramLeader(b_deps, owner="b")
            assert await a.step() and not await b.step()
            # a renews at every step; b never gets it while a lives
            for _ in range(10):
                clock.advance(seconds=LEASE_STEP_SECONDS)
                assert await a.step() and not await b.step()
            # a dies (no more steps): b asks at every step and takes over within the lease
            died = clock.now()
            while not await b.step():
                assert not a.held() or clock.now() - died < timedelta(seconds=LEASE_SECONDS)
                clock.advance(seconds=LEASE_STEP_SECONDS)
            assert clock.now() - died <= timedelta(seconds=LEASE_SECONDS + LEASE_STEP_SECONDS)
            assert not a.held()  # past the expiry it last wrote, a knows without asking
            # a comes back (it was frozen, not dead): its renewal is refused
            assert not await a.step()
            assert b.held()

    with caplog.at_level(logging.INFO, logger="bot.jobs"):
        asyncio.run(go())
    said = [r.getMessage() for r in caplog.records if r.name == "bot.jobs"]
    assert "this worker (a) now leads Telegram: it reads updates and sends" in said
    assert "this worker (b) now leads Telegram: it reads updates and sends" in said
    assert f"{jobs.LOST} to b: this worker stops reading updates and sending" in said


def test_work_in_progress_stops_the_moment_leadership_is_lost(engine: Engine) -> None:
    clock = FixedClock()

    async def go() -> tuple[object, bool]:
        async with two_workers(engine, clock) as (a_deps, b_deps):
            a, b = TelegramLeader(a_deps, owner="a"), TelegramLeader(b_deps, owner="b")
            assert await a.step()
            started = asyncio.Event()

            async def endless_sending() -> str:
                started.set()
                await asyncio.Event().wait()  # a tick that would run for ever
                return "finished"

            work = asyncio.create_task(a.exclusive(endless_sending))
            await started.wait()
            clock.advance(seconds=LEASE_SECONDS)  # a was frozen past its lease
            assert await b.step()
            assert not await a.step()  # told it lost: its work is cancelled
            result = await asyncio.wait_for(work, timeout=5)
            return result, await a.exclusive(endless_sending) is None

    result, refused = asyncio.run(go())
    assert result is None  # cancelled, not finished
    assert refused  # and no new leader-only work starts


def test_a_renewal_the_database_cannot_answer_keeps_the_lease_until_it_expires(
    engine: Engine, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody else can take a lease before its expiry, so a database hiccup is retried at
    the next step (one line for the outage, not one per step)."""
    clock = FixedClock()
    broken_file = f"{tmp_path}/not-a-database.db"
    with open(broken_file, "w") as out:
        out.write("this is not an SQLite file " * 100)
    broken = make_engine(f"sqlite:///{broken_file}")

    async def go() -> list[bool]:
        async with deps_for(engine, clock) as deps:
            leader = TelegramLeader(deps, owner="a")
            assert await leader.step()
            leader.deps = replace(deps, engine=broken)
            held = []
            for _ in range(6):
                clock.advance(seconds=LEASE_STEP_SECONDS)
                held.append(await leader.step())
            leader.deps = deps
            return held

    with caplog.at_level(logging.WARNING, logger="bot.jobs"):
        held = asyncio.run(go())
    broken.dispose()
    assert held == [True, True, True, True, False, False]  # 25 s: then it stops
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.jobs"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("the Telegram lease could not be checked: ")


def test_only_the_leader_sends(engine: Engine) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    chats = [add_subscriber(engine, chat, clock) for chat in range(5001, 5011)]
    queue_fanout(engine, clock.now(), [chats] * 3)

    async def go() -> tuple[RecordingSender, RecordingSender]:
        a_sender, b_sender = RecordingSender(), RecordingSender()
        async with (
            deps_for(engine, clock, a_sender) as a_deps,
            deps_for(engine, clock, b_sender) as b_deps,
        ):
            a, b = TelegramLeader(a_deps, owner="a"), TelegramLeader(b_deps, owner="b")
            assert await a.step() and not await b.step()
            deliver = [
                jobs._leading(a, "deliver_tick", lambda: jobs.deliver_tick(a_deps)),
                jobs._leading(b, "deliver_tick", lambda: jobs.deliver_tick(b_deps)),
            ]
            await asyncio.gather(*deliver)
        return a_sender, b_sender

    a_sender, b_sender = asyncio.run(go())
    assert len(a_sender.sent) == 30
    assert b_sender.sent == []


def test_run_once_beside_a_leader_polls_only_and_says_so_once(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    chat = add_subscriber(engine, 5101, clock)
    queue_fanout(engine, clock.now(), [[chat]])

    async def go() -> tuple[jobs.OnceReport, jobs.OnceReport, leases.Lease | None]:
        async with two_workers(engine, clock) as (daemon_deps, once_deps):
            daemon = TelegramLeader(daemon_deps, owner="daemon")
            assert await daemon.step()
            beside = await jobs.run_once(once_deps, None)
            with transaction(engine) as session:
                still = leases.who(session, NAME)
            await daemon.release()
            alone = await jobs.run_once(once_deps, None)
            return beside, alone, still

    with caplog.at_level(logging.INFO, logger="bot.jobs"):
        beside, alone, still = asyncio.run(go())
    assert not beside.leading and beside.delivered.sent == 0
    assert still is not None and still.owner == "daemon"  # run --once left it alone
    assert alone.leading and alone.delivered.sent == 1
    told = [r.getMessage() for r in caplog.records if "polls feeds only" in r.getMessage()]
    assert len(told) == 1 and told[0].startswith("daemon leads Telegram (lease until ")
    with transaction(engine) as session:
        assert leases.who(session, NAME) is None  # released by the run that took it


# -- two daemons against the Bot API stand-in -------------------------------------------
@dataclass
class Worker:
    deps: Deps
    application: Application  # type: ignore[type-arg]
    leader: TelegramLeader
    steps: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    waits: list[float] = field(default_factory=list)

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """The loops' waits: a lease step waits for the test to allow one; any other
        wait (a backoff) is recorded and returns at once."""
        self.waits.append(seconds)
        if seconds == LEASE_STEP_SECONDS:
            stopping = asyncio.ensure_future(stop.wait())
            allowed = asyncio.ensure_future(self.steps.get())
            await asyncio.wait({stopping, allowed}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            allowed.cancel()
        else:
            await asyncio.sleep(0)


@asynccontextmanager
async def telegram_worker(
    engine: Engine, botapi: BotApi, clock: FixedClock, owner: str
) -> AsyncIterator[Worker]:
    settings = Settings(
        database_url=str(engine.url),
        telegram_token=Secret(TOKEN),
        telegram_api_url=botapi.base_url,
    )
    application = build_application(settings)
    await application.initialize()
    try:
        async with open_deps(
            settings,
            engine,
            TelegramSender(application.bot),
            clock=clock,
            pacer=no_pacing(),
            fetch_limits=FetchLimits(timeout=5.0),
        ) as deps:
            attach(application, deps)
            yield Worker(deps, application, TelegramLeader(deps, owner=owner))
    finally:
        await application.shutdown()


async def eventually(condition: Callable[[], bool]) -> None:
    """Until the stand-in has answered (real HTTP takes real time), bounded: 10 s."""
    async with asyncio.timeout(10.0):
        while not condition():  # noqa: ASYNC110 - the stand-in's threads set no asyncio.Event
            await asyncio.sleep(0.005)


def replies(botapi: BotApi, chats: range) -> dict[int, int]:
    return {chat: len(botapi.messages_to(chat)) for chat in chats}


@pytest.fixture
def stand_in() -> Iterator[BotApi]:
    server = BotApi(token=TOKEN, limits=HUMAN_PACE)
    try:
        yield server
    finally:
        server.close()


def test_two_daemons_answer_every_command_once_and_the_survivor_takes_over(
    engine: Engine, stand_in: BotApi
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    first, second = range(7001, 7021), range(7101, 7121)

    async def go() -> tuple[dict[int, int], dict[int, int], str]:
        async with (
            telegram_worker(engine, stand_in, clock, "a") as a,
            telegram_worker(engine, stand_in, clock, "b") as b,
        ):
            stop_a, stop_b = asyncio.Event(), asyncio.Event()

            def run(worker: Worker, stop: asyncio.Event) -> asyncio.Task[None]:
                loop = jobs.lead(
                    worker.leader, stop, worker.application, wait=worker.wait, long_poll=0
                )
                return asyncio.create_task(loop)

            daemon_a = run(a, stop_a)
            await eventually(a.leader.held)
            daemon_b = run(b, stop_b)
            for chat in first:
                stand_in.push_message(chat, "/help")
            await eventually(lambda: all(replies(stand_in, first).values()))
            for _ in range(3):  # b asks again and again: refused while a lives
                await b.steps.put(None)
                await a.steps.put(None)
            await eventually(lambda: b.steps.empty() and a.steps.empty())
            answered_first = replies(stand_in, first)
            assert not b.leader.held()

            daemon_a.cancel()  # a dies: no release, its lease row stays
            await asyncio.gather(daemon_a, return_exceptions=True)
            for chat in second:
                stand_in.push_message(chat, "/help")
            clock.advance(seconds=LEASE_SECONDS)
            await b.steps.put(None)
            await eventually(lambda: all(replies(stand_in, second).values()))
            answered_second = replies(stand_in, second)
            holder = b.leader.holder
            stop_b.set()
            stop_a.set()
            await daemon_b
            await b.leader.release()
            return answered_first, answered_second, holder.owner if holder else ""

    answered_first, answered_second, holder = asyncio.run(go())
    assert set(answered_first.values()) == {1}, answered_first
    assert set(answered_second.values()) == {1}, answered_second
    assert holder == "b"


def test_the_updates_loop_outlives_an_integrity_error_in_the_offset_bookkeeping(
    engine: Engine, stand_in: BotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """A real IntegrityError from the database (a trigger refuses the offset update, as
    the concurrent insert did in the measured run): one ERROR line (the traceback at
    DEBUG), a wait, and the next round handles the update again: the loop is not dead."""
    clock = FixedClock()
    seeded(engine, clock)
    sqlite = engine.url.get_backend_name() == "sqlite"
    refuse, allow = offset_trigger(sqlite)

    async def go(worker_done: Callable[[Worker], Awaitable[None]]) -> Worker:
        async with telegram_worker(engine, stand_in, clock, "a") as worker:
            assert await worker.leader.step()
            await worker_done(worker)
            return worker

    async def scenario(worker: Worker) -> None:
        stop = asyncio.Event()
        stand_in.push_message(8001, "/help")  # the first offset: an insert, allowed
        await jobs.handle_updates(worker.application, worker.deps)
        with engine.begin() as connection:
            for statement in refuse:
                connection.execute(text(statement))
        stand_in.push_message(8002, "/help")
        backoffs = len(worker.waits)

        async def wait(stop: asyncio.Event, seconds: float) -> None:
            worker.waits.append(seconds)
            with engine.begin() as connection:  # the database is itself again
                for statement in allow:
                    connection.execute(text(statement))

        loop = asyncio.create_task(
            jobs.updates_loop(worker.application, worker.leader, stop, wait=wait, long_poll=0)
        )
        await eventually(lambda: stand_in.pending_updates() == 0 and len(worker.waits) > backoffs)
        stand_in.push_message(8003, "/help")
        await eventually(lambda: bool(stand_in.messages_to(8003)))
        stop.set()
        await loop

    with caplog.at_level(logging.DEBUG, logger="bot.jobs"):
        worker = asyncio.run(go(scenario))
    errors = [r for r in caplog.records if r.name == "bot.jobs" and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith("getUpdates failed: the database ")
    # bot.logs' redacting filter (installed by any earlier CLI test of this process)
    # folds the traceback into the message: accept it there or as exc_info.
    traceback = [
        (r.exc_info[0].__name__ if r.exc_info and r.exc_info[0] else r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith("the traceback of getUpdates")
    ]
    assert len(traceback) == 1 and IntegrityError.__name__ in traceback[0]
    assert worker.waits == [jobs.UPDATES_BACKOFF[0]]
    assert len(stand_in.messages_to(8003)) == 1  # still listening
    # 8002's offset was never written: it is handled again (once more), not lost
    assert len(stand_in.messages_to(8002)) == 2
    said = [r.getMessage() for r in caplog.records if r.name == "bot.jobs"]
    assert "getUpdates works again (after 0 more failures)" in said


def offset_trigger(sqlite: bool) -> tuple[list[str], list[str]]:
    """SQL that makes the database refuse any update of the stored offset with an
    integrity error, and SQL that undoes it."""
    if sqlite:
        return (
            [
                "CREATE TRIGGER refuse_offset BEFORE UPDATE ON meta "
                f"WHEN OLD.key = '{jobs.OFFSET_KEY}' "
                "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: meta.key'); END"
            ],
            ["DROP TRIGGER refuse_offset"],
        )
    return (
        [
            "CREATE FUNCTION refuse_offset() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE unique_violation USING MESSAGE = 'duplicate key value'; END $$",
            "CREATE TRIGGER refuse_offset BEFORE UPDATE ON meta FOR EACH ROW "
            f"WHEN (OLD.key = '{jobs.OFFSET_KEY}') EXECUTE FUNCTION refuse_offset()",
        ],
        ["DROP TRIGGER refuse_offset ON meta", "DROP FUNCTION refuse_offset()"],
    )


@pytest.mark.parametrize(
    ("status", "waits", "level"),
    [
        pytest.param(
            409,
            [jobs.CONFLICT_WAIT_SECONDS] * 3,
            logging.INFO,
            id="409 Conflict: another reader; waited out at INFO",
        ),
        pytest.param(
            502, [1.0, 2.0, 4.0], logging.WARNING, id="5xx: a warning, and a doubling backoff"
        ),
    ],
)
def test_a_failing_get_updates_is_one_line_and_a_wait(
    engine: Engine,
    stand_in: BotApi,
    caplog: pytest.LogCaptureFixture,
    status: int,
    waits: list[float],
    level: int,
) -> None:
    clock = FixedClock()
    seeded(engine, clock)

    async def go() -> Worker:
        async with telegram_worker(engine, stand_in, clock, "a") as worker:
            assert await worker.leader.step()
            stop = asyncio.Event()
            stand_in.fail_next(status, method="getUpdates", times=3)
            stand_in.push_message(8101, "/help")

            async def wait(stop: asyncio.Event, seconds: float) -> None:
                worker.waits.append(seconds)

            loop = asyncio.create_task(
                jobs.updates_loop(worker.application, worker.leader, stop, wait=wait, long_poll=0)
            )
            await eventually(lambda: bool(stand_in.messages_to(8101)))
            stop.set()
            await loop
            return worker

    with caplog.at_level(logging.DEBUG, logger="bot.jobs"):
        worker = asyncio.run(go())
    assert worker.waits == waits
    assert len(stand_in.messages_to(8101)) == 1
    failed = [
        r
        for r in caplog.records
        if r.name == "bot.jobs" and r.getMessage().startswith("getUpdates failed")
    ]
    assert [r.levelno for r in failed] == [level, logging.DEBUG, logging.DEBUG]
