"""The bot answers every message: replies survive a failing Bot API, every call to a chat
waits in the one Pacer, and what cannot be answered is one log line.

Through the real python-telegram-bot over HTTP to the Bot API stand-in
(tests/support/botapi.py), as tests/test_telegram.py does. The ``bot`` conversation
paces on its FixedClock (nothing sleeps); ``paced_bot`` paces for real against a
stand-in with Telegram's own flood limits, and takes a few seconds of real time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.deliver.pacing import Limits, Pacer
from tests.support.botapi import BotApi, FloodLimits
from tests.support.builders import seeded
from tests.support.telegram import TOKEN, Conversation, all_slugs, button_data, button_labels

CHAT = 5001
NBSP = "\u00a0"


def french(text: str) -> str:
    """``text`` as French typography shows it: written here with an ordinary space
    before ``:``, which the bot sends as a no-break space (English has none)."""
    return text.replace(" :", NBSP + ":")


USERS = (6001, 6002, 6003, 6004, 6005, 6006)
POINTER = {
    "fr": "Je ne connais pas /frobnicate. /help liste les commandes.",
    "en": "I don't know /frobnicate. /help lists the commands.",
}
FREE_TEXT = {
    "fr": "Je ne réponds qu'aux commandes. /help les liste.",
    "en": "I only answer commands. /help lists them.",
}


# -- a Bot API failing half of the time ----------------------------------------------
SCRIPT = [
    ("/start", "Welcome to mcwatch"),
    ("/help", "Mali–China news watch"),
    ("/settings", "Your settings"),
    ("/mode digest", "Mode: daily digest."),
    ("/topics", "Tap a topic to toggle it."),
]


def test_every_reply_arrives_once_when_half_the_calls_fail(bot: Conversation) -> None:
    """30 commands and 6 keyboard redraws from 6 readers, interleaved, while the Bot API
    answers 429 (retry_after 1 s) or 500 to half of the calls to a chat. The seed fixes
    the faults (27 here, at most 7 in a row on one reply); a reply is lost only after 10
    failures in a row (1 in 1024 at this rate). Before replies were retried, 15 of the
    24 replies other than /settings's were lost under this seed."""
    bot.botapi.faulty(0.5, seed=3, retry_after=1)
    started, clock_before = time.monotonic(), bot.clock.now()
    for command, _ in SCRIPT:
        for user in USERS:
            bot.botapi.push_message(user, command)
    bot.handle()
    for user in USERS:
        keyboard = bot.botapi.messages_to(user)[-1]
        bot.botapi.push_callback(user, "t:mining", message_id=keyboard.message_id)
    bot.handle()

    for user in USERS:
        texts = bot.botapi.texts_to(user)
        assert len(texts) == len(SCRIPT), texts  # each reply exactly once
        assert all(expected in text for (_, expected), text in zip(SCRIPT, texts, strict=True))
        keyboard = bot.botapi.messages_to(user)[-1]
        assert button_labels(keyboard)["t:mining"].startswith("▫️")  # redrawn
        assert "mining" not in bot.subscriptions(user)
    statuses = {status for _, _, status in bot.botapi.faults}
    assert statuses == {429, 500} and len(bot.botapi.faults) >= 20
    # Telegram's retry_after was obeyed: each 429 waited its second (on the pacer's
    # clock, which is the FixedClock here); and it all took little real time.
    too_many = sum(1 for _, _, status in bot.botapi.faults if status == 429)
    assert (bot.clock.now() - clock_before).total_seconds() >= too_many
    assert time.monotonic() - started < 10


LATER = [
    pytest.param(
        lambda api: api.retry_after_next(3, chat_id=CHAT), 3.0, id="a 429 waits retry_after"
    ),
    pytest.param(
        lambda api: api.fail_next(502, method="sendMessage"), 0.5, id="a 502 waits half a second"
    ),
    pytest.param(
        lambda api: api.fail_next(500, method="sendMessage", times=3),
        0.5 + 1 + 2,
        id="three 500s in a row back off 0.5, 1 and 2 s",
    ),
]


@pytest.mark.parametrize(("fault", "waited"), LATER)
def test_a_reply_telegram_refuses_for_now_is_sent_later_once(
    bot: Conversation, fault: object, waited: float
) -> None:
    bot.register(CHAT, language="en")
    before = bot.clock.now()
    fault(bot.botapi)  # type: ignore[operator]
    assert bot.said(CHAT, "/pause") == "Alerts paused. /resume to resume."
    assert (bot.clock.now() - before).total_seconds() == waited
    assert len(bot.botapi.texts_to(CHAT)) == 1


def test_a_reader_who_blocked_the_bot_costs_one_call(bot: Conversation) -> None:
    bot.register(CHAT)
    bot.botapi.block(CHAT)
    bot.botapi.push_message(CHAT, "/help")
    bot.handle(errors="keep")
    assert [type(e).__name__ for e in bot.errors] == ["RecipientBlocked"]
    assert [m for m, p in bot.botapi.calls if m == "sendMessage"] == ["sendMessage"]


def test_a_button_whose_answer_fails_still_redraws_its_keyboard(
    bot: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    """answerCallbackQuery is not a chat message (not paced, not retried): its failure
    is one warning, and the keyboard the reader looks at is redrawn all the same."""
    caplog.set_level(logging.INFO)
    bot.say(CHAT, "/start")
    [keyboard] = bot.say(CHAT, "/topics")
    bot.botapi.fail_next(500, method="answerCallbackQuery")
    bot.botapi.push_callback(CHAT, "t:mining", message_id=keyboard.message_id)
    bot.handle()
    assert button_labels(keyboard)["t:mining"].startswith("▫️")
    [warning] = [r for r in caplog.records if r.name == "bot.telegram.commands"]
    assert "callback answer chat_id=5001" in warning.getMessage()


# -- the error handler ----------------------------------------------------------------
def app_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.telegram.app"]


def test_a_reply_that_cannot_be_sent_is_one_log_line(
    bot: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")  # as bot.logs.setup_logging does
    bot.register(CHAT, language="fr")
    bot.botapi.fail_next(500, method="sendMessage", times=100)
    bot.botapi.push_message(CHAT, "/help")
    bot.handle(errors="keep")

    [record] = app_records(caplog)
    line = record.getMessage()
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "\n" not in line
    assert "chat_id=5001" in line and "command=/help" in line
    assert "RetryLater" in line and "gave up after 10 attempts" in line
    # python-telegram-bot's own "No error handlers are registered" + traceback: gone.
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not any(TOKEN in r.getMessage() for r in caplog.records)
    assert len([m for m, _ in bot.botapi.calls if m == "sendMessage"]) == 10  # bounded


def test_a_bug_is_one_error_line_and_its_traceback_only_at_debug(
    bot: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    assert bot.application is not None
    try:  # raised, so that it has a traceback
        raise RuntimeError(f"a bug that quotes the URL …/bot{TOKEN}/sendMessage")
    except RuntimeError as exc:
        bug = exc

    caplog.set_level(logging.INFO)
    bot._run(bot.application.process_error(None, bug))
    [record] = app_records(caplog)
    assert record.levelname == "ERROR" and record.exc_info is None
    assert "RuntimeError" in record.getMessage() and "<token>" in record.getMessage()

    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="bot.telegram.app")
    bot._run(bot.application.process_error(None, bug))
    line, trace = app_records(caplog)
    assert "Traceback" not in line.getMessage()
    assert "Traceback" in trace.getMessage() and trace.levelname == "DEBUG"
    assert not any(TOKEN in r.getMessage() for r in caplog.records)
    bot.errors.clear()


# -- what is not a command of mcwatch --------------------------------------------------
@pytest.mark.parametrize("language", ["fr", "en"])
def test_an_unknown_command_gets_a_pointer_to_help(bot: Conversation, language: str) -> None:
    assert bot.said(CHAT, "/frobnicate now", language_code=language) == POINTER[language]
    assert bot.subscriber(CHAT) is None


@pytest.mark.parametrize("language", ["fr", "en"])
def test_free_text_gets_a_pointer_to_help(bot: Conversation, language: str) -> None:
    assert bot.said(CHAT, "Bonjour, vous êtes là ?", language_code=language) == FREE_TEXT[language]


def test_the_pointer_is_in_the_language_the_reader_chose(bot: Conversation) -> None:
    bot.register(CHAT, language="fr")
    assert bot.said(CHAT, "hello?", language_code="en") == FREE_TEXT["fr"]
    assert bot.said(CHAT, "/frobnicate", language_code="en") == POINTER["fr"]


def test_an_unknown_command_is_shown_as_typed(bot: Conversation) -> None:
    assert bot.said(CHAT, "/x<b>&amp;") == "I don't know /x<b>&amp;. /help lists the commands."
    assert bot.botapi.rejected == []


GROUP_CHATTER = [
    pytest.param("Qui a lu l'article sur Kénié ?", None, id="talk between members: nothing"),
    pytest.param("/frobnicate", None, id="a bare unknown command may be another bot's"),
    pytest.param("/start@other_bot", None, id="another bot's command: nothing"),
    pytest.param("/frobnicate@mcwatch_bot", POINTER["en"], id="addressed to mcwatch: pointer"),
]


@pytest.mark.parametrize(("text", "expected"), GROUP_CHATTER)
def test_in_a_group_only_what_is_addressed_to_mcwatch_is_answered(
    bot: Conversation, text: str, expected: str | None
) -> None:
    group = bot.new_group()
    replies = bot.say(group, text, user_id=CHAT, chat_type="group")
    assert [m.plain for m in replies] == ([expected] if expected else [])


# -- /settings ----------------------------------------------------------------------
SETTINGS_SHOWN = [
    pytest.param(
        "fr",
        [],
        [
            "Vos réglages",
            "Thèmes : tous ({count})",
            "Mode : alertes instantanées",
            "Résumé quotidien : 07:30 (Africa/Bamako)",
            "Heures de silence : aucune",
            "Langue : français",
            "Alertes : actives",
        ],
        id="a new French reader sees the defaults",
    ),
    pytest.param(
        "en",
        [],
        [
            "Your settings",
            "Topics: all ({count})",
            "Mode: instant alerts",
            "Daily digest: 07:30 (Africa/Bamako)",
            "Quiet hours: none",
            "Language: English",
            "Alerts: on",
        ],
        id="a new English reader sees the defaults",
    ),
    pytest.param(
        "en",
        [
            "/unsubscribe all",
            "/subscribe energy mining",
            "/mode both",
            "/digesttime 6:45",
            "/timezone Europe/Paris",
            "/quiet 22:00-07:00",
            "/pause",
        ],
        [
            "Topics: mining, energy",
            "Mode: instant alerts and daily digest",
            "Daily digest: 06:45 (Europe/Paris)",
            "Quiet hours: 22:00–07:00",
            "Alerts: paused (/resume to resume)",
        ],
        id="every change shows, topics in the topic list's order",
    ),
    pytest.param(
        "fr",
        ["/unsubscribe all", "/lang en", "/lang fr"],
        ["Thèmes : aucun (/topics pour choisir)", "Langue : français"],
        id="no topic at all points at /topics",
    ),
]


@pytest.mark.parametrize(("language", "commands", "lines"), SETTINGS_SHOWN)
def test_settings_shows_what_the_reader_chose(
    bot: Conversation, language: str, commands: list[str], lines: list[str]
) -> None:
    bot.say(CHAT, "/start", language_code=language)
    for command in commands:
        bot.say(CHAT, command)
    shown = bot.said(CHAT, "/settings").splitlines()
    count = len(all_slugs(bot.engine))
    assert all(french(line.format(count=count)) in shown for line in lines), shown


@pytest.mark.parametrize(("language", "pointer"), [("fr", "Envoyez /start"), ("en", "Send /start")])
def test_settings_of_a_stranger_point_at_start(
    bot: Conversation, language: str, pointer: str
) -> None:
    assert pointer in bot.said(CHAT, "/settings", language_code=language)


# -- /stop asks first ----------------------------------------------------------------
STOP = [
    pytest.param(
        "fr",
        "stop:yes",
        "C'est noté : vos données sont effacées",
        False,
        id="oui forgets the French reader",
    ),
    pytest.param("en", "stop:yes", "Done: your data is erased", False, id="yes forgets the reader"),
    pytest.param("fr", "stop:no", "Annulé : rien n'a changé.", True, id="annuler keeps it all"),
    pytest.param("en", "stop:no", "Cancelled: nothing changed.", True, id="cancel keeps it all"),
]


@pytest.mark.parametrize(("language", "button", "outcome", "kept"), STOP)
def test_stop_asks_and_forgets_only_on_yes(
    bot: Conversation, language: str, button: str, outcome: str, kept: bool
) -> None:
    bot.say(CHAT, "/start", language_code=language)
    bot.say(CHAT, "/mode digest")
    [question] = bot.say(CHAT, "/stop")
    assert button_data(question) == ["stop:yes", "stop:no"]
    labels = list(button_labels(question).values())
    assert labels == (
        ["Oui, m'oublier", "Annuler"] if language == "fr" else ["Yes, forget me", "Cancel"]
    )
    assert bot.subscriber(CHAT) is not None  # asking changes nothing

    bot.press(CHAT, question, button)
    assert french(outcome) in (question.plain or "")  # the question is replaced by it
    assert question.reply_markup is None  # and cannot be pressed again
    subscriber = bot.subscriber(CHAT)
    assert (subscriber is not None) is kept
    if subscriber is not None:
        assert subscriber.mode == "digest" and subscriber.active


def test_stop_for_a_stranger_asks_nothing(bot: Conversation) -> None:
    [answer] = bot.say(CHAT, "/stop")
    assert "Send /start" in (answer.plain or "") and answer.reply_markup is None


# -- one Pacer for everything sent to a chat ------------------------------------------
@pytest.fixture
def paced_bot(engine: Engine) -> Iterator[Conversation]:
    """The bot pacing for real (``Pacer()``, real time) against a stand-in that enforces
    Telegram's own flood limits (a private chat: a burst of 3, then 1 message/s)."""
    clock = FixedClock()
    seeded(engine, clock)
    server = BotApi(token=TOKEN, limits=FloodLimits())
    try:
        with Conversation(server, engine, clock, pacer=Pacer) as conversation:
            yield conversation
    finally:
        server.close()


def burst(bot: Conversation, users: tuple[int, ...]) -> None:
    """Five calls to each chat within a few seconds, all kinds mixed: a reply, a reply
    with a keyboard, its redraw, an alert, the alert's "also reported by" edit."""
    api = bot.botapi
    for user in users:
        bot.register(user, language="en")
        api.push_message(user, "/help")
    bot.handle()
    for user in users:
        api.push_message(user, "/topics")
    bot.handle()
    first = bot.publish("Pékin et Bamako signent un accord de sécurité")
    for user in users:
        keyboard = api.messages_to(user)[-1]
        api.push_callback(user, "t:mining", message_id=keyboard.message_id)
    bot.handle()
    bot.deliver()
    bot.publish("Accord de sécurité sino-malien", source="Mali Web", story_id=first.story_id)
    bot.deliver()


def test_a_burst_of_replies_alerts_and_edits_provokes_no_429(paced_bot: Conversation) -> None:
    """Real time: the pacer spaces the five calls to each chat by a second (~4 s).
    Before replies and keyboard redraws went through the Pacer, the alert that followed
    them was refused once in each chat: three 429s."""
    users = (7001, 7002, 7003)
    started = time.monotonic()
    burst(paced_bot, users)
    assert paced_bot.botapi.too_many_requests == 0
    assert paced_bot.botapi.rejected == []
    for user in users:
        help_reply, topics, alert = paced_bot.botapi.messages_to(user)
        assert "Mali–China news watch" in (help_reply.plain or "")
        assert button_labels(topics)["t:mining"].startswith("▫️")
        assert "Mali Web" in (alert.plain or "") and alert.edits
    assert time.monotonic() - started < 10


def test_the_same_burst_unpaced_would_provoke_429s(paced_bot: Conversation) -> None:
    """The control: without limits of our own the stand-in refuses part of the burst,
    so the zero above is the Pacer's doing (the refused replies are retried after
    Telegram's retry_after, in real time: ~2 s)."""
    assert paced_bot.deps is not None
    paced_bot.deps.pacer = Pacer(Limits.none())
    burst(paced_bot, (7101, 7102, 7103))
    assert paced_bot.botapi.too_many_requests > 0
