"""The digests' I/O, daily and weekly: queue those due, send them, draw the trend.

The decisions are pure (``bot.deliver.digest``: when, what, how it reads;
``bot.deliver.charts``); this module asks the store and talks to the sender. A digest is
recorded before it is sent (unique per subscriber and local day), so a restart never
sends a day's digest twice; one missed while mcwatch was down is sent late, once,
covering the whole gap.

A round (07:30 for most readers) is served concurrently across chats, at most
``DIGESTS_IN_FLIGHT`` at once, each chat's parts in order, all through the shared
``Pacer``: 1,000 readers take what Telegram's 30 messages a second allow, not a second
per part one reader after another. Queries and drawing run in threads, off the event
loop; the trend chart is drawn once per timezone and language in a round (``DigestRound``).
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from bot.deliver.charts import trend_png, trend_text
from bot.deliver.digest import (
    DigestPeriod,
    DigestReader,
    build_digest,
    digest_period,
    due_digests,
    render_digest_parts,
)
from bot.deliver.outbox import blocked, in_thread, send, write
from bot.deliver.render import TELEGRAM_LIMIT, visible_len
from bot.deliver.send_policy import Blocked, Refused, RetryAt, after_failure
from bot.deps import Deps
from bot.errors import MessageRejected, RecipientBlocked, RetryLater
from bot.feedback import Keyboard, digest_keyboard
from bot.logs import context
from bot.text import t
from bot.types import DigestStory, Preferences
from store import digests, topics, verdicts
from store.db import transaction
from store.digests import LeasedDigest

log = logging.getLogger(__name__)

TREND_DAYS = 14
LEASE = timedelta(minutes=10)
# Digests being planned or sent at once (different chats). Above 30: a private chat
# takes one message a second, so it takes more than 30 chats at once for Telegram's 30
# messages a second overall (the Pacer) to be the bound, not each chat's own pace.
DIGESTS_IN_FLIGHT = 40
# Digests being planned (queries, drawing) at once: the worker threads are shared with
# the bot's handlers, and a reply must not queue behind forty plans.
DIGESTS_PLANNED = 2
# pyplot keeps global state (its figure manager): one chart drawn at a time.
_DRAWING = threading.Lock()


@dataclass
class DigestRound:
    """What the digests of one tick share, computed once (each from a worker thread,
    hence the lock): the topics, and the trend chart per timezone, day and language."""

    topics: list[tuple[str, str]] | None = None  # (slug, name) in topic order
    counts: dict[tuple[str, date], dict[str, list[int]]] = field(default_factory=dict)
    charts: dict[tuple[str, date, str], bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """A digest ready to send: its messages and its chart."""

    chat_id: int
    language: str
    day: date
    stories: int
    messages: list[str]
    chart: bytes | None
    # The verdict buttons under each message (None: none), aligned with ``messages``.
    keyboards: list[Keyboard | None] = field(default_factory=list)

    def keyboard(self, index: int) -> Keyboard | None:
        return self.keyboards[index] if index < len(self.keyboards) else None


def plan_digest(
    deps: Deps,
    *,
    subscriber_id: int | None,
    chat_id: int,
    language: str,
    timezone: str | None,
    start: datetime,
    end: datetime,
    shared: DigestRound | None = None,
    weekly: bool = False,
    buttons: bool = True,
) -> DigestPlan:
    """The digest of [start, end) in ``timezone`` (None: MCWATCH_TIMEZONE, for a leased
    digest's chat that chose none, or the demo's console). A store call and a drawing:
    coroutines run it in a thread. ``shared``: a round's topics and charts, reused.
    ``weekly``: titled as the week's (the trend chart is the same 14 days).
    ``buttons``: a subscriber's digest gets its verdict buttons (``bot.feedback``), its
    lines recorded for them; a preview (False) records nothing."""
    shared = shared or DigestRound()
    zone_name = timezone or deps.settings.timezone
    zone = ZoneInfo(zone_name)
    day = end.astimezone(zone).date()
    days = [day - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    with transaction(deps.engine) as session:
        stories = digests.stories_between(session, subscriber_id, start, end, deps.settings.backlog)
        with shared.lock:
            if shared.topics is None:
                shared.topics = [(tp.slug, tp.name) for tp in topics.list_topics(session)]
            listed = shared.topics
            counts = shared.counts.get((zone_name, day)) if stories else {}
            if counts is None:
                counts = digests.daily_story_counts(session, days, zone)
                shared.counts[(zone_name, day)] = counts
    order = [slug for slug, _ in listed]
    names = dict(listed)
    sections = build_digest(stories, order)
    parts = render_digest_parts(
        sections, language=language, day=day, topic_names=names, weekly=weekly
    )
    messages = [text for text, _ in parts]
    keyboards: list[Keyboard | None] = []
    if buttons and subscriber_id is not None and stories:
        keyboards = _keyboards(deps, subscriber_id, language, [shown for _, shown in parts])
    chart = None
    if stories and wants_chart(deps.settings.digest_chart, weekly, deps.sender):
        chart = _chart(shared, (zone_name, day, language), days, counts, order)
    elif stories:
        # The trend as a line of text under the last story, in the same message (it
        # fits, or it gets one of its own): no PNG to send, no matplotlib to load.
        line = html.escape(trend_text(days, counts, language=language))
        last = f"{messages[-1]}\n\n{line}"
        fits = visible_len(last) <= TELEGRAM_LIMIT  # what Telegram counts
        messages = [*messages[:-1], last] if fits else [*messages, line]
    return DigestPlan(chat_id, language, day, len(stories), messages, chart, keyboards)


def wants_chart(setting: str, weekly: bool, sender: object) -> bool:
    """Does a digest carry the PNG chart (``Settings.digest_chart``)? Never where no
    image shows (console mode: a terminal)."""
    if not getattr(sender, "shows_images", True):
        return False
    return setting == "daily" or (setting == "weekly" and weekly)


def _keyboards(
    deps: Deps, subscriber_id: int, language: str, shown: list[list[tuple[int, DigestStory]]]
) -> list[Keyboard | None]:
    """Each message's verdict buttons, its stories' lines recorded (or found again)."""
    wanted = [(story.item_id, story.topic) for stories in shown for _, story in stories]
    with transaction(deps.engine) as session:
        ids = verdicts.digest_lines(session, subscriber_id, wanted, deps.clock.now())
    keyboards: list[Keyboard | None] = []
    for stories in shown:
        lines = [
            (number, ids[key])
            for number, story in stories
            if (key := (story.item_id, story.topic)) in ids
        ]
        keyboards.append(digest_keyboard(lines, language, {}) if lines else None)
    return keyboards


def _chart(
    shared: DigestRound,
    key: tuple[str, date, str],
    days: Sequence[date],
    counts: dict[str, list[int]],
    order: list[str],
) -> bytes:
    with shared.lock:
        chart = shared.charts.get(key)
    if chart is None:
        with _DRAWING:
            chart = trend_png(days, counts, language=key[2], topic_order=order)
        with shared.lock:
            shared.charts[key] = chart
    return chart


async def send_plan(
    deps: Deps,
    plan: DigestPlan,
    *,
    skip: int = 0,
    on_part: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """Send the digest's messages, then its chart, from part ``skip`` on.

    ``on_part(n)`` is told after Telegram accepted part n (1-based), so a daily digest
    that fails halfway resumes after what was delivered instead of repeating it. Each
    part is sent as an alert is (``bot.deliver.outbox.send``): a short 429 is waited out in
    place; what still fails is raised, for ``digest_tick`` to decide on.
    """
    parts: list[Callable[[], Awaitable[object]]] = [
        partial(deps.sender.send, plan.chat_id, message, reply_markup=plan.keyboard(index))
        for index, message in enumerate(plan.messages)
    ]
    if plan.chart is not None:
        caption = t(plan.language, "trend_caption")
        parts.append(partial(deps.sender.send_photo, plan.chat_id, plan.chart, caption))
    for number, part in enumerate(parts, 1):
        if number <= skip:
            continue
        await send(deps, plan.chat_id, part)
        if on_part is not None:
            await on_part(number)


def queue_due_digests(deps: Deps) -> int:
    """Record a digest for every reader whose local digest time has come today."""
    now = deps.clock.now()
    queued = 0
    with transaction(deps.engine) as session:
        readers = digests.digest_readers(session, deps.settings)
        for due in due_digests(readers, now):
            digest_id = digests.queue_digest(
                session, due.reader.subscriber_id, due.day.isoformat(), due.start, due.end, now
            )
            if digest_id is not None:
                queued += 1
    return queued


async def digest_tick(deps: Deps) -> list[DigestPlan]:
    """Queue what is due, then send every leased digest, chats concurrently (at most
    ``DIGESTS_IN_FLIGHT`` at once). Returns what was sent, in lease order."""
    await in_thread(queue_due_digests, deps)
    leased = await write(_lease_digests, deps)
    shared = DigestRound()
    in_flight = asyncio.Semaphore(DIGESTS_IN_FLIGHT)
    planning = asyncio.Semaphore(DIGESTS_PLANNED)
    unclosed = {digest.digest_id for digest in leased}

    async def serve(digest: LeasedDigest) -> DigestPlan | None:
        async with in_flight:
            plan = await serve_digest(deps, digest, shared, planning)
        unclosed.discard(digest.digest_id)
        return plan

    try:
        served = await asyncio.gather(*(serve(digest) for digest in leased))
    except asyncio.CancelledError:
        # The shutdown: what was leased and not closed goes back to the queue, due now,
        # to resume after its recorded parts at the next start, not after the lease.
        if unclosed:
            released = await write(_release_digests, deps, sorted(unclosed))
            log.info("shutdown: %d leased digests put back in the queue", released)
        raise
    return [plan for plan in served if plan is not None]


def _release_digests(deps: Deps, digest_ids: list[int]) -> int:
    with transaction(deps.engine) as session:
        return digests.release_digests(session, digest_ids)


def _lease_digests(deps: Deps) -> list[LeasedDigest]:
    with transaction(deps.engine) as session:
        return digests.lease_digests(session, deps.clock.now(), lease=LEASE)


async def serve_digest(
    deps: Deps, digest: LeasedDigest, shared: DigestRound, planning: asyncio.Semaphore
) -> DigestPlan | None:
    """Plan (while ``planning`` lets it), send and close one leased digest; the plan if
    it was sent."""
    async with planning:
        plan = await in_thread(
            plan_digest,
            deps,
            subscriber_id=digest.subscriber_id,
            chat_id=digest.chat_id,
            language=digest.language,
            timezone=digest.timezone,
            start=digest.period_start,
            end=digest.period_end,
            shared=shared,
            weekly=digest.weekly,
        )
    sent = None
    status, error, retry_at = "sent", None, None
    if not plan.stories:
        status = "empty"  # like Google Alerts: no news, no message
    else:

        async def delivered(parts: int) -> None:
            await write(_record_part, deps, digest.digest_id, parts)

        try:
            await send_plan(deps, plan, skip=digest.parts_sent, on_part=delivered)
            sent = plan
        except (RetryLater, RecipientBlocked, MessageRejected) as exc:
            # The same decision as for an alert (bot.deliver.send_policy.after_failure).
            match after_failure(exc, digest.attempts, deps.clock.now()):
                case RetryAt(at=at, reason=reason):
                    status, error, retry_at = "queued", reason, at
                case Blocked(reason=reason):
                    status, error = "failed", reason
                    await write(blocked, deps, digest.subscriber_id, reason)
                case Refused(reason=reason):
                    status, error = "failed", reason
    await write(_close, deps, digest.digest_id, status, error, retry_at)
    deps.metrics.digested(status)
    log.info(
        "digest %s",
        context(chat_id=digest.chat_id, day=digest.local_date, status=status, stories=plan.stories),
    )
    return sent


def _record_part(deps: Deps, digest_id: int, parts: int) -> None:
    with transaction(deps.engine) as session:
        digests.record_digest_part(session, digest_id, parts)


def _close(
    deps: Deps, digest_id: int, status: str, error: str | None, retry_at: datetime | None
) -> None:
    with transaction(deps.engine) as session:
        digests.close_digest(
            session, digest_id, deps.clock.now(), status=status, error=error, retry_at=retry_at
        )


def digest_now(deps: Deps, prefs: Preferences, *, buttons: bool = True) -> DigestPlan:
    """One subscriber's digest now (``/digest``, ``mcwatch digest --chat``): everything
    since their last digest, or the last day (week, for a weekly reader). Not recorded
    as the daily or weekly one.
    ``prefs``: the subscriber as the caller read it (not read again here)."""
    with transaction(deps.engine) as session:
        last = digests.last_digest_end(session, prefs.subscriber_id)
    period = digest_period(DigestReader(prefs, last, None), deps.clock.now())
    return plan_period(deps, period, buttons=buttons)


def plan_period(deps: Deps, period: DigestPeriod, *, buttons: bool = True) -> DigestPlan:
    """The digest of one reader's period (``bot.deliver.digest.due_digests``, ``digest_period``)."""
    reader = period.reader
    return plan_digest(
        deps,
        subscriber_id=reader.subscriber_id,
        chat_id=reader.chat_id,
        language=reader.language,
        timezone=reader.timezone,
        start=period.start,
        end=period.end,
        weekly=period.weekly,
        buttons=buttons,
    )


def trend_chart(deps: Deps, language: str, timezone: str) -> bytes:
    """The last ``TREND_DAYS`` local days in ``timezone`` (``Preferences.timezone``)."""
    zone = ZoneInfo(timezone)
    today = deps.clock.now().astimezone(zone).date()
    days = [today - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    with transaction(deps.engine) as session:
        counts = digests.daily_story_counts(session, days, zone)
        order = [topic.slug for topic in topics.list_topics(session)]
    with _DRAWING:
        return trend_png(days, counts, language=language, topic_order=order)
