"""Admin commands and groups, through the real bot and the Bot API stand-in.

Admins are the Telegram user ids of ``MCWATCH_ADMIN_IDS`` (``Settings.admin_ids``; the
conversation helper lists ``ADMIN``). A non-admin gets one polite refusal and nothing
else; in a group only admins change what the group receives.
"""

from __future__ import annotations

import re

import pytest

from bot.text import languages
from tests.support.feed_server import FeedServer
from tests.support.telegram import ADMIN, Conversation, all_slugs, button_labels

NBSP = "\u00a0"  # French typography: a no-break space before : ; ? !
USER = 5001
OTHER = 5002
GONE = 5003

REFUSAL = {
    "fr": "Désolé, cette commande est réservée aux administrateurs.",
    "en": "Sorry, this command is for administrators only.",
}


@pytest.mark.parametrize("language", languages())
@pytest.mark.parametrize("command", ["/stats", "/feeds", "/health", "/stats 7d"])
def test_a_non_admin_gets_a_polite_refusal_and_no_figures(
    bot: Conversation, command: str, language: str
) -> None:
    bot.say(USER, "/start", language_code=language)
    bot.publish("Pékin et Bamako")
    bot.add_feed("https://failing.example/rss", "Failing feed")
    replies = bot.say(USER, command, language_code=language)
    assert [m.plain for m in replies] == [REFUSAL[language]]
    assert not re.search(r"\d", replies[0].plain or "")


def test_a_stranger_is_refused_too(bot: Conversation) -> None:
    assert bot.said(USER, "/stats", language_code="fr") == REFUSAL["fr"]
    assert bot.subscriber(USER) is None


def test_help_shows_admin_commands_to_admins_only(bot: Conversation) -> None:
    bot.say(USER, "/start")
    bot.say(ADMIN, "/start", user_id=ADMIN)
    assert "/stats" not in bot.said(USER, "/help")
    assert "Admin: /stats · /feeds · /health" in bot.said(ADMIN, "/help")


def test_stats_gives_an_admin_the_figures(bot: Conversation) -> None:
    for chat in (USER, OTHER, GONE, ADMIN):
        bot.say(chat, "/start")
    bot.say(OTHER, "/pause")
    bot.publish("Sécurité : Pékin et Bamako", topics=("security",))
    bot.publish("Or : une mine chinoise au Mali", topics=("mining", "security"))
    bot.botapi.block(GONE)
    report = bot.deliver()
    assert (report.sent, report.blocked) == (4, 1)  # USER and ADMIN twice; GONE once

    stats = bot.said(ADMIN, "/stats")
    assert "Active subscribers: 2 (paused: 1, inactive: 1)" in stats
    assert "Items today: 2" in stats
    assert "Per topic today: #security 2, #mining 1" in stats
    assert "Send queue: 2" in stats  # OTHER's two, held by the pause
    assert "Failing feeds: 0" in stats

    french = bot.said(ADMIN, "/stats", language_code="fr")  # the admin chose English at /start
    assert "Active subscribers: 2" in french
    bot.say(ADMIN, "/lang fr")
    stats = bot.said(ADMIN, "/stats")
    assert f"Abonné·es actifs{NBSP}: 2 (en pause{NBSP}: 1, inactifs{NBSP}: 1)" in stats


def test_an_admin_needs_no_subscription_for_admin_commands(bot: Conversation) -> None:
    stats = bot.said(ADMIN, "/stats", language_code="fr")
    assert "Statistiques" in stats and f"Abonné·es actifs{NBSP}: 0" in stats
    assert bot.subscriber(ADMIN) is None


def test_feeds_and_health_show_each_feed_and_why_it_fails(
    bot: Conversation, feed_server: FeedServer
) -> None:
    feed_server.serve("/ok.rss", EMPTY_FEED.encode())
    feed_server.serve("/down.rss", b"<html>oops</html>", status=503, content_type="text/html")
    bot.add_feed(feed_server.url("/ok.rss"), "Le Sahel & <Co>")
    down = bot.add_feed(feed_server.url("/down.rss"), "Mali Web")
    assert bot.said(ADMIN, "/health") == "All feeds answer (2)."
    bot.poll()

    feeds = bot.said(ADMIN, "/feeds")
    assert feeds.startswith("Watched feeds (2)")
    assert "Le Sahel & <Co>" in feeds  # a feed's name is shown as written, escaped on the wire
    assert "⚠️ " + str(down) + " Mali Web" in feeds

    health = bot.said(ADMIN, "/health", language_code="fr")
    assert health.startswith("Santé des flux — 1 en échec sur 2")
    # Why it fails, in the admin's language: stored as a key and its arguments.
    assert f"⚠️ {down} Mali Web — ×1{NBSP}: réponse HTTP 503 Service Unavailable" in health
    assert "Le Sahel" not in health
    english = bot.said(ADMIN, "/health", language_code="en")  # admin: not subscribed
    assert f"⚠️ {down} Mali Web — ×1: HTTP 503 Service Unavailable" in english
    assert bot.botapi.rejected == []


EMPTY_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Le Sahel</title><link>https://sahel.example/</link>
<description>-</description></channel></rss>"""


# -- groups and channels ---------------------------------------------------------------
@pytest.fixture
def group(bot: Conversation) -> int:
    return bot.new_group()


@pytest.mark.parametrize(
    ("chat_type", "status", "language_code", "welcome"),
    [
        pytest.param(
            "group",
            "member",
            "fr",
            f"Bonjour{NBSP}! Ce chat recevra",
            id="an admin adds the bot to a group",
        ),
        pytest.param(
            "supergroup",
            "administrator",
            "en",
            "Hello! This chat will receive",
            id="an admin makes the bot administrator of a supergroup",
        ),
        pytest.param(
            "channel",
            "administrator",
            "fr",
            f"Bonjour{NBSP}! Ce chat recevra",
            id="an admin adds the bot to a channel",
        ),
    ],
)
def test_an_admin_adds_the_bot_and_alerts_are_posted_there(
    bot: Conversation, group: int, chat_type: str, status: str, language_code: str, welcome: str
) -> None:
    posted = bot.member(
        group,
        by_user_id=ADMIN,
        chat_type=chat_type,
        new_status=status,
        language_code=language_code,
    )
    assert len(posted) == 1 and welcome in (posted[0].plain or "")
    subscriber = bot.subscriber(group)
    assert subscriber is not None and subscriber.active
    assert (subscriber.chat_type, subscriber.language) == (chat_type, language_code)
    assert bot.subscriptions(group) == all_slugs(bot.engine)

    assert bot.publish("Bamako et Pékin : accord de sécurité").queued == 1
    assert bot.deliver().sent == 1
    assert "accord de sécurité" in bot.botapi.texts_to(group)[-1]
    assert bot.botapi.left_chats == [] and bot.botapi.rejected == []


@pytest.mark.parametrize(
    ("chat_type", "messages"),
    [
        pytest.param("group", 1, id="a member adding the bot to a group is told why it leaves"),
        pytest.param("channel", 0, id="a channel gets no message, the bot just leaves"),
    ],
)
def test_a_non_admin_cannot_add_the_bot(
    bot: Conversation, group: int, chat_type: str, messages: int
) -> None:
    posted = bot.member(group, by_user_id=USER, chat_type=chat_type, new_status="member")
    assert len(posted) == messages
    if messages:
        assert "only be added to a group or channel by one of its administrators" in (
            posted[0].plain or ""
        )
    assert bot.botapi.left_chats == [group]
    assert bot.subscriber(group) is None
    assert bot.publish("Bamako et Pékin").queued == 0


@pytest.mark.parametrize("status", ["left", "kicked"])
def test_a_group_that_removed_the_bot_receives_nothing(
    bot: Conversation, group: int, status: str
) -> None:
    bot.member(group, by_user_id=ADMIN)
    bot.member(group, by_user_id=USER, old_status="member", new_status=status)
    subscriber = bot.subscriber(group)
    assert subscriber is not None and not subscriber.active
    sent_before = len(bot.botapi.sent)
    assert bot.publish("Bamako et Pékin").queued == 0
    bot.deliver()
    assert len(bot.botapi.sent) == sent_before


group_SETTINGS = [
    pytest.param("/mode digest", "mode", "instant", id="mode"),
    pytest.param("/lang en", "language", "fr", id="lang"),
    pytest.param("/quiet 22:00-07:00", "quiet_start", None, id="quiet"),
    pytest.param("/pause", "paused", False, id="pause"),
    pytest.param("/stop", "active", True, id="stop"),
    pytest.param("/unsubscribe all", None, None, id="unsubscribe"),
]


@pytest.mark.parametrize(("command", "field", "unchanged"), group_SETTINGS)
def test_in_a_group_only_admins_change_the_settings(
    bot: Conversation, group: int, command: str, field: str | None, unchanged: object
) -> None:
    bot.member(group, by_user_id=ADMIN, language_code="fr")
    topics = bot.subscriptions(group)
    answer = bot.said(group, command, user_id=USER, chat_type="group", language_code="en")
    assert (
        answer
        == "Dans un groupe, seuls les administrateurs de mcwatch peuvent changer les réglages."
    )
    subscriber = bot.subscriber(group)
    assert subscriber is not None and bot.subscriptions(group) == topics
    if field is not None:
        assert getattr(subscriber, field) == unchanged

    # The same command, addressed to the bot by name as Telegram does in groups, by an admin.
    name, _, rest = command.partition(" ")
    replies = bot.say(group, f"{name}@mcwatch_bot {rest}".strip(), user_id=ADMIN, chat_type="group")
    answer = "\n".join(m.plain or "" for m in replies)
    assert "Dans un groupe" not in answer and answer
    if command == "/stop":  # asked first; a member's "yes" is refused, an admin's is not
        refused = bot.press(group, replies[0], "stop:yes", user_id=USER)
        assert "seuls les administrateurs" in refused["text"]
        assert bot.subscriber(group) is not None
        bot.press(group, replies[0], "stop:yes", user_id=ADMIN)
    after = bot.subscriber(group)
    if field is None:
        assert bot.subscriptions(group) == set()
    elif command == "/stop":
        assert after is None
    else:
        assert after is not None and getattr(after, field) != unchanged


def test_in_a_group_members_read_but_do_not_press(bot: Conversation, group: int) -> None:
    bot.member(group, by_user_id=ADMIN, language_code="en")
    bot.publish("Barrage de Kénié : la Chine finance", topics=("energy",))
    assert "Barrage de Kénié" in bot.said(group, "/latest", user_id=USER, chat_type="group")
    [keyboard] = bot.say(group, "/topics", user_id=USER, chat_type="group")
    answer = bot.press(group, keyboard, "t:energy", user_id=USER)
    assert str(answer.get("show_alert")).lower() == "true"  # a pop-up, not a toast
    assert "only mcwatch administrators" in answer["text"]
    assert "energy" in bot.subscriptions(group)

    answer = bot.press(group, keyboard, "t:energy", user_id=ADMIN)
    assert answer["text"].startswith("❌")
    assert "energy" not in bot.subscriptions(group)
    assert button_labels(keyboard)["t:energy"].startswith("▫️")


def test_start_in_a_group_is_for_admins(bot: Conversation, group: int) -> None:
    refused = bot.said(group, "/start", user_id=USER, chat_type="group")
    assert "only be added to a group or channel by one of its administrators" in refused
    assert bot.subscriber(group) is None
    assert "Welcome to mcwatch" in bot.said(group, "/start", user_id=ADMIN, chat_type="group")
    subscriber = bot.subscriber(group)
    assert subscriber is not None and subscriber.chat_type == "group"


def test_an_admin_may_use_admin_commands_in_a_group(bot: Conversation, group: int) -> None:
    bot.member(group, by_user_id=ADMIN)
    assert "Statistics" in bot.said(group, "/stats", user_id=ADMIN, chat_type="group")
    assert bot.said(group, "/stats", user_id=USER, chat_type="group") == REFUSAL["en"]


@pytest.mark.parametrize(
    ("command", "french", "english"),
    [
        pytest.param("/stats", "Statistiques", "Statistics", id="stats"),
        pytest.param("/feeds", "Flux suivis (0)", "Watched feeds (0)", id="feeds"),
        pytest.param("/health", "Tous les flux répondent (0)", "All feeds answer (0)", id="health"),
    ],
)
@pytest.mark.parametrize("language", languages())
def test_admin_commands_answer_in_the_admins_language(
    bot: Conversation, command: str, french: str, english: str, language: str
) -> None:
    answer = bot.said(ADMIN, command, user_id=ADMIN, language_code=language)
    assert (french if language == "fr" else english) in answer
    assert (english if language == "fr" else french) not in answer


def test_a_group_that_promotes_the_bot_keeps_receiving_alerts(
    bot: Conversation, group: int
) -> None:
    bot.member(group, by_user_id=ADMIN, language_code="fr")
    bot.say(group, "/mode both", user_id=ADMIN, chat_type="group")
    # The group's own owner (not an mcwatch admin) makes the bot an administrator.
    posted = bot.member(group, by_user_id=USER, old_status="member", new_status="administrator")
    assert posted == [] and bot.botapi.left_chats == []
    subscriber = bot.subscriber(group)
    assert subscriber is not None and subscriber.active and subscriber.mode == "both"
    assert bot.publish("Bamako et Pékin, toujours").queued == 1


def test_a_channel_mcwatch_serves_is_configured_by_posting_commands_in_it(
    bot: Conversation, group: int
) -> None:
    """Channel posts have no author; only the channel's administrators can post there."""
    bot.member(group, by_user_id=ADMIN, chat_type="channel", new_status="administrator")
    bot.say(group, "/mode digest", chat_type="channel", user_id=None, language_code=None)
    bot.say(
        group, "/unsubscribe mining energy", chat_type="channel", user_id=None, language_code=None
    )
    subscriber = bot.subscriber(group)
    assert subscriber is not None and subscriber.mode == "digest"
    assert bot.subscriptions(group) == all_slugs(bot.engine) - {"mining", "energy"}
    assert bot.botapi.rejected == []


def test_a_channel_mcwatch_does_not_serve_cannot_configure_it(
    bot: Conversation, group: int
) -> None:
    answers = bot.say(group, "/mode digest", chat_type="channel", user_id=None, language_code=None)
    assert bot.subscriber(group) is None
    assert len(answers) == 1  # a polite refusal, nothing changed
