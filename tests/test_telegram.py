"""The Telegram bot through its real interface: Bot API updates in, Bot API calls out.

Every test talks to the real Application (handlers, keyboards, i18n), the real outbox
and ``TelegramSender``, over HTTP to the Bot API stand-in, with a real database (and
PostgreSQL when named). Time is a FixedClock; nothing sleeps. See
``tests/support/telegram.py`` for the conversation helper. Admin commands and groups:
``tests/test_telegram_admin.py``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.text import languages
from tests.support.telegram import Conversation, all_slugs, button_data, button_labels

CHAT = 5001  # a private chat: the chat id is the user id
NBSP = "\u00a0"


def french(text: str) -> str:
    """``text`` as French typography shows it: written here with an ordinary space
    before ``: ; ? ! »`` and after ``«``, which the bot sends as a no-break space."""
    for mark in ":;?!»":
        text = text.replace(f" {mark}", NBSP + mark)
    return text.replace("« ", "«" + NBSP)


# -- every command, in both languages -----------------------------------------------
# (command, what a French reader sees, what an English reader sees). Written out here,
# not read from the locale files, so a missing or untranslated text fails.
REPLIES = [
    pytest.param(
        "/help", "veille Mali–Chine", "Mali–China news watch", id="help lists the commands"
    ),
    pytest.param("/topics", "Touchez un thème", "Tap a topic", id="topics offers buttons"),
    pytest.param(
        "/subscribe",
        "Usage : /subscribe THÈME…",
        "Usage: /subscribe TOPIC…",
        id="subscribe without a topic explains itself",
    ),
    pytest.param(
        "/unsubscribe mining",
        "Désabonné·e de : mining",
        "Unsubscribed from: mining",
        id="unsubscribe confirms the topic",
    ),
    pytest.param(
        "/subscribe security",
        "Rien n'a changé : security",
        "Nothing changed: security",
        id="subscribe to a topic already followed says nothing changed",
    ),
    pytest.param(
        "/mode both",
        "Mode : alertes instantanées et résumé quotidien",
        "Mode: instant alerts and daily digest",
        id="mode confirms in words",
    ),
    pytest.param(
        "/digesttime 06:45",
        "Résumé quotidien à 06:45 (Africa/Bamako)",
        "Daily digest at 06:45 (Africa/Bamako)",
        id="digesttime confirms time and zone",
    ),
    pytest.param(
        "/timezone Asia/Shanghai",
        "Fuseau horaire : Asia/Shanghai",
        "Timezone: Asia/Shanghai",
        id="timezone confirms the zone",
    ),
    pytest.param(
        "/quiet 22:00-07:00",
        "Silence de 22:00 à 07:00",
        "Quiet from 22:00 to 07:00",
        id="quiet confirms the hours",
    ),
    pytest.param(
        "/quiet off", "Plus d'heures de silence", "No more quiet hours", id="quiet off confirms"
    ),
    pytest.param(
        "/latest",
        "Aucun article pour vos thèmes",
        "No stories for your topics",
        id="latest with nothing stored says so",
    ),
    pytest.param(
        "/search barrage",
        "Aucun article trouvé pour « barrage »",
        "No story found for “barrage”",
        id="search with no hit says so",
    ),
    pytest.param(
        "/digest",
        "Rien de nouveau depuis le dernier résumé",
        "Nothing new since the last digest",
        id="digest with nothing new says so",
    ),
    pytest.param(
        "/trend",
        "Sujets par thème, 14 derniers jours",
        "Stories per topic, last 14 days",
        id="trend sends a captioned chart",
    ),
    pytest.param("/pause", "Alertes en pause", "Alerts paused", id="pause confirms"),
    pytest.param("/resume", "Alertes reprises", "Alerts resumed", id="resume confirms"),
    pytest.param(
        "/lang", "Usage : /lang fr", "Usage: /lang fr", id="lang without a choice explains"
    ),
    pytest.param(
        "/stop",
        "Tout arrêter et effacer les données de ce chat",
        "Stop everything and erase this chat's data",
        id="stop asks before forgetting",
    ),
    pytest.param(
        "/settings",
        "Vos réglages",
        "Your settings",
        id="settings shows the settings",
    ),
]


@pytest.mark.parametrize("language", languages())
@pytest.mark.parametrize(("command", "in_french", "english"), REPLIES)
def test_every_command_answers_in_the_readers_language(
    bot: Conversation, language: str, command: str, in_french: str, english: str
) -> None:
    bot.say(CHAT, "/start", language_code=language)
    answer = bot.said(CHAT, command, language_code=language)
    expected, other = (
        (french(in_french), english) if language == "fr" else (english, french(in_french))
    )
    assert expected in answer
    assert other not in answer
    if language == "fr":  # French typography: never an ordinary (breaking) space there
        assert not re.search(r" [:;?!»]|« ", answer), answer
    assert bot.botapi.rejected == []


@pytest.mark.parametrize(
    ("language_code", "welcome", "language"),
    [
        pytest.param("fr", "Bienvenue sur mcwatch", "fr", id="a French Telegram gets French"),
        pytest.param("fr-CA", "Bienvenue sur mcwatch", "fr", id="any French variant gets French"),
        pytest.param("en", "Welcome to mcwatch", "en", id="an English Telegram gets English"),
        pytest.param("de", "Welcome to mcwatch", "en", id="another language gets English"),
        pytest.param(None, "Welcome to mcwatch", "en", id="no language at all gets English"),
    ],
)
def test_start_registers_with_all_topics_instant_in_the_users_language(
    bot: Conversation, language_code: str | None, welcome: str, language: str
) -> None:
    assert bot.subscriber(CHAT) is None
    assert welcome in bot.said(CHAT, "/start", language_code=language_code)
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None and subscriber.active and not subscriber.paused
    assert (subscriber.language, subscriber.mode) == (language, "instant")
    assert bot.subscriptions(CHAT) == all_slugs(bot.engine)


def test_start_again_keeps_the_settings(bot: Conversation) -> None:
    bot.say(CHAT, "/start", language_code="fr")
    bot.say(CHAT, "/unsubscribe mining")
    bot.say(CHAT, "/mode digest")
    assert "de nouveau abonné·e" in bot.said(CHAT, "/start", language_code="fr")
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None and subscriber.mode == "digest"
    assert "mining" not in bot.subscriptions(CHAT)


@pytest.mark.parametrize(
    ("command", "language"),
    [
        ("/topics", "fr"),
        ("/subscribe security", "en"),
        ("/mode digest", "fr"),
        ("/quiet off", "en"),
        ("/latest", "fr"),
        ("/pause", "en"),
        ("/digest", "fr"),
        ("/trend", "en"),
    ],
)
def test_a_stranger_is_told_to_start_and_nothing_is_stored(
    bot: Conversation, command: str, language: str
) -> None:
    answer = bot.said(CHAT, command, language_code=language)
    assert ("Envoyez /start" if language == "fr" else "Send /start") in answer
    assert bot.subscriber(CHAT) is None


def test_lang_switches_the_whole_interface(bot: Conversation) -> None:
    bot.say(CHAT, "/start", language_code="fr")
    assert bot.said(CHAT, "/lang en", language_code="fr") == "Language: English."
    # The chosen language wins over Telegram's from now on.
    assert "Mali–China news watch" in bot.said(CHAT, "/help", language_code="fr")
    bot.publish("Bamako et Pékin signent un accord", terms=("chine",))
    bot.deliver()
    assert "terms: chine" in bot.botapi.texts_to(CHAT)[-1]
    assert bot.said(CHAT, "/LANG FR") == french("Langue : français.")
    assert "veille Mali–Chine" in bot.said(CHAT, "/help", language_code="en")
    bot.publish("Pékin finance une route au Mali", terms=("chine",))
    bot.deliver()
    assert french("termes : chine") in bot.botapi.texts_to(CHAT)[-1]


# -- settings: what changes and what is refused --------------------------------------
SETTINGS = [
    pytest.param("/mode digest", {"mode": "digest"}, id="mode digest"),
    pytest.param("/mode BOTH", {"mode": "both"}, id="mode is case-insensitive"),
    pytest.param("/digesttime 6:05", {"digest_time": "06:05"}, id="digesttime pads the hour"),
    pytest.param("/timezone Europe/Paris", {"timezone": "Europe/Paris"}, id="timezone"),
    pytest.param("/timezone UTC", {"timezone": "UTC"}, id="timezone UTC"),
    pytest.param(
        "/quiet 22:30-6:00",
        {"quiet_start": "22:30", "quiet_end": "06:00"},
        id="quiet hours across midnight",
    ),
    pytest.param(
        "/quiet 22:00 – 07:00",
        {"quiet_start": "22:00", "quiet_end": "07:00"},
        id="quiet hours with spaces and an en dash",
    ),
    pytest.param("/lang en", {"language": "en"}, id="lang en"),
    pytest.param("/pause", {"paused": True}, id="pause"),
]


def state(bot: Conversation) -> tuple[dict[str, Any], set[str]]:
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None
    return subscriber.model_dump(exclude={"id", "created_at"}), bot.subscriptions(CHAT)


@pytest.mark.parametrize(("command", "changes"), SETTINGS)
def test_a_setting_is_stored(bot: Conversation, command: str, changes: dict[str, Any]) -> None:
    bot.say(CHAT, "/start", language_code="fr")
    before, topics = state(bot)
    bot.say(CHAT, command)
    after, topics_after = state(bot)
    assert {k: v for k, v in after.items() if before[k] != v} == changes
    assert topics_after == topics


BAD_ARGUMENTS = [
    pytest.param("/digesttime 25:00", "/digesttime 07:30", id="digesttime 25:00 is not a time"),
    pytest.param("/digesttime 7h30", "/digesttime 07:30", id="digesttime 7h30 is not HH:MM"),
    pytest.param("/digesttime", "(now: 07:30)", id="digesttime alone shows the current time"),
    pytest.param("/timezone Mars/Olympus", "Africa/Bamako", id="timezone on Mars is unknown"),
    pytest.param("/timezone Bamako", "Africa/Bamako", id="timezone needs Area/City"),
    pytest.param(
        "/timezone America/Argentina", "Africa/Bamako", id="timezone that is a region, not a city"
    ),
    pytest.param("/timezone ../../etc/passwd", "Africa/Bamako", id="timezone is not a path"),
    pytest.param("/timezone EST", "Africa/Bamako", id="timezone that is a legacy abbreviation"),
    pytest.param("/subscribe nosuch", "security, defense", id="subscribe to an unknown topic"),
    pytest.param(
        "/unsubscribe security nosuch",
        "security, defense",
        id="one unknown topic changes none of them",
    ),
    pytest.param("/unsubscribe", "/unsubscribe all", id="unsubscribe alone explains"),
    pytest.param("/mode loud", "instant|digest|both", id="mode that does not exist"),
    pytest.param("/lang de", "/lang fr|en", id="lang that is not offered"),
    pytest.param("/quiet 22:00", "22:00-07:00", id="quiet with only a start"),
    pytest.param("/quiet 25:00-07:00", "22:00-07:00", id="quiet at an impossible hour"),
    pytest.param("/quiet 22:00-22:00", "22:00-07:00", id="quiet that starts when it ends"),
    pytest.param("/quiet 7:00-07:00", "22:00-07:00", id="quiet that starts when it ends, padded"),
    pytest.param("/quiet tonight", "/quiet off", id="quiet in words"),
    pytest.param("/latest 0", "1 to 20", id="latest zero"),
    pytest.param("/latest 21", "1 to 20", id="latest more than twenty"),
    pytest.param("/latest some", "1 to 20", id="latest in words"),
    pytest.param("/search", "/search barrage Kenie*", id="search without words shows an example"),
]


@pytest.mark.parametrize(("command", "hint"), BAD_ARGUMENTS)
def test_a_bad_argument_gets_help_and_changes_nothing(
    bot: Conversation, command: str, hint: str
) -> None:
    bot.say(CHAT, "/start", language_code="en")
    before = state(bot)
    answer = bot.said(CHAT, command)
    assert hint in answer
    assert state(bot) == before
    assert bot.botapi.rejected == []


def test_a_bad_argument_gets_help_in_french(bot: Conversation) -> None:
    bot.say(CHAT, "/start", language_code="fr")
    assert "ex. /digesttime 07:30" in bot.said(CHAT, "/digesttime 25:00")
    assert "ex. /timezone Africa/Bamako" in bot.said(CHAT, "/timezone Mars/Olympus")
    assert french("Thème inconnu : nosuch") in bot.said(CHAT, "/subscribe nosuch")


def test_settings_show_the_defaults_then_the_choices(bot: Conversation) -> None:
    bot.say(CHAT, "/start", language_code="en")
    shown = bot.said(CHAT, "/settings")
    assert "07:30" in shown and "Africa/Bamako" in shown  # MCWATCH_DIGEST_TIME, _TIMEZONE
    for command in ("/digesttime 6:05", "/timezone Asia/Shanghai", "/quiet 22:00–7:00"):
        bot.say(CHAT, command)
    shown = bot.said(CHAT, "/settings")
    assert "06:05" in shown and "Asia/Shanghai" in shown and "22:00–07:00" in shown
    assert "07:30" not in shown and "Africa/Bamako" not in shown
    assert "Daily digest at 07:00 (Asia/Shanghai)" in bot.said(CHAT, "/digesttime 7:00")
    assert "(Asia/Shanghai)" in bot.said(CHAT, "/quiet 23:00-06:00")


# -- one read of the chat per update, and one write ----------------------------------
_SUBSCRIBER_TABLES = re.compile(r"\b(subscribers|subscriptions)\b")
_WRITE = re.compile(r"^\s*(UPDATE|INSERT INTO|DELETE FROM)\s+(subscribers|subscriptions)\b")


@contextmanager
def subscriber_transactions(engine: Engine) -> Iterator[list[str]]:
    """Each database transaction that touched the chat's rows (subscriber,
    subscriptions), in order: "write" if it changed one, else "read"."""
    counter = itertools.count()
    current: dict[int, int] = {}
    statements: list[tuple[int, str]] = []

    def begin(connection: Any) -> None:
        current[id(connection)] = next(counter)

    def execute(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append((current.get(id(connection), -1), statement))

    seen: list[str] = []
    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", execute)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "before_cursor_execute", execute)
    for _, group in itertools.groupby(statements, key=lambda pair: pair[0]):
        touched = [sql for _, sql in group if _SUBSCRIBER_TABLES.search(sql)]
        if touched:
            seen.append("write" if any(_WRITE.match(sql) for sql in touched) else "read")


ONE_READ = [
    pytest.param("/timezone Europe/Paris", ["read", "write"], id="timezone"),
    pytest.param("/timezone Mars/Olympus", ["read"], id="a refused timezone writes nothing"),
    pytest.param("/digesttime 06:00", ["read", "write"], id="digesttime"),
    pytest.param("/quiet 22:00-07:00", ["read", "write"], id="quiet"),
    pytest.param("/quiet off", ["read", "write"], id="quiet off"),
    pytest.param("/mode digest", ["read", "write"], id="mode"),
    pytest.param("/lang en", ["read", "write"], id="lang"),
    pytest.param("/resume", ["read", "write"], id="resume"),
    pytest.param("/unsubscribe mining", ["read", "write"], id="unsubscribe"),
    pytest.param("/settings", ["read"], id="settings"),
    pytest.param("/topics", ["read"], id="topics"),
    pytest.param("/latest", ["read"], id="latest"),
    pytest.param("/help", ["read"], id="help"),
    pytest.param("/start", ["write"], id="start again (unpauses): read and write in one"),
]


@pytest.mark.parametrize(("command", "transactions"), ONE_READ)
def test_a_command_reads_the_chat_once_and_writes_it_at_most_once(
    bot: Conversation, command: str, transactions: list[str]
) -> None:
    # Every command in the table changes something (the store writes no unchanged row).
    for setup in ("/start", "/quiet 21:00-06:00", "/pause"):
        bot.say(CHAT, setup, language_code="fr")
    with subscriber_transactions(bot.engine) as seen:
        assert bot.said(CHAT, command)
    assert seen == transactions


def test_subscribe_and_unsubscribe_by_slug_decide_what_is_alerted(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    assert "Unsubscribed from:" in bot.said(CHAT, "/unsubscribe all")
    assert bot.subscriptions(CHAT) == set()
    assert bot.publish("Mines d'or : Pékin et Bamako", topics=("mining",)).queued == 0
    assert "mining, energy" in bot.said(CHAT, "/subscribe #mining Energy")
    assert bot.subscriptions(CHAT) == {"mining", "energy"}
    assert bot.publish("Lithium : un accord sino-malien", topics=("mining",)).queued == 1
    assert bot.publish("Sécurité à Bamako", topics=("security",)).queued == 0
    assert bot.deliver().sent == 1
    assert "Lithium" in bot.botapi.texts_to(CHAT)[-1]


def test_digest_mode_gets_no_instant_alert(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    bot.say(CHAT, "/mode digest")
    assert bot.publish("Pékin et Bamako").queued == 0
    bot.say(CHAT, "/mode both")
    assert bot.publish("Bamako et Pékin, encore").queued == 1


# -- /latest, /search, /digest with stories -------------------------------------------
def test_latest_search_and_digest_show_stored_stories(bot: Conversation) -> None:
    bot.say(CHAT, "/start", language_code="fr")
    bot.publish(
        "Barrage de Kénié : la Chine finance",
        "Un prêt chinois au Mali.",
        topics=("energy",),
        source="Le Sahel",
    )
    bot.publish("Sécurité : patrouilles sino-maliennes", topics=("security",), source="Mali Web")
    bot.publish("Machines agricoles", topics=("agriculture",))
    bot.say(CHAT, "/unsubscribe agriculture")

    latest = bot.said(CHAT, "/latest")
    assert "Derniers articles" in latest
    assert "Barrage de Kénié" in latest and "patrouilles sino-maliennes" in latest
    assert "Machines agricoles" not in latest  # not one of my topics
    assert latest.count("•") == 2
    assert bot.said(CHAT, "/latest 1").count("•") == 1

    found = bot.said(CHAT, "/search kenie barrage")  # accents and order do not matter
    assert french("Résultats pour « kenie barrage »") in found and "Barrage de Kénié" in found
    assert "patrouilles" not in found
    # The rule language of `mcwatch items search`: whole words, prefixes with '*'.
    assert "Barrage de Kénié" in bot.said(CHAT, "/search chin*")
    assert "Machines" not in bot.said(CHAT, "/search chine")
    assert "Machines agricoles" in bot.said(CHAT, "/search machine*")
    assert "Barrage de Kénié" not in bot.said(CHAT, "/search barrage -prêt")
    assert "Aucun article" in bot.said(CHAT, "/search hine")
    refused = bot.said(CHAT, "/search chine^2")  # the parser's hint is English: the column
    assert "erreur à la colonne 6" in refused and "boosts" not in refused
    bot.say(CHAT, "/lang en")
    refused = bot.said(CHAT, "/search chine^2")
    assert "boosts" in refused and "column 6" in refused
    bot.say(CHAT, "/lang fr")

    bot.clock.advance(minutes=5)  # a digest covers [last one, now)
    replies = bot.say(CHAT, "/digest")
    digest = "\n".join(m.plain or "" for m in replies if m.plain)
    assert "Résumé du 23 févr. 2026 — 2 sujets" in digest
    assert "Barrage de Kénié" in digest and "patrouilles" in digest
    assert "Machines" not in digest
    # A daily reader's digest ends with the trend as a line (the PNG is the weekly's and
    # /trend's: MCWATCH_DIGEST_CHART=weekly).
    assert [m for m in replies if m.photo is not None] == []
    assert digest.replace("\u00a0", " ").splitlines()[-1].startswith(
        "Sujets par thème, 14 derniers jours : "
    )
    assert bot.botapi.rejected == []


# -- /topics buttons -----------------------------------------------------------------
def test_topics_buttons_toggle_subscriptions_and_redraw(bot: Conversation) -> None:
    bot.say(CHAT, "/start", language_code="fr")
    [keyboard] = bot.say(CHAT, "/topics")
    slugs = all_slugs(bot.engine)
    assert {d.removeprefix("t:") for d in button_data(keyboard)} == slugs
    assert all(label.startswith("✅") for label in button_labels(keyboard).values())

    answer = bot.press(CHAT, keyboard, "t:mining")
    assert answer["text"] == "❌ Mines / Mining"
    assert bot.subscriptions(CHAT) == slugs - {"mining"}
    labels = button_labels(keyboard)  # the same message, its keyboard redrawn
    assert labels["t:mining"].startswith("▫️")
    assert all(labels[f"t:{s}"].startswith("✅") for s in slugs - {"mining"})
    assert bot.publish("Or : une mine chinoise", topics=("mining",)).queued == 0

    answer = bot.press(CHAT, keyboard, "t:mining")
    assert answer["text"] == "✅ Mines / Mining"
    assert bot.subscriptions(CHAT) == slugs
    assert button_labels(keyboard)["t:mining"].startswith("✅")
    assert bot.publish("Or : une autre mine chinoise", topics=("mining",)).queued == 1


def test_an_old_keyboard_after_stop_changes_nothing(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    [keyboard] = bot.say(CHAT, "/topics")
    [question] = bot.say(CHAT, "/stop")
    bot.press(CHAT, question, "stop:yes")
    answer = bot.press(CHAT, keyboard, "t:security")
    assert "Send /start" in answer["text"]
    assert bot.subscriber(CHAT) is None


# -- quiet hours ---------------------------------------------------------------------
def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 2, day, hour, minute, tzinfo=UTC)


QUIET = [
    pytest.param(
        "Africa/Bamako",
        "22:00-07:00",
        utc(23, 23),
        utc(24, 7),
        id="an alert at 23:00 in Bamako waits for 07:00",
    ),
    pytest.param(
        "Africa/Bamako",
        "22:00-07:00",
        utc(24, 3),
        utc(24, 7),
        id="an alert after midnight waits for the same morning",
    ),
    pytest.param(
        "Asia/Shanghai",
        "22:00-07:00",
        utc(23, 15),
        utc(23, 23),
        id="quiet hours are the reader's local hours (23:00 in Shanghai is 15:00 UTC)",
    ),
    pytest.param(
        "Europe/Paris",
        "12:00-14:00",
        utc(23, 11, 30),
        utc(23, 13),
        id="a lunch break in Paris ends at 13:00 UTC",
    ),
]


@pytest.mark.parametrize(("zone", "hours", "arrives", "released"), QUIET)
def test_quiet_hours_hold_instant_alerts_until_they_end(
    bot: Conversation, zone: str, hours: str, arrives: datetime, released: datetime
) -> None:
    bot.say(CHAT, "/start")
    bot.say(CHAT, f"/timezone {zone}")
    bot.say(CHAT, f"/quiet {hours}")
    bot.clock.current = arrives
    bot.publish("Bamako et Pékin, la nuit")
    bot.publish("Bamako et Pékin, encore la nuit")
    sent_before = len(bot.botapi.sent)

    assert bot.deliver().held == 2
    assert len(bot.botapi.sent) == sent_before
    # Commands still answer during quiet hours.
    assert "Quiet from" in bot.said(CHAT, f"/quiet {hours}")
    sent_before = len(bot.botapi.sent)
    bot.clock.current = released
    bot.clock.advance(minutes=-1)
    assert bot.deliver().sent == 0
    assert len(bot.botapi.sent) == sent_before

    bot.clock.current = released
    assert bot.deliver().sent == 2
    texts = bot.botapi.texts_to(CHAT)[-2:]
    assert "la nuit" in texts[0] and "encore la nuit" in texts[1]
    assert bot.delivery_statuses() == {"sent": 2}


def test_outside_quiet_hours_alerts_go_at_once_and_off_ends_them(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    bot.say(CHAT, "/quiet 22:00-07:00")
    bot.clock.current = utc(23, 12)
    bot.publish("À midi")
    assert bot.deliver().sent == 1
    bot.clock.current = utc(23, 23)
    bot.say(CHAT, "/quiet off")
    bot.publish("À 23 heures")
    assert bot.deliver().sent == 1


# -- pause, resume, stop -------------------------------------------------------------
def test_pause_holds_and_resume_releases_everything(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    bot.publish("Avant la pause")
    bot.say(CHAT, "/pause")
    bot.publish("Pendant la pause, un")
    bot.clock.advance(hours=3)
    bot.publish("Pendant la pause, deux")
    sent_before = len(bot.botapi.sent)
    assert bot.deliver().sent == 0
    bot.clock.advance(hours=3)
    assert bot.deliver().sent == 0
    assert len(bot.botapi.sent) == sent_before

    bot.say(CHAT, "/resume")
    assert bot.deliver().sent == 3
    alerts = bot.botapi.texts_to(CHAT)[-3:]
    assert ["Avant la pause" in alerts[0], "un" in alerts[1], "deux" in alerts[2]] == [True] * 3
    assert bot.deliver().sent == 0
    assert bot.delivery_statuses() == {"sent": 3}


def test_stop_forgets_the_subscriber_and_nothing_more_is_sent(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    bot.say(CHAT, "/quiet 22:00-07:00")
    bot.publish("Sent before stop")
    bot.deliver()
    bot.publish("Queued at stop")
    [question] = bot.say(CHAT, "/stop")
    bot.press(CHAT, question, "stop:yes")
    assert "your data is erased" in bot.botapi.texts_to(CHAT)[-1]

    assert bot.subscriber(CHAT) is None
    assert bot.deliveries_of(CHAT) == []
    assert bot.delivery_statuses() == {}  # queued and sent rows went with the subscriber
    assert subscription_rows(bot) == 0
    sent_before = len(bot.botapi.sent)
    assert bot.publish("After stop").queued == 0
    assert bot.deliver().sent == 0
    assert len(bot.botapi.sent) == sent_before
    assert "Send /start" in bot.said(CHAT, "/stop")


def subscription_rows(bot: Conversation) -> int:
    from sqlmodel import func, select

    from store.db import transaction
    from store.models import Subscription

    with transaction(bot.engine) as session:
        return int(session.exec(select(func.count()).select_from(Subscription)).one())


# -- a user who blocked the bot ------------------------------------------------------
def test_a_blocked_user_costs_one_403_and_is_deactivated(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    for n in range(3):
        bot.publish(f"Pékin et Bamako {n}")
    bot.botapi.block(CHAT)
    calls_before = len(bot.botapi.calls)

    report = bot.deliver()
    assert (report.sent, report.blocked) == (0, 1)
    sends = [
        params
        for method, params in bot.botapi.calls[calls_before:]
        if method.startswith("send") and int(params["chat_id"]) == CHAT
    ]
    assert len(sends) == 1
    assert [r for r in bot.botapi.rejected if r[1] == CHAT] == [
        ("sendMessage", CHAT, "Forbidden: bot was blocked by the user")
    ]
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None and not subscriber.active
    assert bot.delivery_statuses() == {"failed": 3}

    calls_before = len(bot.botapi.calls)
    assert bot.publish("Pékin et Bamako, plus tard").queued == 0
    bot.clock.advance(hours=2)
    assert bot.deliver().sent == 0
    assert not any(m.startswith("send") for m, _ in bot.botapi.calls[calls_before:])


def test_a_reader_who_unblocks_and_starts_again_gets_alerts_again(bot: Conversation) -> None:
    bot.say(CHAT, "/start", language_code="fr")
    bot.say(CHAT, "/unsubscribe mining")
    bot.publish("Avant le blocage")
    bot.botapi.block(CHAT)
    assert bot.deliver().blocked == 1
    bot.botapi.blocked.discard(CHAT)
    assert "de nouveau abonné·e" in bot.said(CHAT, "/start", language_code="fr")
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None and subscriber.active
    assert "mining" not in bot.subscriptions(CHAT)  # the choices were kept
    bot.publish("Après le retour")
    assert bot.deliver().sent == 1
    assert "Après le retour" in bot.botapi.texts_to(CHAT)[-1]


# -- Telegram says "later" ------------------------------------------------------------
LATER = [
    pytest.param(
        lambda api: api.retry_after_next(3, chat_id=CHAT),
        0,
        1,
        id="a short 429 retry_after is waited out at once (on the clock, not in real time)",
    ),
    pytest.param(
        lambda api: api.retry_after_next(60, chat_id=CHAT),
        60,
        0,
        id="a long 429 retry_after puts the alert back until then",
    ),
    pytest.param(
        lambda api: api.fail_next(502, method="sendMessage"),
        5,
        0,
        id="a 502 is retried a few seconds later",
    ),
]


@pytest.mark.parametrize(("fault", "wait", "sent_at_once"), LATER)
def test_telegram_saying_later_delays_the_alert_and_loses_nothing(
    bot: Conversation, fault: Any, wait: int, sent_at_once: int
) -> None:
    bot.register(CHAT, language="fr")
    bot.publish("Pékin et Bamako, malgré tout")
    fault(bot.botapi)
    assert bot.deliver().sent == sent_at_once
    if not sent_at_once:
        bot.clock.advance(seconds=wait - 1)
        assert bot.deliver().sent == 0
        bot.clock.advance(seconds=1)
        assert bot.deliver().sent == 1
    assert bot.delivery_statuses() == {"sent": 1}
    assert len(bot.botapi.texts_to(CHAT)) == 1


def test_the_command_menu_is_published_in_both_languages(bot: Conversation) -> None:
    from bot.telegram.app import publish_commands

    assert bot.application is not None
    bot._run(publish_commands(bot.application))
    menus = {c.get("language_code", ""): json.loads(c["commands"]) for c in bot.botapi.commands}
    assert set(menus) == {"fr", "en", ""}
    spec = (
        "start help settings topics subscribe unsubscribe mode digesttime digestday timezone lang "
        "quiet "
        "latest search watch watches unwatch digest trend pause resume stop"
    ).split()
    for menu in menus.values():
        assert [c["command"] for c in menu] == spec
    french = {c["command"]: c["description"] for c in menus["fr"]}
    english = {c["command"]: c["description"] for c in menus["en"]}
    assert french["stop"] == "Tout arrêter et m'oublier" and english["stop"] == "Stop and forget me"
    assert menus[""] == menus["en"]
