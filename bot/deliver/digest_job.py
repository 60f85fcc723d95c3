"""The daily digest's I/O: queue the digests that are due, send them, draw the trend.

The decisions are pure (``bot.deliver.digest``: when, what, how it reads;
``bot.deliver.charts``); this module asks the store and talks to the sender. A digest is
recorded before it is sent (unique per subscriber and local day), so a restart never
sends a day's digest twice; one missed while mcwatch was down is sent late, once,
covering the whole gap.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    render_digest,
)
from bot.deliver.outbox import blocked, send
from bot.deliver.send_policy import Blocked, Refused, RetryAt, after_failure
from bot.deps import Deps
from bot.errors import MessageRejected, RecipientBlocked, RetryLater
from bot.logs import context
from bot.text import t
from bot.types import Preferences
from store import digests, topics
from store.db import transaction

log = logging.getLogger(__name__)

TREND_DAYS = 14
LEASE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """A digest ready to send: its messages and its chart."""

    chat_id: int
    language: str
    day: date
    stories: int
    messages: list[str]
    chart: bytes | None


def plan_digest(
    deps: Deps,
    *,
    subscriber_id: int | None,
    chat_id: int,
    language: str,
    timezone: str | None,
    start: datetime,
    end: datetime,
) -> DigestPlan:
    """The digest of [start, end) in ``timezone`` (None: MCWATCH_TIMEZONE, for a leased
    digest's chat that chose none, or the demo's console)."""
    zone = ZoneInfo(timezone or deps.settings.timezone)
    day = end.astimezone(zone).date()
    with transaction(deps.engine) as session:
        stories = digests.stories_between(session, subscriber_id, start, end, deps.settings.backlog)
        listed = topics.list_topics(session)
        days = [day - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
        counts = digests.daily_story_counts(session, days, zone) if stories else {}
    order = [topic.slug for topic in listed]
    names = {topic.slug: topic.name for topic in listed}
    sections = build_digest(stories, order)
    messages = render_digest(sections, language=language, day=day, topic_names=names)
    chart = None
    if stories and not getattr(deps.sender, "shows_images", True):
        # A terminal shows no PNG (console mode): the trend as a line of text, without
        # matplotlib's second and a half of import and drawing.
        messages = [*messages, html.escape(trend_text(days, counts, language=language))]
    elif stories:
        chart = trend_png(days, counts, language=language, topic_order=order)
    return DigestPlan(chat_id, language, day, len(stories), messages, chart)


async def send_plan(
    deps: Deps,
    plan: DigestPlan,
    *,
    skip: int = 0,
    on_part: Callable[[int], None] | None = None,
) -> None:
    """Send the digest's messages, then its chart, from part ``skip`` on.

    ``on_part(n)`` is told after Telegram accepted part n (1-based), so a daily digest
    that fails halfway resumes after what was delivered instead of repeating it. Each
    part is sent as an alert is (``bot.deliver.outbox.send``): a short 429 is waited out in
    place; what still fails is raised, for ``digest_tick`` to decide on.
    """
    parts: list[Callable[[], Awaitable[object]]] = [
        partial(deps.sender.send, plan.chat_id, message) for message in plan.messages
    ]
    if plan.chart is not None:
        caption = t(plan.language, "trend_caption")
        parts.append(partial(deps.sender.send_photo, plan.chat_id, plan.chart, caption))
    for number, part in enumerate(parts, 1):
        if number <= skip:
            continue
        await send(deps, plan.chat_id, part)
        if on_part is not None:
            on_part(number)


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
    """Queue what is due, then send every leased digest. Returns what was sent."""
    queue_due_digests(deps)
    with transaction(deps.engine) as session:
        leased = digests.lease_digests(session, deps.clock.now(), lease=LEASE)
    sent: list[DigestPlan] = []
    for digest in leased:
        plan = plan_digest(
            deps,
            subscriber_id=digest.subscriber_id,
            chat_id=digest.chat_id,
            language=digest.language,
            timezone=digest.timezone,
            start=digest.period_start,
            end=digest.period_end,
        )
        status, error, retry_at = "sent", None, None
        if not plan.stories:
            status = "empty"  # like Google Alerts: no news, no message
        else:

            def delivered(parts: int, digest_id: int = digest.digest_id) -> None:
                with transaction(deps.engine) as session:
                    digests.record_digest_part(session, digest_id, parts)

            try:
                await send_plan(deps, plan, skip=digest.parts_sent, on_part=delivered)
                sent.append(plan)
            except (RetryLater, RecipientBlocked, MessageRejected) as exc:
                # The same decision as for an alert (bot.deliver.send_policy.after_failure).
                match after_failure(exc, digest.attempts, deps.clock.now()):
                    case RetryAt(at=at, reason=reason):
                        status, error, retry_at = "queued", reason, at
                    case Blocked(reason=reason):
                        status, error = "failed", reason
                        blocked(deps, digest.subscriber_id, reason)
                    case Refused(reason=reason):
                        status, error = "failed", reason
        with transaction(deps.engine) as session:
            digests.close_digest(
                session,
                digest.digest_id,
                deps.clock.now(),
                status=status,
                error=error,
                retry_at=retry_at,
            )
        deps.metrics.digested(status)
        log.info(
            "digest %s",
            context(
                chat_id=digest.chat_id, day=digest.local_date, status=status, stories=plan.stories
            ),
        )
    return sent


def digest_now(deps: Deps, prefs: Preferences) -> DigestPlan:
    """One subscriber's digest now (``/digest``, ``mcwatch digest --chat``): everything
    since their last daily digest, or the last day. Not recorded as the daily one.
    ``prefs``: the subscriber as the caller read it (not read again here)."""
    with transaction(deps.engine) as session:
        last = digests.last_digest_end(session, prefs.subscriber_id)
    return plan_period(deps, digest_period(DigestReader(prefs, last, None), deps.clock.now()))


def plan_period(deps: Deps, period: DigestPeriod) -> DigestPlan:
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
    )


def trend_chart(deps: Deps, language: str, timezone: str) -> bytes:
    """The last ``TREND_DAYS`` local days in ``timezone`` (``Preferences.timezone``)."""
    zone = ZoneInfo(timezone)
    today = deps.clock.now().astimezone(zone).date()
    days = [today - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    with transaction(deps.engine) as session:
        counts = digests.daily_story_counts(session, days, zone)
        order = [topic.slug for topic in topics.list_topics(session)]
    return trend_png(days, counts, language=language, topic_order=order)
