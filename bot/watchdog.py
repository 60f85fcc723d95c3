"""The admin watchdog (``MCWATCH_ADMIN_CHAT``): what to tell the admin chat, and when. Pure.

Values in, intents out: ``plan_watch(snapshot, now)`` takes the feeds as the store sees
them and what the admin was last told (``WatchState``, one ``meta`` row kept by
``store.watchdog``), and returns the messages due now, each with the state to keep once
Telegram took it. ``bot.jobs.watchdog_tick`` reads, sends and writes; nothing here does.

Three kinds of message, each sent once per change, never once per poll:

- **Failing / working again.** A feed's health is ``store.feeds.feed_status``, the
  definition of ``feeds health``, ``/health`` and ``/metrics``: failing from its first
  failed poll, healthy again at its first success. The admin hears of the change from
  healthy to failing, and of the recovery; a feed that flaps (recovered less than
  ``FLAP_WINDOW`` ago) is announced failing again only at its ``FLAP_FAILURES``-th
  failure in a row. Disabled and removed feeds are forgotten. On the watchdog's very
  first run the feeds' states are taken as they are, silences included (the weekly
  report lists them): no burst of old news, and the first report comes at the next
  slot; a feed first seen later was healthy until then.
- **Silent.** A feed that publishes daily and has published nothing for three of its
  usual intervals (``cadence``, ``is_silent``). Once per silence: again only after it
  published and then went silent anew. Checked every ``SILENCE_CHECK_EVERY``.
- **The weekly report**, due on Monday at ``MCWATCH_DIGEST_TIME`` in ``MCWATCH_TIMEZONE``
  (``report_slot``); a report missed while mcwatch was down is sent once on return,
  covering everything since the previous one.

Several changes of one kind in one tick are one message (a network outage is a few
messages, not one per feed); every message is one Telegram message, its lists cut with
"… and N more" to fit (``fit_message``). Feed names and errors are escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.deliver.render import TELEGRAM_LIMIT, escape, format_date, truncate_utf16, utf16_len
from bot.text import describe, t

# The watchdog's thresholds, and why.
#
# | name                | value  | why                                                   |
# |---------------------|--------|-------------------------------------------------------|
# | HISTORY             | 30 d   | a month of items: four weekends, enough gaps for a    |
# |                     |        | median, short enough to follow a feed that changed    |
# | DAILY               | 26 h   | "publishes daily": its median gap is a day or less,   |
# |                     |        | give or take the hour a daily edition drifts by       |
# | MIN_ITEMS           | 7      | a week of a daily feed; fewer gaps say nothing        |
# | MIN_DAYS            | 5      | items on 5 distinct days: an archive dumped on one    |
# |                     |        | day (many items, one date) is not a daily feed        |
# | SILENT_INTERVALS    | 3      | the rule: silent for 3 usual intervals        |
# | FLAP_WINDOW         | 6 h    | a feed failing again this soon after its recovery is  |
# | FLAP_FAILURES       | 3      | flapping: announced only at its 3rd failure in a row  |
# | SILENCE_CHECK_EVERY | 1 h    | silences last days; the history query runs hourly,    |
# |                     |        | not every minute                                      |
# | MAX_LISTED          | 25     | feeds named in one message; the rest "… and N more"   |
HISTORY = timedelta(days=30)
DAILY = timedelta(hours=26)
MIN_ITEMS = 7
MIN_DAYS = 5
SILENT_INTERVALS = 3
FLAP_WINDOW = timedelta(hours=6)
FLAP_FAILURES = 3
SILENCE_CHECK_EVERY = timedelta(hours=1)
MAX_LISTED = 25
REPORT_WEEKDAY = 0  # Monday
WEEK = timedelta(days=7)
NAME_CHARS = 60
ERROR_CHARS = 120


# -- what the store says ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A feed as the watchdog sees it (``store.watchdog.feed_health``)."""

    feed_id: int
    name: str
    status: str  # store.feeds.feed_status: ok | failing | disabled | new
    failures: int = 0
    last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.status == "failing"


@dataclass(frozen=True, slots=True)
class Cadence:
    """How a feed published over the last ``HISTORY`` (``cadence``)."""

    items: int = 0
    days: int = 0  # distinct UTC dates with an item
    usual: timedelta | None = None  # the median gap between publications
    longest: timedelta | None = None  # the longest gap
    last: datetime | None = None  # the newest publication

    @property
    def daily(self) -> bool:
        """It publishes daily: ``MIN_ITEMS`` items on ``MIN_DAYS`` days, median gap ≤ ``DAILY``."""
        return (
            self.items >= MIN_ITEMS
            and self.days >= MIN_DAYS
            and self.usual is not None
            and self.usual <= DAILY
        )

    @property
    def silent_after(self) -> timedelta | None:
        """How long without an item makes it silent: three usual intervals, and never
        less than its longest gap of the month (a busy feed's nights and weekends are
        usual, not silence). None: not a daily feed."""
        if not self.daily or self.usual is None or self.longest is None:
            return None
        return max(SILENT_INTERVALS * self.usual, self.longest)


def publication_time(published: datetime, fetched_at: datetime) -> datetime:
    """When an item was published, as far as we can tell: its date, unless that is
    after we first saw it (a future date is a feed's mistake, not a publication)."""
    return min(published, fetched_at)


def cadence(times: Iterable[datetime]) -> Cadence:
    """A feed's publication times (``publication_time``) → its cadence. Equal times are
    one publication (a batch, or dates without a time of day: midnight for all)."""
    moments = sorted(set(times))
    if not moments:
        return Cadence()
    gaps = [later - earlier for earlier, later in pairwise(moments)]
    return Cadence(
        items=len(moments),
        days=len({moment.date() for moment in moments}),
        usual=_median(gaps) if gaps else None,
        longest=max(gaps) if gaps else None,
        last=moments[-1],
    )


def _median(values: Sequence[timedelta]) -> timedelta:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def is_silent(found: Cadence, now: datetime) -> bool:
    threshold = found.silent_after
    return threshold is not None and found.last is not None and now - found.last >= threshold


# -- what the admin was told ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Announced:
    """What the admin chat was last told of one feed (a feed absent: healthy, not silent)."""

    failing: bool = False
    recovered_at: datetime | None = None  # when its recovery was announced (flap damping)
    silent_since: datetime | None = None  # the last publication of the silence announced

    @property
    def default(self) -> bool:
        return self == Announced()


@dataclass(frozen=True, slots=True)
class WatchState:
    """The watchdog's memory (one ``meta`` row): per feed what was said, and when the
    silence check and the weekly report last ran."""

    feeds: Mapping[int, Announced] = field(default_factory=dict)
    baseline: bool = False  # False: the watchdog never ran on this database
    silence_checked_at: datetime | None = None
    report_slot: datetime | None = None  # the Monday slot last reported
    report_end: datetime | None = None  # the end of the period that report covered

    def of(self, feed_id: int) -> Announced:
        return self.feeds.get(feed_id, Announced())

    def with_feed(self, feed_id: int, announced: Announced) -> WatchState:
        feeds = dict(self.feeds)
        if announced.default:
            feeds.pop(feed_id, None)
        else:
            feeds[feed_id] = announced
        return replace(self, feeds=feeds)


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """The store's figures for a weekly report's period."""

    alerts_sent: int = 0
    relevant: int = 0
    not_relevant: int = 0


@dataclass(frozen=True, slots=True)
class WatchSnapshot:
    """Everything ``plan_watch`` needs, read in one transaction."""

    feeds: Sequence[FeedHealth]
    state: WatchState
    language: str = "en"  # the admin chat's, if it is a subscriber; else English
    # Read only when the silence check is due (``silence_due``): feed id → cadence.
    cadences: Mapping[int, Cadence] | None = None
    # Read only when a report is due (``report_due``): its period's figures.
    week: WeekFigures | None = None


# -- when ---------------------------------------------------------------------------------
def silence_due(state: WatchState, now: datetime) -> bool:
    checked = state.silence_checked_at
    return checked is None or now - checked >= SILENCE_CHECK_EVERY


def report_slot(now: datetime, timezone: str, at: time) -> datetime:
    """The latest weekly report time at or before ``now``: Monday ``at`` in ``timezone``
    (a wall-clock time, so it follows DST), as an aware UTC datetime."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=(local.weekday() - REPORT_WEEKDAY) % 7)
    slot = datetime.combine(monday, at, zone)
    if slot > now:
        slot = datetime.combine(monday - WEEK, at, zone)
    return slot.astimezone(now.tzinfo)


def report_due(state: WatchState, now: datetime, timezone: str, at: time) -> datetime | None:
    """The slot a report is due for now, or None (this week's was sent). A slot missed
    while mcwatch was down is due at once, once: only the latest slot counts."""
    slot = report_slot(now, timezone, at)
    if state.report_slot is not None and state.report_slot >= slot:
        return None
    return slot


def report_period(state: WatchState, now: datetime) -> tuple[datetime, datetime]:
    """What a report covers: since the previous report, or the last week."""
    return (state.report_end or now - WEEK, now)


# -- the plan ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Notice:
    """One message for the admin chat, and the state to keep once it was sent."""

    kind: str  # failing | recovered | silent | report
    text: str
    state: WatchState


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """``base``: the state to keep now, whatever is sent (first sights, forgotten feeds,
    the silence check's time); ``notices`` in sending order, each state including the
    ones before it: after a failed send, keep the previous notice's state and the next
    tick plans the rest again."""

    base: WatchState
    notices: tuple[Notice, ...]


def plan_watch(
    snapshot: WatchSnapshot, now: datetime, *, timezone: str, report_at: time
) -> WatchPlan:
    """What to send the admin chat now (see the module docstring)."""
    language = snapshot.language
    state = snapshot.state
    enabled = [feed for feed in snapshot.feeds if feed.status != "disabled"]
    # Forget disabled and removed feeds: re-enabled, a feed starts afresh.
    watched = {feed.feed_id for feed in enabled}
    state = replace(state, feeds={k: v for k, v in state.feeds.items() if k in watched})

    started: list[FeedHealth] = []
    recovered: list[FeedHealth] = []
    for feed in enabled:
        told = state.of(feed.feed_id)
        if not snapshot.state.baseline:
            state = state.with_feed(feed.feed_id, replace(told, failing=feed.failing))
        elif feed.failing and not told.failing and not _flapping(told, feed, now):
            started.append(feed)
        elif not feed.failing and told.failing:
            recovered.append(feed)

    silent: list[tuple[FeedHealth, Cadence]] = []
    if snapshot.cadences is not None:
        state = replace(state, silence_checked_at=now)
        for feed in enabled:
            found = snapshot.cadences.get(feed.feed_id, Cadence())
            told = state.of(feed.feed_id)
            said, last = told.silent_since, found.last
            if said is not None and last is not None and last > said:  # it published
                state = state.with_feed(feed.feed_id, replace(told, silent_since=None))
                told = state.of(feed.feed_id)
            if told.silent_since is None and not feed.failing and is_silent(found, now):
                if snapshot.state.baseline:
                    silent.append((feed, found))
                else:  # the first run: taken as it is, as failing feeds are
                    state = state.with_feed(feed.feed_id, replace(told, silent_since=found.last))
    if not snapshot.state.baseline:  # the first report comes at the next slot
        state = replace(state, report_slot=report_slot(now, timezone, report_at), report_end=now)
    state = replace(state, baseline=True)

    base = state
    notices: list[Notice] = []
    if started:
        for feed in started:
            state = state.with_feed(feed.feed_id, replace(state.of(feed.feed_id), failing=True))
        text = fit_message(
            t(language, "watchdog_failing", n=len(started)),
            [_failing_line(feed, language) for feed in started],
            language,
        )
        notices.append(Notice("failing", text, state))
    if recovered:
        for feed in recovered:
            told = replace(state.of(feed.feed_id), failing=False, recovered_at=now)
            state = state.with_feed(feed.feed_id, told)
        text = fit_message(
            t(language, "watchdog_recovered", n=len(recovered)),
            [_feed_line(feed, language) for feed in recovered],
            language,
        )
        notices.append(Notice("recovered", text, state))
    if silent:
        for feed, found in silent:
            told = replace(state.of(feed.feed_id), silent_since=found.last)
            state = state.with_feed(feed.feed_id, told)
        text = fit_message(
            t(language, "watchdog_silent", n=len(silent)),
            [_silent_line(feed, found, language) for feed, found in silent],
            language,
        )
        notices.append(Notice("silent", text, state))
    slot = report_due(state, now, timezone, report_at)
    if slot is not None and snapshot.week is not None:
        local_day = slot.astimezone(ZoneInfo(timezone)).date()
        text = render_report(snapshot.feeds, state, snapshot.week, local_day, language)
        state = replace(state, report_slot=slot, report_end=now)
        notices.append(Notice("report", text, state))
    return WatchPlan(base, tuple(notices))


def _flapping(told: Announced, feed: FeedHealth, now: datetime) -> bool:
    recently = told.recovered_at is not None and now - told.recovered_at < FLAP_WINDOW
    return recently and feed.failures < FLAP_FAILURES


# -- the words ------------------------------------------------------------------------------
def _name(feed: FeedHealth) -> str:
    return escape(truncate_utf16(feed.name or str(feed.feed_id), NAME_CHARS))


def _feed_line(feed: FeedHealth, language: str) -> str:
    return f"• <code>{feed.feed_id}</code> {_name(feed)}"  # markup, no words


def _failing_line(feed: FeedHealth, language: str) -> str:
    error = describe(feed.last_error, language)
    return t(
        language,
        "watchdog_failing_line",
        id=feed.feed_id,
        name=_name(feed),
        failures=feed.failures,
        error=escape(truncate_utf16(error, ERROR_CHARS)),
    )


def _silent_line(feed: FeedHealth, found: Cadence, language: str) -> str:
    assert found.last is not None and found.usual is not None  # is_silent held
    return t(
        language,
        "watchdog_silent_line",
        id=feed.feed_id,
        name=_name(feed),
        since=f"{found.last:%Y-%m-%d %H:%M} UTC",
        usual=format_interval(found.usual, language),
    )


def format_interval(span: timedelta, language: str) -> str:
    """A usual interval, rounded: minutes below an hour, hours below two days, days."""
    minutes = round(span.total_seconds() / 60)
    if minutes < 60:
        return t(language, "watchdog_minutes", n=max(minutes, 1))
    hours = round(span.total_seconds() / 3600)
    if hours < 48:
        return t(language, "watchdog_hours", n=hours)
    return t(language, "watchdog_days", n=round(span.total_seconds() / 86400))


def precision(relevant: int, not_relevant: int) -> float | None:
    """relevant / (relevant + not_relevant); None when nobody gave a verdict."""
    rated = relevant + not_relevant
    return relevant / rated if rated else None


def render_report(
    feeds: Sequence[FeedHealth],
    state: WatchState,
    week: WeekFigures,
    day: date,
    language: str,
) -> str:
    """The weekly report: feeds healthy / failing / silent, alerts sent, precision."""
    enabled = [feed for feed in feeds if feed.status != "disabled"]
    failing = [feed for feed in enabled if feed.failing]
    silent = [
        feed
        for feed in enabled
        if not feed.failing and state.of(feed.feed_id).silent_since is not None
    ]
    share = precision(week.relevant, week.not_relevant)
    shown = (
        t(language, "watchdog_no_verdicts")
        if share is None
        else t(
            language,
            "watchdog_precision",
            percent=round(share * 100),
            relevant=week.relevant,
            rated=week.relevant + week.not_relevant,
        )
    )
    header = t(
        language,
        "watchdog_report",
        day=format_date(datetime.combine(day, time()), language),
        healthy=len(enabled) - len(failing) - len(silent),
        failing=len(failing),
        silent=len(silent),
        count=len(enabled),
        disabled=len(feeds) - len(enabled),
        alerts=week.alerts_sent,
        precision=shown,
    )
    lines: list[str] = []
    if failing:
        lines.append(t(language, "watchdog_report_failing"))
        lines += [_failing_line(feed, language) for feed in failing]
    if silent:
        lines.append(t(language, "watchdog_report_silent"))
        lines += [_feed_line(feed, language) for feed in silent]
    return fit_message(header, lines, language)


def fit_message(
    header: str, lines: Sequence[str], language: str, limit: int = TELEGRAM_LIMIT
) -> str:
    """``header`` and as many of ``lines`` as fit in one message (at most ``MAX_LISTED``
    of them), then "… and N more" for the rest: one message, never over ``limit``
    UTF-16 units (lines are our HTML, each already short: names and errors are cut)."""
    kept = list(lines[:MAX_LISTED])
    while True:
        left = len(lines) - len(kept)
        tail = [t(language, "watchdog_more", n=left)] if left else []
        text = "\n".join([header, *kept, *tail])
        if utf16_len(text) <= limit or not kept:
            return text
        kept.pop()
