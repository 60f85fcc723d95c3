"""The outbox at a year's scale, on both databases: the tick's questions are read through
their partial indexes (whatever the statistics), a lease batch reads what its alerts
show in one query per kind, a shutdown gives back what it leased and did not send, and
a digest round serves its chats concurrently (issue 14)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.engine import Connection
from sqlmodel import select

import bot.deliver.digest_job as digest_job
from bot.clock import FixedClock
from bot.deliver.digest_job import digest_tick
from bot.deliver.outbox import deliver_pending
from bot.deliver.pacing import Limits, Pacer
from bot.types import DeliveryIntent, Item, Match, SendReceipt
from store import deliveries, digests, feeds, items, stories, subscribers, topics
from store.db import transaction
from store.feeds import NewFeed
from store.models import Delivery, Digest, Story, Subscriber
from store.models import Item as ItemRow
from tests.support.builders import RecordingSender, add_subscriber, deps_for

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SENT_ROWS = 20_000  # enough that reading them all costs more than any index, on both


def history(engine: Engine) -> int:
    """``SENT_ROWS`` sent alerts (100 readers × 200 stories) with no statistics: on
    PostgreSQL autovacuum is off for the table, as in issue 14's measurements, and
    nothing runs ANALYZE. Returns the id of a subscriber with nothing queued."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE deliveries SET (autovacuum_enabled = false)"))
    with engine.begin() as connection:
        connection.execute(
            insert(Subscriber.__table__),  # type: ignore[attr-defined]
            [
                {
                    "chat_id": 5000 + n,
                    "chat_type": "private",
                    "title": f"c{n}",
                    "language": "fr",
                    "mode": "instant",
                    "active": True,
                    "paused": False,
                    "created_at": NOW,
                }
                for n in range(100)
            ],
        )
        connection.execute(
            insert(Story.__table__),  # type: ignore[attr-defined]
            [{"created_at": NOW} for _ in range(200)],
        )
        reader_ids = list(connection.scalars(text("SELECT id FROM subscribers ORDER BY id")))
        story_ids = list(connection.scalars(text("SELECT id FROM stories ORDER BY id")))
        connection.execute(
            insert(ItemRow.__table__),  # type: ignore[attr-defined]
            [
                {
                    "identity": f"old{n}",
                    "source": "Old",
                    "title": f"Ancienne {n}",
                    "summary": "",
                    "language": "fr",
                    "published": NOW - timedelta(days=365 - n),
                    "fetched_at": NOW - timedelta(days=365 - n),
                    "story_id": story_id,
                }
                for n, story_id in enumerate(story_ids)
            ],
        )
        item_ids = list(connection.scalars(text("SELECT id FROM items ORDER BY story_id")))
        connection.execute(
            insert(Delivery.__table__),  # type: ignore[attr-defined]
            [
                {
                    "subscriber_id": reader,
                    "story_id": story,
                    "item_id": item,
                    "kind": "alert",
                    "status": "sent",
                    "topics": "[]",
                    "attempts": 1,
                    "edit_pending": False,
                    "next_attempt_at": NOW - timedelta(days=1),
                    "sent_at": NOW,
                    "message_id": 1,
                    "created_at": NOW,
                }
                for story, item in zip(story_ids, item_ids, strict=True)
                for reader in reader_ids
            ],
        )
    return int(reader_ids[0])


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs run on ``engine`` inside the block, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(
        _conn: Connection, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool
    ) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan(engine: Engine, sql: str, params: Any) -> str:
    """The planner's plan for ``sql``, as text."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            return "\n".join(str(row[-1]) for row in rows)
        rows = connection.exec_driver_sql(f"EXPLAIN {sql}", params)
        return "\n".join(str(row[0]) for row in rows)


def test_the_ticks_questions_use_the_partial_indexes(engine: Engine) -> None:
    """Nothing due, 20,000 sent rows, no statistics: each question of the tick names its
    index, so none reads the sent rows (SQLite took the status index and 125 ms at 1 M
    rows for the edit question; with the indexes, ~2 ms)."""
    history(engine)
    with statements(engine) as seen, transaction(engine) as session:
        assert deliveries.lease_deliveries(session, NOW) == []
        assert deliveries.lease_edits(session, NOW) == []
        assert deliveries.quiet_hours_due(session, NOW) == []
        assert deliveries.oldest_due(session, NOW) is None
        assert deliveries.queue_depth(session) == 0
    lease, edits, quiet, oldest, depth = seen
    for sql, params in (lease, quiet, oldest):
        assert "ix_deliveries_owed" in plan(engine, sql, params), sql
    assert "ix_deliveries_edits" in plan(engine, *edits)
    counted = plan(engine, *depth)  # the owed rows, by either index on status
    assert "ix_deliveries_" in counted and "SCAN deliveries" not in counted


def test_flagged_edits_are_found_through_their_index(engine: Engine) -> None:
    reader = history(engine)
    with transaction(engine) as session:
        story_id = session.exec(
            select(Delivery.story_id).where(Delivery.subscriber_id == reader).limit(1)
        ).one()
        flagged = stories.flag_edits(session, story_id)
    with transaction(engine) as session:
        edits = deliveries.lease_edits(session, NOW)
    assert len(edits) == flagged == 100  # every reader of that story
    with transaction(engine) as session:
        assert deliveries.lease_edits(session, NOW) == []  # taken: flags cleared


@dataclass(frozen=True)
class Expected:
    terms: tuple[str, ...]
    also: tuple[str, ...]


def test_a_lease_batch_reads_terms_and_sources_once_per_batch(engine: Engine) -> None:
    """Three stories (one reported by three outlets), two readers: the batched lease
    shows what one look-up per alert (``items.item_terms``, ``stories.sources``) showed,
    in two queries for the whole batch instead of two per alert."""
    with transaction(engine) as session:
        topics.upsert_topic(session, "security", name="Sécurité", query="securite")
        topics.upsert_topic(session, "mining", name="Mines", query="mine")
        ids = topics.topic_ids_by_slug(session)
    readers = [add_subscriber(engine, chat, FixedClock(NOW)) for chat in (31, 32)]
    expected: dict[tuple[int, int], Expected] = {}
    with transaction(engine) as session:
        for n, outlets in enumerate((["A", "B", "C"], ["B"], ["C", "A"])):
            story_id = None
            for k, outlet in enumerate(outlets):
                feed = feeds.find_feed_by_url(session, f"https://{outlet}.example/rss")
                feed = feed or feeds.add_feed(
                    session, NewFeed(url=f"https://{outlet}.example/rss"), NOW
                )
                row = items.add_item(
                    session,
                    feed.id,
                    outlet,
                    Item(f"s{n}-{k}", f"Histoire {n}", None, "", NOW + timedelta(minutes=k), "fr"),
                    NOW,
                    story_id=story_id,
                )
                assert row.id and row.story_id
                story_id = row.story_id
                if k == 0:
                    first = row
                    items.record_matches(
                        session,
                        row.id,
                        [Match("mining", ("or", "mine")), Match("security", ("mine", f"t{n}"))],
                        ids,
                    )
            assert first.id and story_id
            intents = [DeliveryIntent(r, first.id, ("security",)) for r in readers]
            deliveries.queue_alerts(session, story_id, intents, NOW)
    with transaction(engine) as session:
        for delivery in session.exec(select(Delivery)).all():
            item = items.get_item(session, delivery.item_id)
            assert item is not None
            _, terms = items.item_terms(session, delivery.item_id)
            also = [s for s in stories.sources(session, delivery.story_id) if s != item.source]
            expected[(delivery.subscriber_id, delivery.story_id)] = Expected(terms, tuple(also))
    with statements(engine) as seen, transaction(engine) as session:
        leased = deliveries.lease_deliveries(session, NOW)
    # the lease, the terms, the sources, the watches that found them, their first mentions
    assert len(leased) == 6 and len(seen) == 5
    with transaction(engine) as session:
        story_of = {row.id: row.story_id for row in session.exec(select(Delivery)).all()}
    for alert in leased:
        want = expected[(alert.subscriber_id, story_of[alert.delivery_id])]
        assert (alert.terms, alert.also_reported_by) == (want.terms, want.also)
    assert {alert.also_reported_by for alert in leased} == {("B", "C"), (), ("A",)}


@dataclass
class HangingSender(RecordingSender):
    """Sends at once, except to ``hang``: that send begins and never ends (a shutdown
    comes first). ``ready`` is set once it began and ``others`` were sent."""

    hang: int = 0
    others: int = 0
    begun: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt:
        if chat_id == self.hang:
            self.begun = True
            self._check()
            await asyncio.Event().wait()
        receipt = await super().send(chat_id, text, html_mode=html_mode, reply_markup=reply_markup)
        self._check()
        return receipt

    def _check(self) -> None:
        if self.begun and len(self.sent) >= self.others:
            self.ready.set()


def test_a_shutdown_gives_back_what_it_leased_and_did_not_send(engine: Engine) -> None:
    """SIGTERM mid-batch: the alerts sent stay sent; the one in flight and the one not
    begun go back to the queue at once (not after the lease), the second with its attempt
    uncounted; the next start sends them without waiting for the clock."""
    clock = FixedClock(NOW)
    with transaction(engine) as session:
        topics.upsert_topic(session, "security", name="Sécurité", query="securite")
    fast, slow = add_subscriber(engine, 41, clock), add_subscriber(engine, 42, clock)
    for n in range(2):
        with transaction(engine) as session:
            row = items.add_item(
                session, None, "A", Item(f"x{n}", f"Dépêche {n}", None, "", NOW, "fr"), NOW
            )
            assert row.id and row.story_id
            deliveries.queue_alerts(
                session,
                row.story_id,
                [DeliveryIntent(fast, row.id, ()), DeliveryIntent(slow, row.id, ())],
                NOW,
            )
    sender = HangingSender(hang=42, others=2)  # the other chat's two alerts

    async def go() -> None:
        async with deps_for(engine, clock, sender) as deps:
            task = asyncio.create_task(deliver_pending(deps))
            await sender.ready.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(go())
    with transaction(engine) as session:
        rows = session.exec(
            select(Delivery).order_by(Delivery.subscriber_id, Delivery.id)  # type: ignore[arg-type]
        ).all()
        states = [(row.subscriber_id, row.status, row.attempts, row.leased_until) for row in rows]
    assert states == [
        (fast, "sent", 1, None),
        (fast, "sent", 1, None),
        (slow, "queued", 1, None),  # in flight: it may have reached Telegram
        (slow, "queued", 0, None),  # never begun: as if never leased
    ]
    again = RecordingSender()

    async def restart() -> int:
        async with deps_for(engine, clock, again) as deps:
            return (await deliver_pending(deps)).sent

    assert asyncio.run(restart()) == 2 and [chat for chat, _ in again.sent] == [42, 42]


@dataclass
class DigestSender(RecordingSender):
    """Counts the digests open at once: message sent, chart not yet (one reader after
    another: never more than one)."""

    open: set[int] = field(default_factory=set)
    most: int = 0

    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt:
        self.open.add(chat_id)
        self.most = max(self.most, len(self.open))
        return await super().send(chat_id, text, html_mode=html_mode, reply_markup=reply_markup)

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt:
        self.open.discard(chat_id)
        return await super().send_photo(chat_id, png, caption)


@dataclass
class VirtualTime:
    """The pacer's clock, moved by its sleep: once every digest still open is waiting
    (``settled``: none is being planned or written in a thread), the earliest sleeper
    moves the clock to its wake-up time. Nothing really waits."""

    settled: Callable[[int], bool]
    now: float = 0.0
    waiting: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        wake = self.now + seconds
        self.waiting.append(wake)
        try:
            while self.now < wake:
                if min(self.waiting) >= wake and self.settled(len(self.waiting)):
                    self.now = wake
                else:
                    await asyncio.sleep(0)
        finally:
            self.waiting.remove(wake)
        await asyncio.sleep(0)

    def pacer(self) -> Pacer:
        return Pacer(Limits(), now=lambda: self.now, sleep=self.sleep)


def digest_round(engine: Engine, readers: int, clock: FixedClock) -> None:
    """``readers`` digest readers, due now, and one matched story for all of them."""
    with transaction(engine) as session:
        topics.upsert_topic(session, "security", name="Sécurité", query="securite")
    for n in range(readers):
        add_subscriber(engine, 100 + n, clock)
        with transaction(engine) as session:
            subscribers.update_subscriber(session, 100 + n, mode="digest")
    arrived = clock.now() - timedelta(hours=2)
    with transaction(engine) as session:
        row = items.add_item(
            session, None, "A", Item("d1", "Bamako et Pékin", None, "", arrived, "fr"), arrived
        )
        assert row.id
        items.record_matches(
            session, row.id, [Match("security", ("x",))], topics.topic_ids_by_slug(session)
        )


def run_round(
    engine: Engine, clock: FixedClock, sender: DigestSender, readers: int, chart: str = "daily"
) -> float:
    """One digest tick with Telegram's limits on a virtual clock; returns how long the
    round took on it. ``chart``: ``Settings.digest_chart`` ("daily": a message and a
    chart each; "weekly", the default: a daily digest is one message)."""
    at_once = min(readers, digest_job.DIGESTS_IN_FLIGHT)

    def settled(waiting: int) -> bool:
        done = len(sender.photos) if chart == "daily" else len(sender.sent)
        return waiting + done >= at_once

    time = VirtualTime(settled=settled)

    async def go() -> int:
        async with deps_for(engine, clock, sender, digest_chart=chart) as deps:
            deps.pacer = time.pacer()
            return len(await digest_tick(deps))

    assert asyncio.run(go()) == readers
    return time.now


READERS = digest_job.DIGESTS_IN_FLIGHT


def test_a_digest_round_serves_its_chats_concurrently(engine: Engine) -> None:
    """40 readers at 07:30, each digest a message and a chart. One after another, each
    chart waits a second behind its message (Telegram's pace in one chat): 40 s for the
    round. Concurrently, Telegram's 30 messages a second overall is the bound: 80 parts
    in under 3 s of the pacer's clock. Each reader gets one digest, parts in order."""
    clock = FixedClock(NOW.replace(hour=7, minute=30))
    digest_round(engine, READERS, clock)
    sender = DigestSender()
    took = run_round(engine, clock, sender, READERS)
    assert sender.most >= 20  # digests open at once (one after another: 1)
    assert len(sender.sent) == len(sender.photos) == READERS and not sender.open
    assert took <= 2 * READERS / 30 + 1  # one after another: READERS seconds
    assert sorted({chat for chat, _ in sender.sent}) == list(range(100, 100 + READERS))
    with transaction(engine) as session:
        done = session.exec(select(Digest.status)).all()
    assert done == ["sent"] * READERS


def test_a_daily_round_without_charts_is_one_message_a_reader(engine: Engine) -> None:
    """The default (``MCWATCH_DIGEST_CHART=weekly``): a daily digest ends with the trend
    as a line of text, so a round is one message a reader — 1,000 readers in 34 s at
    Telegram's 30 a second, where a chart each would take 67 s."""
    clock = FixedClock(NOW.replace(hour=7, minute=30))
    digest_round(engine, READERS, clock)
    sender = DigestSender()
    took = run_round(engine, clock, sender, READERS, chart="weekly")
    assert len(sender.sent) == READERS and sender.photos == []
    assert took <= READERS / 30 + 1
    assert all("▁" in text or "█" in text or "·" in text for _, text in sender.sent)


def test_one_digest_at_a_time_is_slow_on_the_same_clock(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound above can fail: one digest at a time, the same clock counts a second
    per reader (each chart behind its message)."""
    monkeypatch.setattr(digest_job, "DIGESTS_IN_FLIGHT", 1)
    clock = FixedClock(NOW.replace(hour=7, minute=30))
    digest_round(engine, 5, clock)
    sender = DigestSender()
    assert run_round(engine, clock, sender, 5) >= 5 and sender.most == 1


@dataclass
class HangingPhotoSender(RecordingSender):
    """Sends at once, except the chart to ``hang``: that send begins and never ends (a
    shutdown comes first). ``ready``: it began, and ``others`` charts were sent."""

    hang: int = 0
    others: int = 0
    begun: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_photo(self, chat_id: int, png: bytes, caption: str = "") -> SendReceipt:
        if chat_id == self.hang:
            self.begun = True
            self._check()
            await asyncio.Event().wait()
        receipt = await super().send_photo(chat_id, png, caption)
        self._check()
        return receipt

    def _check(self) -> None:
        if self.begun and len(self.photos) >= self.others:
            self.ready.set()


def test_a_shutdown_gives_back_the_digests_it_leased_and_did_not_finish(engine: Engine) -> None:
    """SIGTERM mid-round: the finished digest stays sent; the one whose chart was in
    flight goes back to the queue at once, its first part recorded, and the next start
    sends only what is left of it (the chart), without waiting out the 10-minute lease."""
    clock = FixedClock(NOW.replace(hour=7, minute=30))
    digest_round(engine, 2, clock)
    sender = HangingPhotoSender(hang=101, others=1)

    async def go() -> None:
        async with deps_for(engine, clock, sender, digest_chart="daily") as deps:
            task = asyncio.create_task(digest_tick(deps))
            await sender.ready.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(go())

    def states() -> dict[int, tuple[str, int, datetime | None]]:
        with transaction(engine) as session:
            rows = session.exec(select(Digest, Subscriber).join(Subscriber)).all()
            return {s.chat_id: (d.status, d.parts_sent, d.leased_until) for d, s in rows}

    after = states()
    assert after[101] == ("queued", 1, None)  # back at once, its message recorded
    # The finished one: closed as sent, or (the shutdown came between its last part and
    # its close) put back with every part recorded — either way nothing is sent again.
    assert after[100] in {("sent", 2, None), ("queued", 2, None)}
    again = RecordingSender()

    async def restart() -> None:
        async with deps_for(engine, clock, again, digest_chart="daily") as deps:
            await digest_tick(deps)

    asyncio.run(restart())
    assert again.sent == [] and [chat for chat, *_ in again.photos] == [101]
    assert {chat: state[0] for chat, state in states().items()} == {100: "sent", 101: "sent"}


@contextmanager
def rival_before_the_lease(engine: Engine, rival: Callable[[], object]) -> Iterator[None]:
    """Run ``rival`` — a second sender leasing — the moment the first is about to write
    its lease, after its SELECT: the interleaving two processes meet on SQLite, where that
    SELECT holds no lock (on PostgreSQL FOR UPDATE SKIP LOCKED keeps the rival off)."""
    fired: list[bool] = []

    def before(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and statement.lstrip().upper().startswith("UPDATE"):
            fired.append(True)
            if engine.dialect.name == "sqlite":
                rival()

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert fired


def test_two_senders_never_lease_one_alert(engine: Engine) -> None:
    """The lease is conditional: rows another sender leased between this one's SELECT
    and its UPDATE are not taken again (two senders on SQLite sent 200 duplicates to 300
    chats before)."""
    clock = FixedClock(NOW)
    for chat in range(3):
        reader = add_subscriber(engine, 300 + chat, clock)
        with transaction(engine) as session:
            row = items.add_item(
                session, None, "A", Item(f"r{chat}", f"Dépêche {chat}", None, "", NOW, "fr"), NOW
            )
            assert row.id and row.story_id
            deliveries.queue_alerts(
                session, row.story_id, [DeliveryIntent(reader, row.id, ())], NOW
            )
    rival: list[int] = []
    other = make_engine_like(engine)

    def lease_elsewhere() -> None:
        with transaction(other) as session:
            rival.extend(a.delivery_id for a in deliveries.lease_deliveries(session, NOW))

    with rival_before_the_lease(engine, lease_elsewhere), transaction(engine) as session:
        ours = [a.delivery_id for a in deliveries.lease_deliveries(session, NOW)]
    assert sorted(ours + rival) == sorted(set(ours + rival)) and len(ours + rival) == 3
    if engine.dialect.name == "sqlite":
        assert rival and not ours  # the rival won them all; none is leased twice
    with transaction(engine) as session:
        attempts = session.exec(select(Delivery.attempts)).all()
    assert attempts == [1, 1, 1]


def test_two_senders_never_lease_one_digest(engine: Engine) -> None:
    clock = FixedClock(NOW.replace(hour=7, minute=30))
    digest_round(engine, 3, clock)

    async def queue() -> None:
        async with deps_for(engine, clock, RecordingSender()) as deps:
            digest_job.queue_due_digests(deps)

    asyncio.run(queue())
    rival: list[int] = []
    other = make_engine_like(engine)
    lease = timedelta(minutes=10)

    def lease_elsewhere() -> None:
        with transaction(other) as session:
            rival.extend(
                d.digest_id for d in digests.lease_digests(session, clock.now(), lease=lease)
            )

    with rival_before_the_lease(engine, lease_elsewhere), transaction(engine) as session:
        ours = [d.digest_id for d in digests.lease_digests(session, clock.now(), lease=lease)]
    assert len(ours + rival) == len(set(ours + rival)) == 3
    with transaction(engine) as session:
        assert session.exec(select(Digest.attempts)).all() == [1, 1, 1]


def make_engine_like(engine: Engine) -> Engine:
    """A second process's engine on the same database."""
    from store.db import make_engine

    return make_engine(engine.url.render_as_string(hide_password=False))
