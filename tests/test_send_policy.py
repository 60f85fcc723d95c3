"""One send policy for alerts, edits, digest parts and replies: the pure decisions as
tables, the one in-place waiting function on a fake clock (nothing sleeps), and the
alert and digest paths over a real database meeting the same failures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.clock import FixedClock
from bot.deliver.digest_job import digest_tick
from bot.deliver.outbox import deliver_pending
from bot.deliver.pacing import Pacer
from bot.deliver.send_policy import (
    QUEUED,
    REPLIES,
    Blocked,
    Decision,
    Refused,
    Retries,
    RetryAt,
    SendFailure,
    after_failure,
    retry_delay,
    wait_after,
)
from bot.errors import DeliveryError, MessageRejected, RecipientBlocked, RetryLater
from bot.types import SendReceipt
from store import digests, stories, subscribers
from store.db import transaction
from store.models import Delivery, Digest, Subscriber
from tests.support.builders import RecordingSender, add_subscriber, deps_for, no_pacing
from tests.test_digest import digest_reader, matched_item
from tests.test_outbox import NOW, queue_story

# NOW: 12:00 in Bamako, when queue_story's alerts are due; the day's digest (07:30 by
# default) is due then too, late.


def later(seconds: float, *, backoff: bool = False) -> RetryLater:
    return RetryLater("later", seconds, backoff=backoff)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# -- after_failure: what becomes of a queued send that failed -------------------------
TOO_MANY = RetryLater("Too Many Requests: retry after 60", 60)
BAD_GATEWAY = RetryLater("Bad Gateway", 5, backoff=True)
GONE = RecipientBlocked("Forbidden: bot was blocked by the user")
TOO_LONG = MessageRejected("Bad Request: message is too long")

AFTER_FAILURE = [
    pytest.param(
        TOO_MANY, 1, RetryAt(at(60), str(TOO_MANY)), id="a 429 is retried after its retry_after"
    ),
    pytest.param(
        TOO_MANY, 7, RetryAt(at(60), str(TOO_MANY)), id="a 429 does not grow with the attempts"
    ),
    pytest.param(
        later(7200),
        1,
        RetryAt(at(7200), "later"),
        id="a 429 longer than the longest backoff is still obeyed as it is",
    ),
    pytest.param(
        BAD_GATEWAY, 1, RetryAt(at(5), "Bad Gateway"), id="a first 5xx is retried 5 s later"
    ),
    pytest.param(BAD_GATEWAY, 2, RetryAt(at(10), "Bad Gateway"), id="the second 10 s later"),
    pytest.param(BAD_GATEWAY, 4, RetryAt(at(40), "Bad Gateway"), id="the 5xx backoff doubles"),
    pytest.param(
        BAD_GATEWAY, 11, RetryAt(at(3600), "Bad Gateway"), id="the backoff stops at an hour"
    ),
    pytest.param(
        BAD_GATEWAY,
        100_000,
        RetryAt(at(3600), "Bad Gateway"),
        id="an alert failing for months is still tried hourly",
    ),
    pytest.param(
        later(30, backoff=True),
        1,
        RetryAt(at(5), "later"),
        id="the backoff is the policy's, not the figure a 5xx came with",
    ),
    pytest.param(
        GONE,
        1,
        Blocked("blocked: Forbidden: bot was blocked by the user"),
        id="a chat that blocked the bot is blocked, with the reason",
    ),
    pytest.param(
        TOO_LONG,
        3,
        Refused("rejected: Bad Request: message is too long"),
        id="a message Telegram refuses is given up, with the reason",
    ),
]


@pytest.mark.parametrize(("error", "attempts", "decision"), AFTER_FAILURE)
def test_after_failure(error: SendFailure, attempts: int, decision: Decision) -> None:
    assert after_failure(error, attempts, NOW) == decision


# -- retry_delay: what is waited in place ---------------------------------------------
RETRY_DELAYS = [
    pytest.param(
        REPLIES, 1, later(3), 0.0, 3.0, id="a reply's 429 is retried after its retry_after"
    ),
    pytest.param(
        REPLIES, 1, later(5, backoff=True), 0.0, 0.5, id="a reply's first 5xx: half a second"
    ),
    pytest.param(REPLIES, 3, later(5, backoff=True), 1.5, 2.0, id="a reply's backoff doubles"),
    pytest.param(REPLIES, 9, later(5, backoff=True), 20.0, 4.0, id="a reply's stops at 4 s"),
    pytest.param(REPLIES, 10, later(1), 9.0, None, id="a reply's tenth failure is the last"),
    pytest.param(REPLIES, 1, later(31), 0.0, None, id="a reply's 429 over 30 s is not waited for"),
    pytest.param(REPLIES, 4, later(20), 45.0, None, id="no reply waits more than a minute"),
    pytest.param(QUEUED, 1, later(10), 0.0, 10.0, id="a queued 429 of 10 s is waited in place"),
    pytest.param(
        QUEUED, 1, later(11), 0.0, None, id="a queued 429 over 10 s goes back to the queue"
    ),
    pytest.param(
        QUEUED, 1, later(5, backoff=True), 0.0, None, id="a queued 5xx goes back to the queue"
    ),
    pytest.param(QUEUED, 3, later(1), 2.0, 1.0, id="a queued send is tried 4 times in place"),
    pytest.param(QUEUED, 4, later(1), 3.0, None, id="and not a fifth"),
]


@pytest.mark.parametrize(("retries", "attempt", "error", "waited", "delay"), RETRY_DELAYS)
def test_retry_delay(
    retries: Retries, attempt: int, error: RetryLater, waited: float, delay: float | None
) -> None:
    assert retry_delay(retries, attempt, error, waited) == delay


@pytest.mark.parametrize("retries", [REPLIES, QUEUED], ids=["replies", "queued"])
def test_the_backoff_grows_to_its_longest_and_stays(retries: Retries) -> None:
    waits = [wait_after(retries, later(0, backoff=True), n) for n in range(1, 40)]
    assert waits[0] == retries.first_backoff
    assert waits == sorted(waits) and waits[-1] == retries.longest_backoff


# -- Pacer.send: the one function that waits in place ----------------------------------
def clock_pacer(clock: FixedClock) -> Pacer:
    """No limits of our own; holds and waits move ``clock`` (nothing sleeps)."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    return replace(no_pacing(), now=lambda: clock.now().timestamp(), sleep=sleep)


@dataclass
class Refusing:
    """A send that fails with ``errors`` in turn, then answers "ok"."""

    errors: list[RetryLater]
    calls: int = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_a_short_429_is_waited_in_place_on_the_clock_and_counted() -> None:
    clock = FixedClock(NOW)
    throttled: list[None] = []
    send = Refusing([later(3), later(2)])
    pacer = clock_pacer(clock)
    result = asyncio.run(pacer.send(10, send, QUEUED, throttled=lambda: throttled.append(None)))
    assert (result, send.calls, len(throttled)) == ("ok", 3, 2)
    assert clock.now() == at(5)


def test_a_long_429_is_raised_at_once_and_holds_the_chat() -> None:
    clock = FixedClock(NOW)
    pacer = clock_pacer(clock)
    send = Refusing([later(60)])
    with pytest.raises(RetryLater):
        asyncio.run(pacer.send(10, send, QUEUED))
    assert send.calls == 1 and clock.now() == NOW
    assert pacer.delay(10, at=pacer.now()) == 60  # the chat's next message waits it out
    assert pacer.delay(11, at=pacer.now()) == 0


def test_a_queued_5xx_is_raised_at_once_a_replys_is_retried() -> None:
    clock = FixedClock(NOW)
    queued = Refusing([later(5, backoff=True)])
    with pytest.raises(RetryLater):
        asyncio.run(clock_pacer(clock).send(10, queued, QUEUED))
    assert queued.calls == 1 and clock.now() == NOW
    reply = Refusing([later(5, backoff=True)])
    assert asyncio.run(clock_pacer(clock).send(10, reply, REPLIES)) == "ok"
    assert reply.calls == 2 and clock.now() == at(0.5)


def test_four_short_429s_in_a_row_give_up_and_say_so() -> None:
    clock = FixedClock(NOW)
    send = Refusing([later(1)] * 5)
    with pytest.raises(RetryLater, match=r"gave up after 4 attempts") as raised:
        asyncio.run(clock_pacer(clock).send(10, send, QUEUED))
    assert send.calls == 4 and raised.value.retry_after == 1
    assert clock.now() == at(3)


# -- the alert, the edit and the digest paths -------------------------------------------
INSTANT, DIGEST = 10, 20


def run(engine: Engine, clock: FixedClock, sender: Any, tick: Any) -> Any:
    async def go() -> Any:
        async with deps_for(engine, clock, sender) as deps:
            deps.pacer = clock_pacer(clock)  # a fresh one: no hold from the other path
            return await tick(deps)

    return asyncio.run(go())


def alert_row(engine: Engine) -> tuple[str, datetime | None, str | None]:
    with transaction(engine) as session:
        [row] = session.exec(select(Delivery)).all()
        return row.status, row.next_attempt_at, row.last_error


def digest_row(engine: Engine) -> tuple[str, datetime | None, str | None]:
    with transaction(engine) as session:
        [row] = session.exec(select(Digest)).all()
        return row.status, row.next_attempt_at, row.last_error


def active(engine: Engine, chat_id: int) -> bool:
    with transaction(engine) as session:
        return subscribers.get_subscriber(session, chat_id).active


SAME_FAILURE = [
    pytest.param(
        TOO_MANY,
        ("queued", at(60), "Too Many Requests: retry after 60"),
        id="a 429: both back in the queue for its retry_after",
    ),
    pytest.param(
        BAD_GATEWAY,
        ("queued", at(5), "Bad Gateway"),
        id="a 5xx: both back in the queue for 5 s",
    ),
    pytest.param(
        GONE,
        ("failed", NOW, "blocked: Forbidden: bot was blocked by the user"),
        id="a blocked chat: both given up, both chats deactivated",
    ),
    pytest.param(
        TOO_LONG,
        ("failed", NOW, "rejected: Bad Request: message is too long"),
        id="a refused message: both given up, with the reason",
    ),
]


@pytest.mark.parametrize(("error", "row"), SAME_FAILURE)
def test_an_alert_and_a_digest_part_meeting_the_same_failure_get_the_same_decision(
    engine: Engine, error: DeliveryError, row: tuple[str, datetime, str]
) -> None:
    clock = FixedClock(NOW)
    digest_reader(engine, clock, DIGEST)
    matched_item(engine, 1, NOW - timedelta(hours=1))
    queue_story(engine, add_subscriber(engine, INSTANT, clock))
    sender = RecordingSender(fail={INSTANT: error, DIGEST: error})

    run(engine, clock, sender, deliver_pending)
    run(engine, clock, sender, digest_tick)

    assert alert_row(engine) == digest_row(engine) == row
    still_active = not isinstance(error, RecipientBlocked)
    assert active(engine, INSTANT) is active(engine, DIGEST) is still_active
    assert clock.now() == NOW  # nothing was waited in place
    assert sender.sent == []


def test_a_5xx_backs_off_alike_for_an_alert_and_a_digest(engine: Engine) -> None:
    clock = FixedClock(NOW)
    digest_reader(engine, clock, DIGEST)
    matched_item(engine, 1, NOW - timedelta(hours=1))
    queue_story(engine, add_subscriber(engine, INSTANT, clock))
    sender = RecordingSender(fail={INSTANT: BAD_GATEWAY, DIGEST: BAD_GATEWAY})
    for expected in (5, 10, 20):
        run(engine, clock, sender, deliver_pending)
        run(engine, clock, sender, digest_tick)
        retry = clock.now() + timedelta(seconds=expected)
        assert alert_row(engine) == digest_row(engine) == ("queued", retry, "Bad Gateway")
        clock.current = retry


class RefusesEdits(RecordingSender):
    """Sends; every edit meets ``error``."""

    def __init__(self, error: DeliveryError) -> None:
        super().__init__()
        self.error = error

    async def edit(self, chat_id: int, message_id: int, text: str, **_: Any) -> None:
        raise self.error


def blocked_by_an_alert(engine: Engine, clock: FixedClock) -> None:
    run(engine, clock, RecordingSender(fail={DIGEST: GONE}), deliver_pending)


def blocked_by_an_edit(engine: Engine, clock: FixedClock) -> None:
    with transaction(engine) as session:
        [row] = session.exec(select(Delivery)).all()
        assert row.id is not None
        row.status = "sent"
        row.message_id = 7
        session.add(row)
        assert stories.flag_edits(session, row.story_id) == 1
    run(engine, clock, RefusesEdits(GONE), deliver_pending)


def blocked_by_a_digest(engine: Engine, clock: FixedClock) -> None:
    run(engine, clock, RecordingSender(fail={DIGEST: GONE}), digest_tick)


@pytest.mark.parametrize(
    "find_out",
    [
        pytest.param(blocked_by_an_alert, id="found by an alert"),
        pytest.param(blocked_by_an_edit, id="found by an edit"),
        pytest.param(blocked_by_a_digest, id="found by a digest"),
    ],
)
def test_a_blocked_chat_is_deactivated_and_its_queue_dropped_whoever_finds_out(
    engine: Engine, find_out: Any
) -> None:
    """The SPEC: "a user who blocked the bot is deactivated"; nothing queued for them is
    kept to be sent stale after a /start (the alert or digest in hand included)."""
    clock = FixedClock(NOW)
    digest_reader(engine, clock, DIGEST)
    matched_item(engine, 1, NOW - timedelta(hours=1))
    with transaction(engine) as session:
        subscribers.update_subscriber(session, DIGEST, mode="both")
        subscriber = subscribers.get_subscriber(session, DIGEST)
        assert subscriber.id is not None
        digests.queue_digest(
            session, subscriber.id, "2026-02-23", NOW - timedelta(days=1), NOW, NOW
        )
        subscriber_id = subscriber.id
    queue_story(engine, subscriber_id)
    find_out(engine, clock)
    with transaction(engine) as session:
        row = session.get(Subscriber, subscriber_id)
        assert row is not None and row.active is False
        alert = session.exec(select(Delivery)).one()
        digest = session.exec(select(Digest)).one()
    if find_out is not blocked_by_an_edit:  # an edited alert was sent, and stays so
        assert (alert.status, alert.last_error) == ("failed", f"blocked: {GONE}")
    assert (digest.status, digest.last_error) == ("failed", f"blocked: {GONE}")


def test_an_edit_telegram_refuses_for_now_waits_its_retry_after(engine: Engine) -> None:
    """A 429 on an edit puts the edit back until Telegram's retry_after, as for an
    alert, instead of trying it at every tick meanwhile."""
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, INSTANT, clock)
    _, story = queue_story(engine, sub, source="Studio Tamani")
    run(engine, clock, RecordingSender(), deliver_pending)
    queue_story(engine, sub, 2, source="Maliweb", story_id=story)
    with transaction(engine) as session:
        assert stories.flag_edits(session, story) == 1
    edits: list[int] = []

    class CountingEdits(RefusesEdits):
        async def edit(self, chat_id: int, message_id: int, text: str, **_: Any) -> None:
            edits.append(message_id)
            raise self.error

    refusing = CountingEdits(TOO_MANY)
    assert run(engine, clock, refusing, deliver_pending).edited == 0
    clock.advance(seconds=59)
    assert run(engine, clock, refusing, deliver_pending).edited == 0
    assert edits == [1]  # not tried again before its minute is over
    clock.advance(seconds=1)
    assert run(engine, clock, RecordingSender(), deliver_pending).edited == 1


def test_quiet_hours_hold_without_counting_an_attempt(engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 2, 23, 23, 0, tzinfo=UTC))
    sub = add_subscriber(engine, INSTANT, clock)
    with transaction(engine) as session:
        subscribers.update_subscriber(session, INSTANT, quiet_start="22:00", quiet_end="07:00")
    queue_story(engine, sub)
    for minutes in (0, 10, 20):  # ticks during the night: held, never leased
        clock.current = datetime(2026, 2, 23, 23, minutes, tzinfo=UTC)
        run(engine, clock, RecordingSender(), deliver_pending)
    with transaction(engine) as session:
        row = session.exec(select(Delivery)).one()
        assert (row.status, row.attempts, row.leased_until) == ("queued", 0, None)
    clock.current = datetime(2026, 2, 24, 7, 0, tzinfo=UTC)
    sender = RecordingSender()
    assert run(engine, clock, sender, deliver_pending).sent == 1
    with transaction(engine) as session:
        assert session.exec(select(Delivery)).one().attempts == 1  # the one real send


def test_a_digest_part_is_sent_through_the_same_function_as_an_alert(engine: Engine) -> None:
    """A short 429 on a digest part is waited in place on the clock, and counted, as for
    an alert; the digest is then sent once."""
    clock = FixedClock(NOW)
    digest_reader(engine, clock, DIGEST)
    matched_item(engine, 1, NOW - timedelta(hours=1))

    @dataclass
    class OneShort429(RecordingSender):
        refused: int = 0

        async def send(self, chat_id: int, text: str, **kwargs: Any) -> SendReceipt:
            if not self.refused:
                self.refused += 1
                raise RetryLater("Too Many Requests: retry after 3", 3)
            return await super().send(chat_id, text, **kwargs)

    sender = OneShort429()
    throttled: list[None] = []

    async def go() -> int:
        async with deps_for(engine, clock, sender) as deps:
            deps.pacer = clock_pacer(clock)
            deps.metrics.throttled = lambda: throttled.append(None)  # type: ignore[method-assign]
            return len(await digest_tick(deps))

    assert asyncio.run(go()) == 1
    assert clock.now() == at(3) and len(throttled) == 1
    assert len(sender.sent) == 1 and digest_row(engine)[0] == "sent"
