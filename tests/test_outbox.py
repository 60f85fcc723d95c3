"""The outbox over a real database, with a recording sender (our own seam)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.deliver.outbox import DeliverReport, deliver_pending
from bot.errors import MessageRejected, RecipientBlocked, RetryLater
from bot.types import DeliveryIntent, Item, Match, SendReceipt
from store import deliveries, feeds, items, stories, subscribers, topics
from store.db import transaction
from store.feeds import NewFeed
from tests.support.builders import RecordingSender, add_subscriber, deps_for

NOW = datetime(2026, 2, 23, 12, 0, tzinfo=UTC)  # 12:00 in Bamako (UTC+0)


def queue_story(
    engine: Engine,
    subscriber_id: int,
    n: int = 1,
    *,
    source: str = "A",
    story_id: int | None = None,
) -> tuple[int, int]:
    """One matched item queued for one subscriber; returns (item id, story id)."""
    with transaction(engine) as session:
        if topics.find_topic(session, "security") is None:
            topics.upsert_topic(session, "security", name="Sécurité", query="securite")
        feed = feeds.find_feed_by_url(session, f"https://{source}.example/rss")
        if feed is None:
            feed = feeds.add_feed(session, NewFeed(url=f"https://{source}.example/rss"), NOW)
        assert feed.id is not None
        item = Item(
            identity=f"guid:{source}{n}",
            title=f"Sécurité à Bamako {n}",
            link=f"https://{source}.example/{n}",
            summary="Pékin et Bamako.",
            published=NOW,
            language="fr",
        )
        row = items.add_item(session, feed.id, source, item, NOW, story_id=story_id)
        assert row.id and row.story_id
        items.record_matches(
            session, row.id, [Match("security", ("securite",))], topics.topic_ids_by_slug(session)
        )
        deliveries.queue_alerts(
            session, row.story_id, [DeliveryIntent(subscriber_id, row.id, ("security",))], NOW
        )
        return row.id, row.story_id


def deliver(engine: Engine, clock: FixedClock, sender: Any) -> DeliverReport:
    async def go() -> DeliverReport:
        async with deps_for(engine, clock, sender) as deps:
            return await deliver_pending(deps)

    return asyncio.run(go())


def statuses(engine: Engine) -> dict[str, int]:
    with transaction(engine) as session:
        return deliveries.count_by_status(session)


def test_sent_once_and_marked(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    queue_story(engine, sub)
    sender = RecordingSender()
    assert deliver(engine, clock, sender).sent == 1
    assert deliver(engine, clock, sender).sent == 0
    assert len(sender.sent) == 1 and statuses(engine) == {"sent": 1}


def test_quiet_hours_hold_until_they_end(engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 2, 23, 23, 0, tzinfo=UTC))
    sub = add_subscriber(engine, 10, clock)
    with transaction(engine) as session:
        subscribers.update_subscriber(session, 10, quiet_start="22:00", quiet_end="07:00")
    queue_story(engine, sub)
    sender = RecordingSender()
    assert deliver(engine, clock, sender).held == 1
    assert sender.sent == [] and statuses(engine) == {"queued": 1}
    clock.current = datetime(2026, 2, 24, 6, 59, tzinfo=UTC)
    assert deliver(engine, clock, sender).sent == 0  # not due before 07:00
    clock.current = datetime(2026, 2, 24, 7, 0, tzinfo=UTC)
    assert deliver(engine, clock, sender).sent == 1


def test_paused_is_held_not_lost(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    queue_story(engine, sub)
    with transaction(engine) as session:
        subscribers.update_subscriber(session, 10, paused=True)
    sender = RecordingSender()
    assert deliver(engine, clock, sender).sent == 0
    with transaction(engine) as session:
        subscribers.update_subscriber(session, 10, paused=False)
    assert deliver(engine, clock, sender).sent == 1


def test_a_long_retry_after_goes_back_to_the_queue(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    queue_story(engine, sub)
    sender = RecordingSender(fail={10: RetryLater("Too Many Requests: retry after 60", 60)})
    assert deliver(engine, clock, sender).retried == 1
    assert statuses(engine) == {"queued": 1}
    sender.fail.clear()
    clock.advance(seconds=59)
    assert deliver(engine, clock, sender).sent == 0
    clock.advance(seconds=1)
    assert deliver(engine, clock, sender).sent == 1


def test_server_errors_back_off_and_grow(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    queue_story(engine, sub)
    sender = RecordingSender(fail={10: RetryLater("Bad Gateway", 5, backoff=True)})
    deliver(engine, clock, sender)
    clock.advance(seconds=5)
    deliver(engine, clock, sender)  # second failure: 10 s
    clock.advance(seconds=9)
    assert deliver(engine, clock, sender).retried == 0  # not yet due
    clock.advance(seconds=1)
    assert deliver(engine, clock, sender).retried == 1


def test_a_blocked_user_gets_one_try_then_nothing(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    for n in (1, 2, 3):
        queue_story(engine, sub, n)
    sender = RecordingSender(fail={10: RecipientBlocked("Forbidden: bot was blocked by the user")})
    report = deliver(engine, clock, sender)
    assert report.blocked == 1 and report.sent == 0
    with transaction(engine) as session:
        assert subscribers.get_subscriber(session, 10).active is False
    assert statuses(engine) == {"failed": 3}
    assert deliver(engine, clock, sender).blocked == 0


class RejectsHtml(RecordingSender):
    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt:
        if html_mode:
            raise MessageRejected("Bad Request: can't parse entities")
        return await super().send(chat_id, text, html_mode=html_mode)


class RejectsAll(RecordingSender):
    async def send(
        self, chat_id: int, text: str, *, html_mode: bool = True, reply_markup: Any = None
    ) -> SendReceipt:
        raise MessageRejected("Bad Request: message is too long")


def test_rejected_html_is_retried_once_as_plain_text(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    queue_story(engine, sub)
    sender = RejectsHtml()
    assert deliver(engine, clock, sender).sent == 1
    assert "<b>" not in sender.sent[0][1]


def test_rejected_twice_is_failed_with_its_reason_never_retried(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    queue_story(engine, sub)
    assert deliver(engine, clock, RejectsAll()).failed == 1
    clock.advance(hours=1)
    assert deliver(engine, clock, RejectsAll()).failed == 0
    assert statuses(engine) == {"failed": 1}


def test_a_later_source_edits_the_sent_alert(engine: Engine) -> None:
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    _, story = queue_story(engine, sub, source="Studio Tamani")
    sender = RecordingSender()
    deliver(engine, clock, sender)
    queue_story(engine, sub, 2, source="Maliweb", story_id=story)  # same story, no new alert
    with transaction(engine) as session:
        assert stories.flag_edits(session, story) == 1
    report = deliver(engine, clock, sender)
    assert report.sent == 0 and report.edited == 1
    [(chat, message_id, text)] = sender.edits
    assert chat == 10 and message_id == 1
    assert "Maliweb" in text and "Aussi rapporté par" in text
    assert len(sender.sent) == 1


def test_crash_before_mark_sent_resends_after_the_lease(engine: Engine) -> None:
    """The documented ambiguous case: leased, sent, then the process died."""
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    queue_story(engine, sub)
    with transaction(engine) as session:
        [alert] = deliveries.lease_deliveries(session, clock.now())
    sender = RecordingSender()
    assert deliver(engine, clock, sender).sent == 0  # leased by the "dead" process
    clock.advance(seconds=121)
    assert deliver(engine, clock, sender).sent == 1
    assert alert.delivery_id == 1


def test_time_zone_aware_quiet_hours_use_subscriber_zone(engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 2, 23, 21, 30, tzinfo=UTC))  # 22:30 in Paris
    sub = add_subscriber(engine, 10, clock)
    with transaction(engine) as session:
        subscribers.update_subscriber(
            session, 10, quiet_start="22:00", quiet_end="07:00", timezone="Europe/Paris"
        )
    queue_story(engine, sub)
    assert deliver(engine, clock, RecordingSender()).held == 1
    clock.advance(hours=8, minutes=30)  # 07:00 Paris
    assert deliver(engine, clock, RecordingSender()).sent == 1


def test_a_live_sender_keeps_its_lease_when_a_batch_outlasts_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch can take longer than one lease (a group gets 20 a minute): the sender
    renews it, so a second sender does not take the alerts and send them again."""
    monkeypatch.setattr("bot.deliver.outbox.RENEWALS_PER_LEASE", 20)  # every 50 ms of a 1 s lease
    clock = FixedClock(NOW)
    sub = add_subscriber(engine, 10, clock)
    for n in (1, 2):
        queue_story(engine, sub, n)
    taken_by_another: list[int] = []

    class SlowSender(RecordingSender):
        async def send(self, chat_id: int, text: str, **kwargs: Any) -> SendReceipt:
            if not self.sent:
                clock.advance(seconds=10)  # ten leases later, by the product's clock
                await asyncio.sleep(0.2)  # real time for the renewal to run (4 periods)
                with transaction(engine) as session:
                    leased = deliveries.lease_deliveries(session, clock.now())
                taken_by_another.extend(alert.delivery_id for alert in leased)
            return await super().send(chat_id, text, **kwargs)

    sender = SlowSender()

    async def go() -> DeliverReport:
        async with deps_for(engine, clock, sender, delivery_lease=1) as deps:
            return await deliver_pending(deps)

    assert asyncio.run(go()).sent == 2
    assert taken_by_another == []
    assert len(sender.sent) == 2 and statuses(engine) == {"sent": 2}
