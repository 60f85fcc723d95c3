"""The admin watchdog's queries and its memory (``bot.watchdog`` decides).

The memory is one ``meta`` row, ``watchdog`` → a JSON document (``encode_state``): per
feed what the admin chat was told (only feeds with something to remember: failing,
recently recovered or silent), when the silence check and the weekly report last ran.
Only the Telegram leader writes it (the tick is leader-only), so a plain upsert is
enough; a document that cannot be read is started afresh, as on a first run (the feeds
taken as they are, nothing announced).

A tick costs three small reads (the row, the feeds, the admin chat's language); the
history of items is read at most hourly (``bot.watchdog.SILENCE_CHECK_EVERY``), the
week's figures once a week.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from datetime import time as clock_time
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.watchdog import (
    HISTORY,
    Announced,
    Cadence,
    FeedHealth,
    WatchSnapshot,
    WatchState,
    WeekFigures,
    cadence,
    publication_time,
    report_due,
    report_period,
    silence_due,
)
from store import feeds, subscribers
from store.models import Delivery, Item, Verdict
from store.topics import get_meta, put_meta

STATE_KEY = "watchdog"
FALLBACK_LANGUAGE = "en"  # an admin chat that is not a subscriber


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def encode_state(state: WatchState) -> str:
    return json.dumps(
        {
            "baseline": state.baseline,
            "silence_checked_at": _iso(state.silence_checked_at),
            "report_slot": _iso(state.report_slot),
            "report_end": _iso(state.report_end),
            "feeds": {
                str(feed_id): {
                    "failing": told.failing,
                    "recovered_at": _iso(told.recovered_at),
                    "silent_since": _iso(told.silent_since),
                }
                for feed_id, told in sorted(state.feeds.items())
                if not told.default
            },
        },
        sort_keys=True,
    )


def decode_state(value: str | None) -> WatchState:
    """The stored document; a missing or unreadable one is a first run."""
    if value is None:
        return WatchState()
    try:
        document = json.loads(value)
        return WatchState(
            feeds={
                int(feed_id): Announced(
                    failing=bool(told.get("failing")),
                    recovered_at=_when(told.get("recovered_at")),
                    silent_since=_when(told.get("silent_since")),
                )
                for feed_id, told in document.get("feeds", {}).items()
            },
            baseline=bool(document.get("baseline")),
            silence_checked_at=_when(document.get("silence_checked_at")),
            report_slot=_when(document.get("report_slot")),
            report_end=_when(document.get("report_end")),
        )
    except (ValueError, TypeError, AttributeError):
        return WatchState()


def load_state(session: Session) -> WatchState:
    return decode_state(get_meta(session, STATE_KEY))


def save_state(session: Session, state: WatchState) -> None:
    put_meta(session, STATE_KEY, encode_state(state))


def feed_health(session: Session) -> list[FeedHealth]:
    """Every feed with its ``feeds.feed_status`` (the ``feeds health`` definition)."""
    return [
        FeedHealth(
            feed_id=feed.id,
            name=feed.name,
            status=feeds.feed_status(feed),
            failures=feed.failures,
            last_error=feed.last_error,
        )
        for feed in feeds.list_feeds(session)
        if feed.id is not None
    ]


def chat_language(session: Session, chat_id: int) -> str:
    """The admin chat's language if it is a subscriber, else English."""
    found = subscribers.find_subscriber(session, chat_id)
    return found.language if found is not None else FALLBACK_LANGUAGE


def cadences(session: Session, now: datetime) -> dict[int, Cadence]:
    """Each feed's cadence over ``HISTORY``, from its items' publication times
    (``bot.watchdog.publication_time``: the date, unless after the item was fetched)."""
    since = now - HISTORY
    rows = session.exec(
        select(Item.feed_id, Item.published, Item.fetched_at).where(
            col(Item.feed_id).is_not(None),
            col(Item.published) >= since,
            col(Item.fetched_at) >= since,
        )
    )
    times: dict[int, list[datetime]] = defaultdict(list)
    for feed_id, published, fetched_at in rows:
        if feed_id is not None and published is not None and fetched_at is not None:
            times[feed_id].append(publication_time(published, fetched_at))
    return {feed_id: cadence(moments) for feed_id, moments in times.items()}


def week_figures(session: Session, start: datetime, end: datetime) -> WeekFigures:
    """Alerts sent in [start, end), and the verdicts given (or last changed) then."""
    sent = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(
            col(Delivery.status) == "sent",
            col(Delivery.sent_at) >= start,
            col(Delivery.sent_at) < end,
        )
    ).one()
    verdicts = dict(
        session.exec(
            select(Verdict.verdict, func.count())
            .where(col(Verdict.updated_at) >= start, col(Verdict.updated_at) < end)
            .group_by(col(Verdict.verdict))
        ).all()
    )
    return WeekFigures(
        alerts_sent=int(sent),
        relevant=int(verdicts.get("relevant", 0)),
        not_relevant=int(verdicts.get("not_relevant", 0)),
    )


def snapshot(
    session: Session, now: datetime, *, admin_chat: int, timezone: str, report_at: clock_time
) -> WatchSnapshot:
    """What ``bot.watchdog.plan_watch`` needs now: the history only when the silence
    check is due, the week's figures only when a report is."""
    state = load_state(session)
    due_cadences = cadences(session, now) if silence_due(state, now) else None
    week = None
    if state.baseline and report_due(state, now, timezone, report_at) is not None:
        week = week_figures(session, *report_period(state, now))
    return WatchSnapshot(
        feeds=feed_health(session),
        state=state,
        language=chat_language(session, admin_chat),
        cadences=due_cadences,
        week=week,
    )
