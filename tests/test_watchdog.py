"""The admin watchdog (``MCWATCH_ADMIN_CHAT``): failing / working again / silent feeds and
the weekly report, once per change.

The decisions are tables on ``bot.watchdog`` (pure); the rest runs end to end: feeds
served on loopback that fail and recover through the real poll path, ``watchdog_tick``
over a real database (SQLite always, PostgreSQL when named), the real
python-telegram-bot to the Bot API stand-in, a ``FixedClock`` (nothing sleeps).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import col

from bot import jobs
from bot.clock import FixedClock
from bot.deliver.render import TELEGRAM_LIMIT, utf16_len
from bot.deliver.senders import ConsoleSender
from bot.errors import SettingsError
from bot.jobs import watchdog_tick
from bot.settings import load_settings
from bot.types import Item as NewItem
from bot.watchdog import (
    MAX_LISTED,
    Announced,
    Cadence,
    FeedHealth,
    WatchPlan,
    WatchSnapshot,
    WatchState,
    WeekFigures,
    cadence,
    fit_message,
    format_interval,
    is_silent,
    plan_watch,
    publication_time,
    report_due,
    report_slot,
)
from store import feeds, items, subscribers
from store import watchdog as watch_store
from store.db import transaction
from store.models import Meta, Verdict
from tests.support.builders import add_feed, deps_for, seeded
from tests.support.feed_server import FeedServer
from tests.support.telegram import Conversation
from tests.test_layers import FORBIDDEN, imported_modules

ADMIN_CHAT = 7100
READER = 7200
MONDAY = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)  # FixedClock's start: a Monday
BAMAKO = "Africa/Bamako"  # UTC+0, no DST
AT = time(7, 30)

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Le Sahel</title><link>https://sahel.example/</link>
<description>-</description></channel></rss>"""


# -- pure: cadence and silence ------------------------------------------------------------
def daily(days: int, end: datetime, *, hour: int = 8) -> list[datetime]:
    """One item a day at ``hour`` (a few minutes' jitter), the last on ``end``'s day."""
    last = end.replace(hour=hour, minute=0, second=0, microsecond=0)
    return [last - timedelta(days=n, minutes=(n * 7) % 23) for n in range(days)]


CADENCES = [
    pytest.param(daily(20, MONDAY), True, timedelta(days=1), id="a daily feed is daily"),
    pytest.param(daily(6, MONDAY), False, None, id="six items are too few to say"),
    pytest.param(
        [MONDAY - timedelta(days=7 * n) for n in range(8)],
        False,
        None,
        id="a weekly feed is not daily",
    ),
    pytest.param(
        [MONDAY - timedelta(minutes=n) for n in range(40)],
        False,
        None,
        id="an archive dumped in one hour is not daily (one day)",
    ),
    pytest.param(
        [MONDAY - timedelta(days=1)] * 10 + daily(10, MONDAY),
        True,
        timedelta(days=1),
        id="equal times are one publication (a batch, dates without a time)",
    ),
]


@pytest.mark.parametrize(("times", "is_daily", "usual"), CADENCES)
def test_a_feed_publishes_daily_by_its_median_gap(
    times: list[datetime], is_daily: bool, usual: timedelta | None
) -> None:
    found = cadence(times)
    assert found.daily is is_daily
    if usual is not None:
        assert found.usual is not None and abs(found.usual - usual) < timedelta(minutes=30)


def test_a_daily_feed_is_silent_after_three_usual_intervals() -> None:
    found = cadence(daily(20, MONDAY))
    assert found.last is not None
    assert not is_silent(found, found.last + timedelta(days=2, hours=23))
    assert is_silent(found, found.last + timedelta(days=3, hours=1))


def test_a_busy_feeds_nights_and_weekends_are_not_silence() -> None:
    """Forty items a weekday between 08:00 and 18:00: the median gap is 15 minutes,
    but a weekend (62 h) is usual for it: the floor is its longest gap of the month."""
    times = []
    day = MONDAY - timedelta(days=28)
    while day < MONDAY:
        if day.weekday() < 5:
            start = day.replace(hour=8, minute=0)
            times += [start + timedelta(minutes=15 * n) for n in range(40)]
        day += timedelta(days=1)
    found = cadence(times)
    assert found.daily and found.usual == timedelta(minutes=15)
    assert found.last is not None and found.last.weekday() == 4  # a Friday, 17:45
    assert not is_silent(found, found.last + timedelta(hours=60))  # Monday 05:45
    assert is_silent(found, found.last + timedelta(days=4))


def test_a_future_date_is_not_a_publication() -> None:
    fetched = MONDAY
    assert publication_time(MONDAY + timedelta(days=2), fetched) == fetched
    assert publication_time(MONDAY - timedelta(hours=1), fetched) == MONDAY - timedelta(hours=1)


@pytest.mark.parametrize(
    ("span", "en", "fr"),
    [
        (timedelta(minutes=15), "15 minutes", "15 min"),
        (timedelta(hours=23, minutes=50), "24 hours", "24 h"),
        (timedelta(days=1), "24 hours", "24 h"),
        (timedelta(days=3), "3 days", "3 jours"),
    ],
)
def test_a_usual_interval_reads_rounded(span: timedelta, en: str, fr: str) -> None:
    assert format_interval(span, "en") == en
    assert format_interval(span, "fr") == fr


# -- pure: health transitions -----------------------------------------------------------------
def ok(feed_id: int, name: str = "Feed") -> FeedHealth:
    return FeedHealth(feed_id, name, "ok")


def failing(feed_id: int, name: str = "Feed", failures: int = 1) -> FeedHealth:
    return FeedHealth(
        feed_id,
        name,
        "failing",
        failures,
        '{"key":"fetch_http_status","args":{"status":503,"reason":"Service Unavailable"}}',
    )


def plan(
    rows: list[FeedHealth],
    state: WatchState,
    now: datetime = MONDAY,
    *,
    cadences: dict[int, Cadence] | None = None,
    week: WeekFigures | None = None,
    language: str = "en",
) -> WatchPlan:
    snapshot = WatchSnapshot(rows, state, language, cadences, week)
    return plan_watch(snapshot, now, timezone=BAMAKO, report_at=AT)


RUNNING = WatchState(baseline=True, report_slot=report_slot(MONDAY, BAMAKO, AT))


def test_the_first_run_takes_the_feeds_as_they_are() -> None:
    result = plan([ok(1), failing(2)], WatchState())
    assert result.notices == ()
    assert result.base.baseline and result.base.of(2).failing and not result.base.of(1).failing
    assert result.base.report_slot == datetime(2026, 2, 23, 7, 30, tzinfo=UTC)


def test_healthy_to_failing_is_one_message_and_then_nothing() -> None:
    first = plan([ok(1), failing(2, "Mali Web")], RUNNING)
    assert [n.kind for n in first.notices] == ["failing"]
    text = first.notices[0].text
    assert text.startswith("⚠️ <b>1 feed started failing</b>")
    assert "<code>2</code> Mali Web — ×1: HTTP 503 Service Unavailable" in text
    again = plan([ok(1), failing(2, "Mali Web", failures=5)], first.notices[0].state)
    assert again.notices == ()


def test_failing_to_healthy_is_one_message() -> None:
    told = RUNNING.with_feed(2, Announced(failing=True))
    result = plan([ok(2, "Mali Web")], told)
    assert [n.kind for n in result.notices] == ["recovered"]
    assert result.notices[0].text == "✅ <b>1 feed works again</b>\n• <code>2</code> Mali Web"
    after = result.notices[0].state.of(2)
    assert not after.failing and after.recovered_at == MONDAY
    assert plan([ok(2)], result.notices[0].state).notices == ()


def test_a_flapping_feed_is_announced_again_only_at_its_third_failure() -> None:
    recovered = RUNNING.with_feed(2, Announced(recovered_at=MONDAY - timedelta(hours=1)))
    assert plan([failing(2, failures=1)], recovered).notices == ()
    assert plan([failing(2, failures=2)], recovered).notices == ()
    assert [n.kind for n in plan([failing(2, failures=3)], recovered).notices] == ["failing"]
    later = MONDAY + timedelta(hours=6)
    assert [n.kind for n in plan([failing(2)], recovered, later).notices] == ["failing"]


def test_several_feeds_failing_at_once_are_one_message() -> None:
    result = plan([failing(n, f"Feed {n}") for n in range(1, 4)], RUNNING)
    assert len(result.notices) == 1
    assert result.notices[0].text.startswith("⚠️ <b>3 feeds started failing</b>")
    assert all(result.notices[0].state.of(n).failing for n in range(1, 4))


def test_disabled_and_removed_feeds_are_forgotten() -> None:
    told = RUNNING.with_feed(2, Announced(failing=True)).with_feed(3, Announced(failing=True))
    result = plan([FeedHealth(2, "Off", "disabled", 4)], told)
    assert result.notices == ()
    assert result.base.feeds == {}


def test_feed_names_and_errors_are_escaped() -> None:
    feed = replace(failing(2, "Le Sahel & <Co>"), last_error="<b>boom</b> & co")
    text = plan([feed], RUNNING).notices[0].text
    assert "Le Sahel &amp; &lt;Co&gt;" in text and "&lt;b&gt;boom&lt;/b&gt; &amp; co" in text


def test_a_long_failing_list_is_cut_within_telegrams_limit() -> None:
    rows = [failing(n, "🇲🇱 " + "Très long nom de flux " * 10) for n in range(1, 301)]
    text = plan(rows, RUNNING).notices[0].text
    assert utf16_len(text) <= TELEGRAM_LIMIT
    assert text.count("• ") <= MAX_LISTED
    assert text.endswith(f"… and {300 - text.count('• ')} more")


def test_fit_message_never_exceeds_the_limit() -> None:
    lines = [f"• line {n} " + "é" * 50 for n in range(100)]
    for limit in (200, 500, 4096):
        assert utf16_len(fit_message("<b>head</b>", lines, "fr", limit)) <= limit


# -- pure: silence in the plan ------------------------------------------------------------
def test_a_silence_is_announced_once_and_again_only_after_new_items() -> None:
    history = cadence(daily(20, MONDAY - timedelta(days=4)))
    rows = [ok(1, "Xinhua Afrique")]
    first = plan(rows, RUNNING, cadences={1: history})
    assert [n.kind for n in first.notices] == ["silent"]
    assert first.notices[0].text.startswith("🔇 <b>1 daily feed has gone silent</b>")
    assert "nothing since 2026-02-19 08:00 UTC (usual interval: 24 hours)" in first.notices[0].text
    told = first.notices[0].state
    assert plan(rows, told, MONDAY + timedelta(hours=2), cadences={1: history}).notices == ()
    # It published again: the silence is over, and a new one is announced anew.
    fresh = cadence(daily(20, MONDAY))
    back = plan(rows, told, MONDAY + timedelta(hours=3), cadences={1: fresh})
    assert back.notices == () and back.base.of(1).silent_since is None
    later = MONDAY + timedelta(days=5)
    assert [n.kind for n in plan(rows, back.base, later, cadences={1: fresh}).notices] == [
        "silent"
    ]


def test_a_failing_feeds_silence_is_its_failure() -> None:
    history = cadence(daily(20, MONDAY - timedelta(days=4)))
    told = RUNNING.with_feed(1, Announced(failing=True))
    assert plan([failing(1)], told, cadences={1: history}).notices == ()


def test_silence_is_not_checked_without_the_history() -> None:
    assert plan([ok(1)], RUNNING).base.silence_checked_at is None
    assert plan([ok(1)], RUNNING, cadences={}).base.silence_checked_at == MONDAY


# -- pure: the weekly report ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "zone", "slot"),
    [
        (datetime(2026, 2, 23, 7, 29, tzinfo=UTC), BAMAKO, datetime(2026, 2, 16, 7, 30)),
        (datetime(2026, 2, 23, 7, 30, tzinfo=UTC), BAMAKO, datetime(2026, 2, 23, 7, 30)),
        (datetime(2026, 3, 1, 23, 0, tzinfo=UTC), BAMAKO, datetime(2026, 2, 23, 7, 30)),
        # Paris, summer time from 29 March 2026: 07:30 local is 05:30 UTC, then 06:30.
        (datetime(2026, 3, 30, 6, 0, tzinfo=UTC), "Europe/Paris", datetime(2026, 3, 30, 5, 30)),
        (datetime(2026, 3, 23, 6, 0, tzinfo=UTC), "Europe/Paris", datetime(2026, 3, 16, 6, 30)),
    ],
)
def test_the_report_slot_is_monday_at_the_digest_time(
    now: datetime, zone: str, slot: datetime
) -> None:
    assert report_slot(now, zone, AT) == slot.replace(tzinfo=UTC)


def test_a_missed_report_is_due_once_on_return() -> None:
    sent = WatchState(baseline=True, report_slot=datetime(2026, 2, 2, 7, 30, tzinfo=UTC))
    now = datetime(2026, 2, 25, 12, 0, tzinfo=UTC)  # three weeks later, a Wednesday
    assert report_due(sent, now, BAMAKO, AT) == datetime(2026, 2, 23, 7, 30, tzinfo=UTC)
    result = plan([ok(1)], sent, now, week=WeekFigures())
    assert [n.kind for n in result.notices] == ["report"]
    assert report_due(result.notices[0].state, now + timedelta(days=4), BAMAKO, AT) is None


def test_the_report_gives_feeds_alerts_and_precision() -> None:
    state = WatchState(baseline=True).with_feed(3, Announced(silent_since=MONDAY))
    rows = [ok(1), failing(2, "Mali <Web>"), ok(3, "Quiet"), FeedHealth(4, "Off", "disabled")]
    week = WeekFigures(alerts_sent=12, relevant=2, not_relevant=1)
    text = plan(rows, state, week=week).notices[-1].text
    assert text.startswith("<b>Watchdog — week of 23 Feb 2026</b>\n")
    assert "Feeds: 1 healthy · 1 failing · 1 silent (of 3; 1 disabled)" in text
    assert "Alerts sent: 12\nPrecision from verdicts: 67% (2 of 3 relevant)" in text
    assert "<b>Failing:</b>\n• <code>2</code> Mali &lt;Web&gt;" in text
    assert "<b>Silent:</b>\n• <code>3</code> Quiet" in text
    french = plan(rows, state, week=WeekFigures(), language="fr").notices[-1].text
    assert "Précision selon les avis\u00a0: — (aucun avis)" in french
    assert "<b>Veille — semaine du 23 févr. 2026</b>" in french


def test_the_watchdog_is_pure() -> None:
    root = Path(__file__).resolve().parent.parent
    assert not imported_modules(root / "bot/watchdog.py") & set(FORBIDDEN)


# -- settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-1001234567890", "7100", " 42 "])
def test_the_admin_chat_is_a_telegram_chat_id(value: str, tmp_path: Path) -> None:
    settings = load_settings({"MCWATCH_ADMIN_CHAT": value}, cwd=tmp_path)
    assert settings.admin_chat == int(value)


@pytest.mark.parametrize("value", ["@admins", "0", "12,13", "9" * 30, "1.5"])
def test_a_bad_admin_chat_is_refused_in_one_line(value: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^MCWATCH_ADMIN_CHAT must be a Telegram chat id"):
        load_settings({"MCWATCH_ADMIN_CHAT": value}, cwd=tmp_path)


def test_no_admin_chat_by_default(tmp_path: Path) -> None:
    assert load_settings({}, cwd=tmp_path).admin_chat is None


# -- end to end through the Bot API stand-in -----------------------------------------------
@pytest.fixture
def watched(bot: Conversation) -> Iterator[Conversation]:
    """The ``bot`` conversation with ``MCWATCH_ADMIN_CHAT`` set, and no watchdog memory
    or verdicts left by another test of the module."""
    assert bot.deps is not None
    with transaction(bot.engine) as session:
        session.execute(delete(Verdict))
        session.execute(delete(Meta).where(col(Meta.key) == watch_store.STATE_KEY))
    settings = bot.deps.settings
    bot.deps.settings = replace(settings, admin_chat=ADMIN_CHAT)
    try:
        yield bot
    finally:
        bot.deps.settings = settings


def tick(bot: Conversation) -> int:
    assert bot.deps is not None
    sent: int = bot._run(watchdog_tick(bot.deps))
    return sent


def admin_texts(bot: Conversation) -> list[str]:
    return bot.botapi.texts_to(ADMIN_CHAT)


def test_a_feed_failing_then_recovering_is_told_once_each(
    watched: Conversation, feed_server: FeedServer
) -> None:
    bot = watched
    feed_server.serve("/sahel.rss", FEED)
    feed_server.serve("/web.rss", FEED)
    bot.add_feed(feed_server.url("/sahel.rss"), "Le Sahel & <Co>")
    web = bot.add_feed(feed_server.url("/web.rss"), "Mali Web")
    bot.poll()
    assert tick(bot) == 0  # the first run: the feeds as they are

    feed_server.serve("/sahel.rss", b"<html>down</html>", status=503, content_type="text/html")
    for _ in range(3):  # polls and ticks in between: still one message
        bot.clock.advance(minutes=15)
        bot.poll()
        tick(bot)
        bot.clock.advance(minutes=1)
        tick(bot)
    texts = admin_texts(bot)
    assert len(texts) == 1
    assert texts[0].startswith("⚠️ 1 feed started failing\n• ")
    assert "Le Sahel & <Co> — ×1: HTTP 503 Service Unavailable" in texts[0]

    feed_server.serve("/sahel.rss", FEED)
    for _ in range(3):
        bot.clock.advance(minutes=15)
        bot.poll()
        tick(bot)
    texts = admin_texts(bot)
    assert len(texts) == 2
    assert texts[1].startswith("✅ 1 feed works again\n• ") and "Le Sahel & <Co>" in texts[1]
    assert str(web) not in texts[0] + texts[1]
    assert bot.botapi.rejected == []


def test_a_french_admin_chat_is_told_in_french(
    watched: Conversation, feed_server: FeedServer
) -> None:
    bot = watched
    bot.register(ADMIN_CHAT, language="fr")  # the admin chat is a French subscriber
    feed_server.serve("/sahel.rss", FEED)
    bot.add_feed(feed_server.url("/sahel.rss"), "Le Sahel")
    bot.poll()
    tick(bot)
    feed_server.serve("/sahel.rss", b"<html>down</html>", status=503, content_type="text/html")
    bot.clock.advance(minutes=15)
    bot.poll()
    tick(bot)
    feed_server.serve("/sahel.rss", FEED)
    bot.clock.advance(minutes=15)
    bot.poll()
    tick(bot)
    failing, recovered = admin_texts(bot)
    assert failing.startswith("⚠️ 1 flux en échec\n• ") and "Le Sahel — ×1" in failing
    assert recovered.startswith("✅ 1 flux répond à nouveau\n• ") and "Le Sahel" in recovered
    assert bot.botapi.rejected == []


def test_the_memory_survives_a_restart(watched: Conversation) -> None:
    """The state is in the database, not the process: a new worker (a fresh read of
    the row) says nothing already said."""
    bot = watched
    feed_id = bot.add_feed("https://down.example/rss", "Down")
    tick(bot)
    with transaction(bot.engine) as session:
        feeds.record_fetch_failure(
            session, feed_id, now=bot.clock.now(), error="boom", next_poll_at=bot.clock.now()
        )
    assert tick(bot) == 1
    with transaction(bot.engine) as session:
        remembered = watch_store.load_state(session)
    assert remembered.of(feed_id).failing
    assert tick(bot) == 0 and len(admin_texts(bot)) == 1


def test_a_daily_feed_gone_silent_is_told_once(watched: Conversation) -> None:
    bot = watched
    feed_id = bot.add_feed("https://xinhua.example/rss", "Xinhua Afrique")
    start = bot.clock.now()
    with transaction(bot.engine) as session:
        for n, when in enumerate(daily(20, start - timedelta(days=1))):
            record = NewItem(
                identity=f"x:{n}",
                title=f"Dépêche {n}",
                link=None,
                summary="",
                published=when,
                language="fr",
            )
            items.add_item(session, feed_id, "Xinhua Afrique", record, when)
    tick(bot)  # the first run: not silent yet (a day since the last item)
    bot.clock.advance(days=1)
    tick(bot)
    assert admin_texts(bot) == []
    bot.clock.advance(days=1, hours=2)  # 3 days and 1 h since the last item
    tick(bot)
    for _ in range(3):
        bot.clock.advance(hours=1, minutes=1)
        tick(bot)
    texts = admin_texts(bot)
    assert len(texts) == 1
    assert texts[0].startswith("🔇 1 daily feed has gone silent\n• ")
    assert f"{feed_id} Xinhua Afrique — nothing since 2026-02-22 08:00 UTC" in texts[0]


def test_the_weekly_report_comes_once_a_week_with_its_figures(watched: Conversation) -> None:
    bot = watched
    assert bot.clock.now() == MONDAY
    with transaction(bot.engine) as session:
        subscribers.register(
            session,
            ADMIN_CHAT,
            chat_type="private",
            title="admin",
            language="fr",
            now=bot.clock.now(),
        )
    tick(bot)  # the first run, Monday 09:00: this week's report is taken as done
    bot.register(READER, language="en")
    bot.clock.advance(days=2)
    published = [bot.publish(f"Pékin et Bamako : accord {n}") for n in range(3)]
    assert bot.deliver().sent == 6  # the reader and the admin chat, a subscriber too
    reader = bot.subscriber(READER)
    assert reader is not None and reader.id is not None
    with transaction(bot.engine) as session:
        for done, verdict in zip(published, ["relevant", "relevant", "not_relevant"], strict=True):
            session.add(
                Verdict(
                    subscriber_id=reader.id,
                    item_id=done.item_id,
                    topic="security",
                    verdict=verdict,
                    created_at=bot.clock.now(),
                    updated_at=bot.clock.now(),
                )
            )
    bot.clock.current = datetime(2026, 3, 2, 7, 29, tzinfo=UTC)
    tick(bot)
    assert [t for t in admin_texts(bot) if "Veille" in t] == []
    bot.clock.current = datetime(2026, 3, 2, 7, 31, tzinfo=UTC)
    tick(bot)
    bot.clock.advance(hours=1)
    tick(bot)
    reports = [t for t in admin_texts(bot) if "Veille" in t]
    assert len(reports) == 1
    assert reports[0].startswith("Veille — semaine du 2 mars 2026\n")
    assert "Alertes envoyées\u00a0: 6" in reports[0]
    assert "Précision selon les avis\u00a0: 67\u00a0% (2 pertinentes sur 3)" in reports[0]
    assert "Flux\u00a0: 1 en bonne santé · 0 en échec · 0 muets (sur 1" in reports[0]

    # Down for three weeks: one report on return, covering the whole gap.
    bot.clock.current = datetime(2026, 3, 25, 12, 0, tzinfo=UTC)
    tick(bot)
    tick(bot)
    reports = [t for t in admin_texts(bot) if "Veille" in t]
    assert len(reports) == 2
    assert "Alertes envoyées\u00a0: 0" in reports[1] and "avis\u00a0: —" in reports[1]


def test_a_message_telegram_puts_off_is_sent_at_the_next_tick(watched: Conversation) -> None:
    bot = watched
    feed_id = bot.add_feed("https://down.example/rss", "Down")
    tick(bot)
    with transaction(bot.engine) as session:
        feeds.record_fetch_failure(
            session, feed_id, now=bot.clock.now(), error="boom", next_poll_at=bot.clock.now()
        )
    bot.botapi.fail_next(500, method="sendMessage")
    assert tick(bot) == 0
    assert admin_texts(bot) == []
    bot.clock.advance(minutes=1)
    assert tick(bot) == 1
    assert tick(bot) == 0
    assert len(admin_texts(bot)) == 1


def test_nothing_is_sent_or_stored_without_an_admin_chat(
    bot: Conversation, feed_server: FeedServer
) -> None:
    assert bot.deps is not None and bot.deps.settings.admin_chat is None
    feed_server.serve("/down.rss", b"", status=503)
    bot.add_feed(feed_server.url("/down.rss"), "Down")
    with transaction(bot.engine) as session:
        session.execute(delete(Meta).where(col(Meta.key) == watch_store.STATE_KEY))
    for _ in range(3):
        bot.poll()
        assert tick(bot) == 0
        bot.clock.advance(days=3)
    assert bot.botapi.sent == []
    with transaction(bot.engine) as session:
        assert session.get(Meta, watch_store.STATE_KEY) is None


# -- console mode and the store, on both databases ---------------------------------------
def test_console_mode_prints_the_watchdogs_messages(
    engine: Engine, feed_server: FeedServer
) -> None:
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/a.rss", FEED)
    add_feed(engine, feed_server.url("/a.rss"), clock, name="Le Sahel")
    out = io.StringIO()

    async def run() -> None:
        async with deps_for(engine, clock, ConsoleSender(out), admin_chat=ADMIN_CHAT) as deps:
            await jobs.run_once(deps, None)  # polls, then the watchdog's first run
            feed_server.serve("/a.rss", b"", status=503)
            clock.advance(hours=1)
            await jobs.run_once(deps, None)

    asyncio.run(run())
    printed = out.getvalue()
    assert f"── message to chat {ADMIN_CHAT} " in printed
    assert "⚠️ 1 feed started failing\n• 1 Le Sahel — ×1: HTTP 503" in printed


def test_the_state_round_trips_and_a_broken_one_starts_afresh(engine: Engine) -> None:
    state = (
        WatchState(
            baseline=True,
            silence_checked_at=MONDAY,
            report_slot=MONDAY - timedelta(hours=2),
            report_end=MONDAY,
        )
        .with_feed(3, Announced(failing=True, recovered_at=MONDAY))
        .with_feed(4, Announced(silent_since=MONDAY - timedelta(days=4)))
        .with_feed(5, Announced())
    )
    with transaction(engine) as session:
        watch_store.save_state(session, state)
    with transaction(engine) as session:
        assert watch_store.load_state(session) == state
    assert set(state.feeds) == {3, 4}
    assert watch_store.decode_state("{not json") == WatchState()
    assert watch_store.decode_state('{"feeds": {"x": {}}}') == WatchState()


def test_the_stores_figures(engine: Engine) -> None:
    clock = FixedClock()
    feed_id = add_feed(engine, "https://a.example/rss", clock, name="A")
    start = clock.now() - timedelta(days=7)
    with transaction(engine) as session:
        for n, when in enumerate(daily(10, clock.now())):
            record = NewItem(
                identity=f"a:{n}",
                title=f"T {n}",
                link=None,
                summary="",
                published=when + timedelta(days=5) if n == 0 else when,
                language="fr",
            )
            items.add_item(session, feed_id, "A", record, when)
        old = NewItem(
            identity="old",
            title="Old",
            link=None,
            summary="",
            published=clock.now() - timedelta(days=40),
            language="fr",
        )
        items.add_item(session, feed_id, "A", old, clock.now())
        reader, _ = subscribers.register(
            session, 1, chat_type="private", title="r", language="en", now=clock.now()
        )
        assert reader.id is not None
        stored = items.add_item(
            session,
            None,
            "B",
            NewItem(
                identity="b", title="B", link=None, summary="", published=clock.now(), language="fr"
            ),
            clock.now(),
        )
        assert stored.id is not None
        for topic, verdict, when in [
            ("security", "relevant", start + timedelta(days=1)),
            ("mining", "not_relevant", start + timedelta(days=2)),
            ("energy", "relevant", start - timedelta(seconds=1)),  # the week before
        ]:
            session.add(
                Verdict(
                    subscriber_id=reader.id,
                    item_id=stored.id,
                    topic=topic,
                    verdict=verdict,
                    created_at=when,
                    updated_at=when,
                )
            )
    with transaction(engine) as session:
        found = watch_store.cadences(session, clock.now())
        week = watch_store.week_figures(session, start, clock.now())
        health = watch_store.feed_health(session)
        language = watch_store.chat_language(session, 1), watch_store.chat_language(session, 2)
    assert set(found) == {feed_id}
    assert found[feed_id].items == 10 and found[feed_id].daily
    assert found[feed_id].last == daily(10, clock.now())[0]  # a future date: its fetch time
    assert week == WeekFigures(alerts_sent=0, relevant=1, not_relevant=1)
    assert health == [FeedHealth(feed_id, "A", "new", 0, None)]
    assert language == ("en", "en")


def test_a_snapshot_reads_the_history_only_when_due(engine: Engine) -> None:
    clock = FixedClock()
    with transaction(engine) as session:
        first = watch_store.snapshot(
            session, clock.now(), admin_chat=ADMIN_CHAT, timezone=BAMAKO, report_at=AT
        )
        assert first.cadences == {} and first.week is None  # a first run: no report
        checked = WatchState(baseline=True, silence_checked_at=clock.now())
        watch_store.save_state(session, checked)
        later = watch_store.snapshot(
            session,
            clock.now() + timedelta(minutes=5),
            admin_chat=ADMIN_CHAT,
            timezone=BAMAKO,
            report_at=AT,
        )
    assert later.cadences is None
    assert later.week == WeekFigures()  # the report never sent: due, figures read
