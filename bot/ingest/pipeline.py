"""The poll pipeline: the only place the stages run in sequence.

For each due feed:
1. fetch      ``bot.ingest.fetch.fetch_feed``         conditional GET, bounded; failure = data
2. parse      ``bot.ingest.parse.parse_feed``         bytes → entries, off the event loop
3. normalise  ``bot.ingest.normalize.normalize_entry`` plain text, identity, date, language
4. match      ``Matcher.match``                 every topic in one pass
5. story      ``bot.ingest.dedupe.choose_story``       the same event is one story
6. store      ``store.items``                   new items only, by identity
7. plan       ``bot.deliver.plan.plan_alerts``        who gets what
8. queue      ``store.deliveries.queue_alerts`` written before anything is sent
Steps 5–8 and the feed's health are one database transaction per feed; feeds that
answered 304 are written together (``store_unchanged``). ``poll_iter`` yields one
``PollOutcome`` per feed as it finishes, so the CLI can draw progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections import defaultdict
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlmodel import Session

from bot.deliver.plan import plan_alerts
from bot.deps import Deps
from bot.ingest import dedupe
from bot.ingest.fetch import fetch_feed
from bot.ingest.prepare import Prepared, prepare, prepare_in_worker, start_worker
from bot.ingest.schedule import base_interval, next_poll_at
from bot.ingest.stored_rules import (
    entity_names,
    stored_lexicon_text,
    stored_matcher,
    stored_rules,
    watch_matcher,
)
from bot.logs import context
from bot.match import Matcher
from bot.mentions import Named, entity_index, first_mentions
from bot.text import DEFAULT, describe, failure
from bot.types import DeliveryIntent, FeedRef, FetchResult, Item, Match, MatchInput
from bot.watches import distinct_queries, plan_watch_alerts, watchers
from store import deliveries, feeds, items, mentions, stories, subscribers, topics, watches
from store.db import database_failure, is_outage, transaction

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

PER_HOST = 2  # requests at a time to one host: a small outlet's server is not a CDN
# A claimed feed is no other poller's until then; renewed RENEWALS_PER_LEASE times per
# lease while it is polled, so it only bounds how long a killed worker's feeds wait.
POLL_LEASE = timedelta(minutes=2)
RENEWALS_PER_LEASE = 3
UNCHANGED_BATCH = 200  # 304s written together (a few ms each, alone)
POOL_MIN_FEEDS = 8  # fewer feeds due: parse and match in a thread, no worker processes


@dataclass(frozen=True, slots=True)
class PollOutcome:
    feed_id: int
    url: str
    status: str  # "ok" | "not-modified" | "error"
    entries: int = 0
    new_items: int = 0
    matched: int = 0
    queued: int = 0
    error: str | None = None  # why it failed, in English (feeds.last_error has the key)
    name: str = ""  # the feed's name: outcomes name feeds, not numbers


def load_matcher(deps: Deps) -> Matcher:
    """Compile the enabled topics with the stored lexicon (cheap: milliseconds)."""
    return stored_matcher(deps.engine)


def select_feeds(
    deps: Deps,
    *,
    include_not_due: bool = False,
    feed_id: int | None = None,
    limit: int | None = None,
) -> list[FeedRef]:
    """Claim the feeds to poll now (see ``store.feeds.claim_due_feeds``); ``poll_iter``
    keeps them claimed while it polls them."""
    with transaction(deps.engine) as session:
        return feeds.claim_due_feeds(
            session,
            deps.clock.now(),
            lease=POLL_LEASE,
            include_not_due=include_not_due,
            feed_id=feed_id,
            limit=limit,
        )


class Claims:
    """The feeds one poll holds and the lease tokens it holds them under
    (``store.feeds.claim_due_feeds``): claimed in batches, renewed while the poll runs,
    given back when it stops before polling them.

    Every database call here takes ``store_lock`` (on SQLite a write beside the poll's
    own store transaction would make that one fail with SQLITE_BUSY) and runs off the
    event loop; the one running is kept in ``busy``, so that a poll being cancelled can
    let it finish before it releases what it holds.
    """

    def __init__(self, deps: Deps, store_lock: asyncio.Lock, lease: timedelta = POLL_LEASE):
        self.deps, self.store_lock, self.lease = deps, store_lock, lease
        self.held: set[int] = set()  # claimed, not yet stored
        # A token is added before its statement runs: a release that comes while it
        # runs (a shutdown) still recognises the rows it wrote.
        self.tokens: set[datetime] = set()
        self.busy: asyncio.Future[Any] | None = None

    async def claim(self, limit: int) -> list[FeedRef]:
        """Up to ``limit`` due feeds, now held by this poll."""
        return await self._run(self._claim, limit)

    async def adopt(self, due: Sequence[FeedRef]) -> None:
        """Hold feeds claimed elsewhere (``select_feeds``, the CLI): their tokens are
        read back from the store."""
        await self._run(self._adopt, [feed.id for feed in due])

    async def renew(self) -> None:
        await self._run(self._renew, list(self.held))

    def done(self, feed_id: int) -> None:
        """Stored: the poll's result is the feed's schedule now, not the claim."""
        self.held.discard(feed_id)

    async def release(self) -> int:
        """Give back what is held and not stored: due at once for the next poller.
        Waits for the call in progress (a claim's rows are held once it returns)."""
        if self.busy is not None:
            await asyncio.wait([self.busy])
        return await asyncio.to_thread(self._release, list(self.held))

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        async with self.store_lock:
            running = asyncio.ensure_future(asyncio.to_thread(call, *args))
            self.busy = running
            # Shielded: a cancelled poll stops waiting, the statement still completes
            # and its outcome is recorded (``release`` waits for it).
            return await asyncio.shield(running)

    def _claim(self, limit: int) -> list[FeedRef]:
        now = self.deps.clock.now()
        self.tokens.add(now + self.lease)
        with transaction(self.deps.engine) as session:
            claimed = feeds.claim_due_feeds(session, now, lease=self.lease, limit=limit)
        self.held.update(feed.id for feed in claimed)
        return claimed

    def _adopt(self, feed_ids: list[int]) -> None:
        with transaction(self.deps.engine) as session:
            self.tokens |= feeds.claim_tokens(session, feed_ids)
        self.held.update(feed_ids)

    def _renew(self, feed_ids: list[int]) -> None:
        if not feed_ids:
            return
        until = self.deps.clock.now() + self.lease
        self.tokens.add(until)
        with transaction(self.deps.engine) as session:
            feeds.renew_claims(session, feed_ids, list(self.tokens), until)
        # Whatever this poll still holds is held under ``until`` now; the rows the older
        # tokens named are stored, removed or someone else's.
        self.tokens = {until}

    def _release(self, feed_ids: list[int]) -> int:
        with transaction(self.deps.engine) as session:
            released = feeds.release_claims(
                session, feed_ids, list(self.tokens), self.deps.clock.now()
            )
        self.held.difference_update(feed_ids)
        return released


async def keep_claimed(claims: Claims, sleep: Sleep) -> None:
    """Renew the claims of a running poll every ``lease / RENEWALS_PER_LEASE``: a poll
    may outlast one lease (slow feeds, a big first poll), and a live poller must never
    see its feeds polled again by another. Runs until cancelled."""
    every = claims.lease.total_seconds() / RENEWALS_PER_LEASE
    while True:
        await sleep(every)
        try:
            await claims.renew()
        except Exception as exc:
            reason = database_failure(exc, claims.deps.engine.url)
            if reason is None:  # a bug: said with its traceback, not retried unseen
                log.exception("poll: renewing the claims failed")
                raise
            log.warning("poll: the claims could not be renewed (%s); retrying", reason)


async def poll_iter(
    deps: Deps, due: Sequence[FeedRef], *, sleep: Sleep = asyncio.sleep
) -> AsyncGenerator[PollOutcome, None]:
    """Poll ``due`` feeds (claimed by ``select_feeds``) concurrently — at most
    ``fetch_concurrency`` overall and ``PER_HOST`` per host — and yield each feed's
    outcome as it completes (the 304s of a big poll by batches of ``UNCHANGED_BATCH``,
    written together). Their claims are renewed while it runs and given back if it is
    cancelled; ``sleep`` paces the renewals (tests drive it)."""
    if not due:
        return
    store_lock = asyncio.Lock()
    claims = Claims(deps, store_lock)
    await claims.adopt(due)
    # Closed here, not when collected: a caller that stops early (Ctrl-C) gets the
    # claims of what it did not poll given back at once.
    polled = _poll_claimed(deps, claims, due, sleep=sleep, batch=None)
    async with contextlib.aclosing(polled) as run:
        async for outcome in run:
            yield outcome


async def _poll_claimed(
    deps: Deps,
    claims: Claims,
    first: Sequence[FeedRef],
    *,
    sleep: Sleep,
    batch: int | None,
) -> AsyncGenerator[PollOutcome, None]:
    """Poll ``first``, then, with a ``batch`` size, claim more as slots free up (half a
    batch at a time at least, so that claims are few) until none is due."""
    # Compiled at the first feed that changed: a poll of unchanged feeds (all 304, the
    # usual tick) compiles nothing (a tenth of such a poll of 500 feeds, issue 11).
    matcher = cache(partial(load_matcher, deps))

    # A full first batch means more are due: a poll big enough for the worker pool.
    feeds_due = len(first) if batch is None or len(first) < batch else max(batch, POOL_MIN_FEEDS)
    pool = _worker_pool(deps, feeds_due)
    overall = asyncio.Semaphore(deps.settings.fetch_concurrency)
    store_lock = claims.store_lock
    hosts: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_HOST))
    unchanged: list[tuple[FeedRef, FetchResult]] = []

    async def one(feed: FeedRef) -> PollOutcome | tuple[FeedRef, FetchResult]:
        host = (urlsplit(feed.url).hostname or "").lower()
        # A slot is held until the feed is stored, not only fetched: bodies waiting for
        # the writer are bounded, and with one slot feeds are stored in the order due.
        async with overall:
            async with hosts[host]:
                result = await fetch_feed(
                    deps.http, feed, now=deps.clock.now(), limits=deps.fetch_limits
                )
            if result.not_modified and result.error is None and not result.permanent_url:
                return feed, result
            return await ingest(deps, feed, result, matcher(), store_lock, pool)

    async def flush() -> list[PollOutcome]:
        batch = unchanged[:]
        unchanged.clear()
        try:
            async with store_lock:
                outcomes = await asyncio.to_thread(store_unchanged, deps, batch, deps.clock.now())
        except Exception as exc:
            if is_outage(exc):
                raise  # the database's trouble, not these feeds': said once by the caller
            # One feed's bad row must not cost the others their health record: each is
            # stored on its own, as any other outcome.
            log.exception("poll %s", context(status="internal-error", batch=len(batch)))
            return [
                await ingest(deps, feed, result, matcher(), store_lock) for feed, result in batch
            ]
        for outcome in outcomes:
            log.info(
                "poll %s",
                context(
                    feed=outcome.name or outcome.url, id=outcome.feed_id, status=outcome.status
                ),
            )
        return outcomes

    def counted(outcome: PollOutcome) -> PollOutcome:
        claims.done(outcome.feed_id)
        deps.metrics.polled(outcome.status, outcome.new_items, outcome.matched, outcome.queued)
        return outcome

    # Tasks by the order they were claimed in (the order due): with one slot, feeds
    # are stored in that order.
    order: dict[asyncio.Future[PollOutcome | tuple[FeedRef, FetchResult]], int] = {}
    running: set[asyncio.Future[PollOutcome | tuple[FeedRef, FetchResult]]] = set()

    def start(feeds_claimed: Sequence[FeedRef]) -> None:
        for feed in feeds_claimed:
            task = asyncio.ensure_future(one(feed))
            order[task] = len(order)
            running.add(task)

    renewing = asyncio.ensure_future(keep_claimed(claims, sleep))
    exhausted = batch is None
    try:
        start(first)
        if batch is not None and len(first) < batch:
            exhausted = True
        while running:
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            running.difference_update(finished)
            for task in sorted(finished, key=order.__getitem__):
                done = task.result()
                if isinstance(done, PollOutcome):
                    yield counted(done)
                    continue
                unchanged.append(done)
                if len(unchanged) >= UNCHANGED_BATCH:
                    for outcome in await flush():
                        yield counted(outcome)
            if not exhausted and batch is not None and len(running) <= batch // 2:
                wanted = batch - len(running)
                more = await claims.claim(wanted)
                exhausted = len(more) < wanted
                start(more)
        if unchanged:
            for outcome in await flush():
                yield counted(outcome)
    finally:
        renewing.cancel()
        for task in running:
            task.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if claims.held:  # stopped (a shutdown, Ctrl-C) before polling them all
            # Shielded: a second cancellation (the loop closing) does not stop the
            # statement, which asyncio.run's executor shutdown then waits for.
            released = await asyncio.shield(claims.release())
            log.info("poll stopped: %d claimed feed(s) given back, due now", released)


def _worker_pool(deps: Deps, feeds_due: int) -> ProcessPoolExecutor | None:
    """Worker processes for the CPU stages of a big poll (None: run them in a thread).

    Sized to the machine unless ``MCWATCH_WORKERS`` says otherwise; not worth starting
    for a few feeds (a worker imports the parser and compiles the rules once, ~0.3 s).
    Workers are spawned, never forked: the main process has an event loop, an HTTP
    client and a database pool that a fork would copy mid-use."""
    workers = deps.settings.workers
    if workers is None:
        workers = os.cpu_count() or 1
        workers = workers if workers > 1 else 0
    if workers == 0 or feeds_due < POOL_MIN_FEEDS:
        return None
    rules, lexicon = stored_rules(deps.engine)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_worker,
        initargs=(rules, lexicon),
    )


async def poll(
    deps: Deps,
    *,
    include_not_due: bool = False,
    feed_id: int | None = None,
    sleep: Sleep = asyncio.sleep,
) -> list[PollOutcome]:
    """Poll what is due (the daemon's tick, ``run --once``): feeds claimed a batch at a
    time, ``fetch_concurrency`` feeds, more as slots free up, so that workers sharing
    one database share the work instead of the first taking every due feed. With
    ``include_not_due`` or ``feed_id``, everything asked for is claimed at once."""
    if include_not_due or feed_id is not None:
        due = select_feeds(deps, include_not_due=include_not_due, feed_id=feed_id)
        return [outcome async for outcome in poll_iter(deps, due, sleep=sleep)]
    claims = Claims(deps, asyncio.Lock())
    batch = deps.settings.fetch_concurrency
    first = await claims.claim(batch)
    if not first:
        return []
    async with contextlib.aclosing(
        _poll_claimed(deps, claims, first, sleep=sleep, batch=batch)
    ) as run:
        return [outcome async for outcome in run]


async def ingest(
    deps: Deps,
    feed: FeedRef,
    result: FetchResult,
    matcher: Matcher,
    store_lock: asyncio.Lock | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> PollOutcome:
    """Everything after the fetch, for one feed: parse, normalise, match, store, queue.

    Both halves run off the event loop, so the bot keeps answering during a big poll.
    Feeds parse in parallel, but store one at a time (``store_lock``): SQLite has one
    writer, and a read transaction upgraded to a write while another writer commits
    fails at once with SQLITE_BUSY, which no busy timeout waits out.
    """
    now = deps.clock.now()
    prepared: Prepared | None = None
    error = result.error
    if error is None and not result.not_modified:
        # Parsing and matching are pure Python and slow on big feeds: off the event loop,
        # in a worker process when the poll has a pool (see bot/ingest/prepare.py).
        if pool is not None:
            prepared = await asyncio.get_running_loop().run_in_executor(
                pool,
                prepare_in_worker,
                result.body,
                result.url,
                feed.language,
                now,
                result.content_type,
            )
        else:
            prepared = await asyncio.to_thread(
                prepare, result.body, result.url, feed.language, now, matcher, result.content_type
            )
        if prepared.error is not None:
            error = prepared.error  # a failure's key and arguments (bot.errors.ParseError)
    async with store_lock or asyncio.Lock():
        try:
            outcome = await asyncio.to_thread(
                store_outcome, deps, feed, result, prepared, error, now
            )
        except Exception as exc:
            if is_outage(exc):
                # A full disk or a database gone is not this feed's failure: the poll
                # stops, its caller says why in one line, the next tick tries again.
                raise
            # A bug met by one feed (its transaction rolled back) must not end the poll of
            # every other feed, nor fail again unseen at every tick: it is logged with its
            # traceback and becomes this feed's health record, backing off like any error.
            log.exception(
                "poll %s", context(feed=feed.name or feed.url, id=feed.id, status="internal-error")
            )
            reason = failure("poll_internal_error", kind=type(exc).__name__)
            outcome = await asyncio.to_thread(store_outcome, deps, feed, result, None, reason, now)
    log.info(
        "poll %s",
        context(
            feed=feed.name or feed.url,
            id=feed.id,
            status=outcome.status,
            new=outcome.new_items,
            matched=outcome.matched,
            queued=outcome.queued,
            error=outcome.error,
        ),
    )
    return outcome


def store_unchanged(
    deps: Deps, batch: Sequence[tuple[FeedRef, FetchResult]], now: datetime
) -> list[PollOutcome]:
    """The feeds that answered 304, in one transaction: read in one statement, their
    publishing rates in another, their health written in one bulk update (a 304 cost a
    transaction of three round trips each, most of a quiet poll of 500 feeds)."""
    with transaction(deps.engine) as session:
        ids = [feed.id for feed, _ in batch]
        rows = feeds.get_feeds(session, ids)
        recent = items.recent_published_by_feed(session, ids)
        default = timedelta(seconds=deps.settings.poll_interval)
        records: list[feeds.Unchanged] = []
        for feed, result in batch:
            row = rows.get(feed.id)
            if row is None:
                continue  # removed while it was fetched
            explicit = timedelta(seconds=row.interval) if row.interval else None
            # The publishing rate is read from what the store holds, so a 304 (no
            # entries in hand) schedules exactly like a 200.
            interval = base_interval(explicit, default, recent[feed.id])
            records.append(
                feeds.Unchanged(
                    feed.id,
                    next_poll_at(now, interval, result, parsed=None, jitter=deps.jitter()),
                    result.etag,
                    result.last_modified,
                )
            )
        feeds.record_unchanged(session, records, now=now)
    return [PollOutcome(feed.id, feed.url, "not-modified", name=feed.name) for feed, _ in batch]


def store_items(
    session: Session,
    deps: Deps,
    feed_id: int,
    source: str,
    fresh: Sequence[Item],
    matches: Sequence[tuple[Match, ...]],
    now: datetime,
    probes: Sequence[dedupe.Fingerprint | None] = (),
    remember: list[dedupe.Fingerprint] | None = None,
) -> tuple[int, int, int]:
    """Group into stories, store and queue the new items of one feed (``matches``: each
    item's, as ``prepare`` found them).

    Returns (new, matched, queued). A matched item that reports a known story joins it:
    subscribers who already had that story get their alert edited ("also reported by"),
    the others get the story once. Stories are decided before anything is written, so
    the writes are a handful of bulk statements whatever the feed's size. An unmatched
    item is in no story: only matched items are candidates to join (``stories.
    candidates``), so its story could never have been joined nor alerted.
    """
    stories_of: list[int | None] = [items.NO_STORY] * len(fresh)
    probes_used: list[dedupe.Fingerprint | None] = [None] * len(fresh)
    joined: set[int] = set()
    lexicon_text = ""
    if any(matches):
        stories.lock_story_decisions(session)
        # Before this feed's items are stored: they are news, not the history to prime.
        lexicon_text = stored_lexicon_text(session)
        mentions.prime(session, entity_index(entity_names(lexicon_text)))
        window = dedupe.THRESHOLDS.window
        dated = [item.published for item, found in zip(fresh, matches, strict=True) if found]
        known = dedupe.StoryPool(
            [
                deps.fingerprint(c.id, c.story_id, c.title, c.summary, c.language, c.published)
                for c in stories.candidates(session, min(dated) - window, max(dated) + window)
            ]
        )
        for index, (item, found) in enumerate(zip(fresh, matches, strict=True)):
            if not found:
                continue
            probe = (probes[index] if probes else None) or dedupe.fingerprint(
                0, None, item.title, item.summary, item.language, item.published
            )
            probes_used[index] = probe
            chosen = known.choose(probe)
            # A new story of this batch gets a placeholder id (< 0) until it is written.
            story = chosen if chosen is not None else -(index + 1)
            stories_of[index] = story
            if chosen is not None and chosen > 0:
                joined.add(chosen)
            known.add(replace(probe, item_id=-(index + 1), story_id=story))
    stored = items.add_items(session, feed_id, source, fresh, stories_of, now)
    if remember is not None:  # the caller caches them once the transaction commits
        remember.extend(
            replace(probe, item_id=item_id, story_id=story_id)
            for probe, (item_id, story_id) in zip(probes_used, stored, strict=True)
            if probe is not None
        )
    if not any(matches):
        return len(fresh), 0, 0
    topic_ids = topics.topic_ids_by_slug(session)
    recipients = subscribers.instant_recipients(session)
    matched_rows: list[tuple[int, Match]] = []
    planned: list[tuple[int, DeliveryIntent]] = []
    news: list[tuple[Item, int, int, tuple[Match, ...]]] = []  # matched, not archive
    named: list[tuple[Item, int, bool]] = []  # matched: item, story, news (not archive)
    backlog = deps.settings.backlog
    for item, (item_id, story_id), found in zip(fresh, stored, matches, strict=True):
        if not found:  # most of a feed: nothing to plan (50 readers × 200 items adds up)
            continue
        assert story_id is not None  # a matched item always has its story
        matched_rows.extend((item_id, match) for match in found)
        archive = backlog is not None and now - item.published > backlog
        named.append((item, story_id, not archive))
        if archive:
            continue  # an archive, not news: stored and searchable, never alerted
        planned.extend((story_id, intent) for intent in plan_alerts(item_id, found, recipients))
        news.append((item, item_id, story_id, found))
    _record_mentions(session, lexicon_text, named)
    planned.extend(_watch_alerts(session, lexicon_text, news, now))
    items.add_matches(session, matched_rows, topic_ids)
    for story_id in joined:
        stories.flag_edits(session, story_id)
    queued = deliveries.queue_alerts_bulk(session, planned, now)
    return len(fresh), sum(1 for found in matches if found), queued


def _record_mentions(
    session: Session, lexicon_text: str, named: Sequence[tuple[Item, int, bool]]
) -> None:
    """The first story to name each entity (``bot.mentions``): its alert will say so."""
    index = entity_index(entity_names(lexicon_text))
    found = [
        Named(story_id, item.published, index.find(item.title, item.summary), is_news)
        for item, story_id, is_news in named
    ]
    entities = {entity for item in found for entity in item.entities}
    if entities:
        since = mentions.recorded_since(session)
        rows = first_mentions(found, mentions.known(session, entities), since)
        mentions.record(session, rows)


def _watch_alerts(
    session: Session,
    lexicon_text: str,
    news: Sequence[tuple[Item, int, int, tuple[Match, ...]]],
    now: datetime,
) -> list[tuple[int, DeliveryIntent]]:
    """The readers' own watches (``/watch``) on the matched news of a feed: each hit is
    recorded (``/watches`` counts them, digests read them) and planned as an alert for
    instant readers. The unique delivery row keeps it to one alert a story for a reader
    whose topics found it too."""
    rules = watches.active_rules(session) if news else []
    if not rules:
        return []
    queries = distinct_queries(rules)
    watching = watchers(rules, queries)
    matcher = watch_matcher(lexicon_text, queries)
    hits: list[tuple[int, int]] = []
    planned: list[tuple[int, DeliveryIntent]] = []
    for item, item_id, story_id, found in news:
        found_by = matcher.match(MatchInput(item.title, item.summary, item.language))
        matched = [rule for m in found_by for rule in watching.get(m.slug, [])]
        hits.extend((rule.watch_id, story_id) for rule in matched)
        topics_of = tuple(match.slug for match in found)
        planned.extend(
            (story_id, intent) for intent in plan_watch_alerts(item_id, topics_of, matched)
        )
    watches.record_hits(session, hits, now)
    return planned


def store_outcome(
    deps: Deps,
    feed: FeedRef,
    result: FetchResult,
    prepared: Prepared | None,
    error: str | None,
    now: datetime,
) -> PollOutcome:
    """One transaction per feed: new items, their matches, queued alerts, feed health.
    The new matched items' fingerprints join the process's cache once it commits, so the
    next feeds compare with them without computing them again."""
    stored: list[dedupe.Fingerprint] = []
    outcome = _store_outcome(deps, feed, result, prepared, error, now, stored)
    for fingerprint in stored:
        deps.remember_fingerprint(fingerprint)
    return outcome


def _store_outcome(
    deps: Deps,
    feed: FeedRef,
    result: FetchResult,
    prepared: Prepared | None,
    error: str | None,
    now: datetime,
    stored: list[dedupe.Fingerprint],
) -> PollOutcome:
    with transaction(deps.engine) as session:
        row = feeds.get_feeds(session, [feed.id]).get(feed.id)
        if row is None:  # `feeds remove` while its answer was on the way: nothing to store
            log.info("feed %s was removed while it was polled: skipped", feed.name or feed.url)
            return PollOutcome(feed.id, feed.url, "removed", name=feed.name)
        default = timedelta(seconds=deps.settings.poll_interval)
        explicit = timedelta(seconds=row.interval) if row.interval else None
        interval = explicit or default
        if error is not None:
            failures = row.failures + 1
            failed = FetchResult(
                feed_id=feed.id,
                url=result.url,
                status=result.status,
                error=error,
                retry_after=result.retry_after,
            )
            feeds.record_fetch_failure(
                session,
                feed.id,
                now=now,
                error=error,
                next_poll_at=next_poll_at(
                    now, interval, failed, failures=failures, jitter=deps.jitter()
                ),
            )
            # Stored as a key and arguments (bot.text.failure), /health renders it in the
            # admin's language; the outcome (CLI, logs) says it in English.
            return PollOutcome(
                feed.id, feed.url, "error", error=describe(error, DEFAULT), name=feed.name
            )
        new_count = matched_count = queued = 0
        entries = 0
        parsed = prepared.feed if prepared is not None else None
        if prepared is not None and parsed is not None:
            entries = prepared.entries
            known = items.known_identities(session, feed.id, [i.identity for i in prepared.items])
            fingerprints = prepared.fingerprints or (None,) * len(prepared.items)
            fresh = [
                (item, found, probe)
                for item, found, probe in zip(
                    prepared.items, prepared.matches, fingerprints, strict=True
                )
                if item.identity not in known
            ]
            if fresh:
                source = row.name or parsed.title or row.url
                counts = store_items(
                    session,
                    deps,
                    feed.id,
                    source,
                    [item for item, _, _ in fresh],
                    [found for _, found, _ in fresh],
                    now,
                    [probe for _, _, probe in fresh],
                    stored,
                )
                new_count, matched_count, queued = counts
        # The publishing rate is read from what the store holds, so a 304 (no entries
        # in hand) schedules exactly like a 200.
        interval = base_interval(explicit, default, items.recent_published(session, feed.id))
        feeds.record_fetch_success(
            session,
            feed.id,
            now=now,
            next_poll_at=next_poll_at(now, interval, result, parsed=parsed, jitter=deps.jitter()),
            etag=result.etag,
            last_modified=result.last_modified,
            new_url=result.permanent_url,
        )
        status = "not-modified" if result.not_modified else "ok"
        return PollOutcome(
            feed.id, feed.url, status, entries, new_count, matched_count, queued, name=feed.name
        )
