"""Several workers on one database share the polling (issue 14, point 4).

Feeds are claimed in batches of a worker's fetch concurrency, and the claim is a lease
kept in ``feeds.next_poll_at`` (``store.feeds.claim_due_feeds``): renewed while a poll
runs, given back when it stops. First the store's half on both databases, then pollers
with engines of their own, as two processes would have, polling one watch list at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bench import scale_bench
from bot.clock import FixedClock
from bot.ingest import pipeline
from bot.ingest.pipeline import POLL_LEASE, PollOutcome, poll, poll_iter, select_feeds
from store import feeds
from store.db import make_engine, transaction
from store.models import Delivery, Feed
from tests.support.builders import add_feed, add_subscriber, deps_for, seeded
from tests.support.feed_server import FeedServer

LEASE = timedelta(minutes=2)
WORKER_BATCH = 5  # MCWATCH_FETCH_CONCURRENCY of the real processes


def watch_list(engine: Engine, clock: FixedClock, count: int) -> list[int]:
    with transaction(engine) as session:
        return [
            feeds.add_feed(session, feeds.NewFeed(url=f"https://f{n}.example/rss"), clock.now()).id
            or 0
            for n in range(count)
        ]


def schedule(engine: Engine) -> dict[int, datetime | None]:
    with transaction(engine) as session:
        return {feed.id or 0: feed.next_poll_at for feed in feeds.list_feeds(session)}


# -- the store ------------------------------------------------------------------------


def test_a_claim_takes_at_most_its_limit_and_the_next_claim_the_next_feeds(
    engine: Engine,
) -> None:
    clock = FixedClock()
    ids = watch_list(engine, clock, 7)
    now = clock.now()
    with transaction(engine) as session:
        first = feeds.claim_due_feeds(session, now, lease=LEASE, limit=3)
    with transaction(engine) as session:
        second = feeds.claim_due_feeds(session, now, lease=LEASE, limit=3)
        third = feeds.claim_due_feeds(session, now, lease=LEASE, limit=3)
        fourth = feeds.claim_due_feeds(session, now, lease=LEASE, limit=3)
    assert [f.id for f in first] == ids[:3]
    assert [f.id for f in second] == ids[3:6]
    assert [f.id for f in third] == ids[6:]
    assert fourth == []
    assert set(schedule(engine).values()) == {now + LEASE}
    with transaction(engine) as session:  # the lease over, they are due again
        again = feeds.claim_due_feeds(session, now + LEASE, lease=LEASE, limit=10)
    assert [f.id for f in again] == ids


def test_a_claim_takes_healthy_feeds_before_failing_ones(engine: Engine) -> None:
    clock = FixedClock()
    ids = watch_list(engine, clock, 4)
    with transaction(engine) as session:
        feeds.record_fetch_failure(
            session, ids[0], now=clock.now(), error="boom", next_poll_at=clock.now()
        )
    with transaction(engine) as session:
        claimed = feeds.claim_due_feeds(session, clock.now(), lease=LEASE, limit=4)
    assert [f.id for f in claimed] == [*ids[1:], ids[0]]


def test_concurrent_claims_skip_the_rows_another_claim_holds(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: a second claim waits for the first to commit")
    clock = FixedClock()
    ids = watch_list(engine, clock, 6)
    with transaction(engine) as first:
        held = feeds.claim_due_feeds(first, clock.now(), lease=LEASE, limit=4)
        # Not committed yet: its rows are locked, and a second worker neither waits for
        # them nor takes them.
        with transaction(engine) as second:
            other = feeds.claim_due_feeds(second, clock.now(), lease=LEASE, limit=4)
    assert [f.id for f in held] == ids[:4]
    assert [f.id for f in other] == ids[4:]


def test_renewing_extends_only_the_claims_still_held_under_the_token(engine: Engine) -> None:
    clock = FixedClock()
    a, b, c = watch_list(engine, clock, 3)
    token = clock.now() + LEASE
    with transaction(engine) as session:
        feeds.claim_due_feeds(session, clock.now(), lease=LEASE, limit=3)
    polled_next = clock.now() + timedelta(minutes=15)
    with transaction(engine) as session:  # a was polled: its schedule is its result's
        feeds.record_fetch_success(
            session, a, now=clock.now(), next_poll_at=polled_next, etag=None, last_modified=None
        )
    later = clock.advance(minutes=3)  # the lease ran out: another poller took c
    with transaction(engine) as session:
        feeds.claim_due_feeds(session, later, lease=LEASE, feed_id=c)
    with transaction(engine) as session:
        renewed = feeds.renew_claims(session, [a, b, c], [token], later + LEASE)
    assert renewed == {b}
    assert schedule(engine) == {a: polled_next, b: later + LEASE, c: later + LEASE}


def test_releasing_makes_the_unpolled_feeds_due_at_once_and_leaves_the_polled_alone(
    engine: Engine,
) -> None:
    clock = FixedClock()
    a, b, c = watch_list(engine, clock, 3)
    with transaction(engine) as session:
        feeds.claim_due_feeds(session, clock.now(), lease=LEASE, limit=3)
        tokens = feeds.claim_tokens(session, [a, b, c])
    assert tokens == {clock.now() + LEASE}
    polled_next = clock.now() + timedelta(minutes=15)
    with transaction(engine) as session:
        feeds.record_fetch_success(
            session, a, now=clock.now(), next_poll_at=polled_next, etag=None, last_modified=None
        )
    stop = clock.advance(seconds=30)
    with transaction(engine) as session:
        assert feeds.release_claims(session, [a, b, c], tokens, stop) == 2
    assert schedule(engine) == {a: polled_next, b: stop, c: stop}
    with transaction(engine) as session:  # the next poller has them without waiting
        assert [f.id for f in feeds.claim_due_feeds(session, stop, lease=LEASE)] == [b, c]


# -- pollers --------------------------------------------------------------------------

STORY = """<item><guid>{feed}-{n}</guid><title>La Chine remet {figure} tonnes de riz au Mali
</title><link>https://news.example/{feed}/{n}</link>
<pubDate>Mon, 23 Feb 2026 07:{n:02d}:00 GMT</pubDate><description>L'ambassadeur de Chine a
remis le {day} {figure} tonnes de riz au ministre malien de l'Agriculture, à {place}, dans le
cadre de la coopération sino-malienne.</description></item>"""
OTHER = """<item><guid>{feed}-x</guid><title>Une machine à coudre primée à Ségou</title>
<pubDate>Mon, 23 Feb 2026 06:00:00 GMT</pubDate>
<description>Un artisan de Ségou remporte un prix.</description></item>"""
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août")
PLACES = ("Kayes", "Sikasso", "Mopti", "Gao", "Tombouctou", "Koulikoro", "Ségou", "Kidal")


def farm(server: FeedServer, count: int) -> list[str]:
    """``count`` feeds, each with one story of its own (figures differ: never one story)
    and an item about nothing; ETags, so that a second poll is 304s."""
    urls = []
    for number in range(count):
        story = STORY.format(
            feed=number,
            n=number % 60,
            figure=f"{1237 + 113 * number:,}".replace(",", " "),
            place=PLACES[number % 8],
            day=f"{1 + 3 * (number % 9)} {MONTHS[number // 9]}",
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {number}</title><language>fr</language>{story}"
            f"{OTHER.format(feed=number)}</channel></rss>"
        )
        server.serve(f"/f{number}.rss", body.encode(), etag=f'"v{number}"')
        urls.append(server.url(f"/f{number}.rss"))
    return urls


def polls_per_feed(server: FeedServer, count: int) -> Counter[str]:
    requests = Counter(request.path for request in server.requests)
    return Counter({f"/f{n}.rss": requests[f"/f{n}.rss"] for n in range(count)})


def alerts_per_story(engine: Engine) -> Counter[tuple[int, int]]:
    with transaction(engine) as session:
        rows = session.exec(select(Delivery.subscriber_id, Delivery.story_id)).all()
    return Counter((subscriber, story) for subscriber, story in rows)


async def two_workers(
    engines: tuple[Engine, Engine], clock: FixedClock, concurrency: int
) -> tuple[list[PollOutcome], list[PollOutcome]]:
    async with (
        deps_for(engines[0], clock, fetch_concurrency=concurrency, workers=0) as one,
        deps_for(engines[1], clock, fetch_concurrency=concurrency, workers=0) as other,
    ):
        first, second = await asyncio.gather(poll(one), poll(other))
    return first, second


FEEDS = 50
SUBSCRIBERS = (11, 12, 13)


def test_two_workers_poll_every_feed_once_a_cycle_and_queue_every_alert_once(
    engine: Engine, feed_server: FeedServer
) -> None:
    """Two pollers with an engine each (separate connections, as two `mcwatch run`
    have), batches of 5: each feed is polled by one of them, once per cycle; both take
    a share; each subscriber gets each story once."""
    clock = FixedClock()
    seeded(engine, clock)
    subscribers = [add_subscriber(engine, chat, clock) for chat in SUBSCRIBERS]
    for url in farm(feed_server, FEEDS):
        add_feed(engine, url, clock)
    second_engine = make_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        first, second = asyncio.run(two_workers((engine, second_engine), clock, 5))
        assert polls_per_feed(feed_server, FEEDS) == Counter(
            {f"/f{n}.rss": 1 for n in range(FEEDS)}
        )
        ids_first = {o.feed_id for o in first}
        ids_second = {o.feed_id for o in second}
        assert not ids_first & ids_second and len(ids_first | ids_second) == FEEDS
        assert ids_first and ids_second, "one worker took every feed"
        assert {o.status for o in first + second} == {"ok"}
        alerts = alerts_per_story(engine)
        assert len(alerts) == FEEDS * len(subscribers)
        assert set(alerts.values()) == {1}
        assert {subscriber for subscriber, _ in alerts} == set(subscribers)

        clock.advance(hours=6)  # the next cycle: every feed due again, each answers 304
        again_first, again_second = asyncio.run(two_workers((engine, second_engine), clock, 5))
        assert polls_per_feed(feed_server, FEEDS) == Counter(
            {f"/f{n}.rss": 2 for n in range(FEEDS)}
        )
        assert {o.status for o in again_first + again_second} == {"not-modified"}
        assert len(again_first) + len(again_second) == FEEDS
        assert alerts_per_story(engine) == alerts
    finally:
        second_engine.dispose()


def test_a_poll_claims_a_batch_at_a_time(engine: Engine, feed_server: FeedServer) -> None:
    """The first claim is one batch (the fetch concurrency), not every due feed: the
    feeds beyond it stay due, for any worker, until this one has slots free."""
    clock = FixedClock()
    seeded(engine, clock)
    for url in farm(feed_server, 12):
        add_feed(engine, url, clock)
    seen_due: list[int] = []

    async def go() -> list[PollOutcome]:
        async with deps_for(engine, clock, fetch_concurrency=4, workers=0) as deps:
            outcomes = []
            claims = pipeline.Claims(deps, asyncio.Lock())
            first = await claims.claim(4)
            async for outcome in pipeline._poll_claimed(
                deps, claims, first, sleep=asyncio.sleep, batch=4
            ):
                if not seen_due:
                    with transaction(engine) as session:
                        seen_due.append(due_count(session, clock))
                outcomes.append(outcome)
            return outcomes

    outcomes = asyncio.run(go())
    assert len(outcomes) == 12 and len({o.feed_id for o in outcomes}) == 12
    assert seen_due == [8]  # when the first feed was done, 8 were still anyone's


def due_count(session: Session, clock: FixedClock) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Feed).where(col(Feed.next_poll_at) <= clock.now())
        ).one()
    )


class Ticks:
    """The renewals' sleep, driven by the test: each call waits for ``tick()``."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.go = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        assert seconds == POLL_LEASE.total_seconds() / pipeline.RENEWALS_PER_LEASE
        self.waiting.set()
        await self.go.wait()
        self.go.clear()

    async def tick(self) -> None:
        """Let the renewal run once; returns when it is asleep again."""
        await self.waiting.wait()
        self.waiting.clear()
        self.go.set()
        await self.waiting.wait()


def test_a_poll_renews_its_claims_while_it_runs_and_releases_them_when_cancelled(
    engine: Engine, feed_server: FeedServer
) -> None:
    """A feed that takes longer than the lease stays claimed (no other worker polls it
    meanwhile); cancelled (SIGTERM), the poll gives back what it had not polled."""
    clock = FixedClock()
    seeded(engine, clock)
    ids = [add_feed(engine, url, clock) for url in farm(feed_server, 3)]
    # A slow outlet: it answers after the test is over (the poll is cancelled first).
    feed_server.serve("/f1.rss", b"", delay=60.0)

    async def go() -> None:
        ticks = Ticks()
        async with deps_for(engine, clock, workers=0) as deps:
            outcomes: list[PollOutcome] = []
            others_done = asyncio.Event()

            async def consume() -> None:
                async for outcome in poll_iter(deps, select_feeds(deps), sleep=ticks.sleep):
                    outcomes.append(outcome)
                    if len(outcomes) == 2:
                        others_done.set()

            task = asyncio.ensure_future(consume())
            await others_done.wait()
            assert {o.feed_id for o in outcomes} == {ids[0], ids[2]}
            polled = schedule(engine)
            renewed_at = clock.advance(seconds=POLL_LEASE.total_seconds() - 1)
            await ticks.tick()  # the lease nearly over: renewed, a lease ahead
            held = schedule(engine)
            assert held == {**polled, ids[1]: renewed_at + POLL_LEASE}
            with transaction(engine) as session:  # nobody else may take it meanwhile
                soon = clock.now() + timedelta(seconds=2)
                assert feeds.claim_due_feeds(session, soon, lease=LEASE) == []
            stop = clock.advance(seconds=5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert schedule(engine) == {**polled, ids[1]: stop}  # due at once

    asyncio.run(go())


def test_the_cli_poll_keeps_the_claims_select_feeds_took(
    engine: Engine, feed_server: FeedServer
) -> None:
    """`mcwatch poll` claims everything due at once, then polls it: ``poll_iter`` adopts
    those claims (their tokens read back) and gives back what it did not poll."""
    clock = FixedClock()
    seeded(engine, clock)
    ids = [add_feed(engine, url, clock) for url in farm(feed_server, 3)]

    async def go() -> None:
        async with deps_for(engine, clock, workers=0) as deps:
            due = select_feeds(deps)
            assert [f.id for f in due] == ids
            stream = poll_iter(deps, due)
            first = await anext(stream)
            await stream.aclose()  # stopped after one feed (Ctrl-C)
            after = schedule(engine)
            polled_next = after[first.feed_id]
            assert polled_next is not None and polled_next > clock.now() + POLL_LEASE
            # The others were polled meanwhile, or given back: none waits for the lease.
            assert clock.now() + POLL_LEASE not in after.values()

    asyncio.run(go())


@pytest.mark.slow
def test_two_mcwatch_run_share_the_feeds_and_telegram_answers_once(
    database_url: str, tmp_path: Path
) -> None:
    """`bench/scale_bench.py` small: two real `mcwatch run` processes on one database,
    50 feeds, the Bot API stand-in, commands pushed while they poll. Slow (~20 s a
    database): two processes' start-up, a poll and the alerts paced as Telegram wants
    (1 a second per chat). The farm answers once both workers hold a batch, so the
    split never depends on which one imported faster."""
    report = scale_bench.run_fleet(
        database_url,
        workers=2,
        feeds_count=50,
        items=10,
        stories=5,
        chats=4,
        commands=10,
        timeout=120,
        work=tmp_path,
        hold=2 * WORKER_BATCH,
        extra_env={"MCWATCH_FETCH_CONCURRENCY": str(WORKER_BATCH)},
    )
    logs = "\n".join(log.read_text()[-2000:] for log in tmp_path.glob("worker*.log"))
    assert not report.timed_out and report.exit_codes == [0, 0], logs
    assert report.tracebacks == 0, logs
    assert report.polls_per_feed == Counter({1: 50})  # every feed, once this cycle
    assert sum(report.per_worker) == 50 and min(report.per_worker) >= WORKER_BATCH
    assert report.alerts_per_story == Counter({1: 4 * 5})  # each story once to each chat
    assert report.unsent == 0
    assert report.replies_per_command == Counter({1: 10})  # one Telegram reader
    assert report.too_many_requests == 0  # one Telegram budget
