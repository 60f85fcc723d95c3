"""Unusual volume (issue 15 point 4): a topic's day well above its 14-day baseline sends
its subscribers one short note, once a day.

On a fixture history stored through the pipeline's store stages (``Conversation.publish``)
and the real tick (``bot.jobs.volume_tick``) sending through python-telegram-bot to the
Bot API stand-in, on SQLite and PostgreSQL. Then the rule itself (``bot.volume``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import col

from bot.jobs import volume_tick
from bot.volume import MIN_STORIES, NoteStory, baseline, render_note, unusual
from store.db import transaction
from store.models import Meta
from store.volume import STATE_KEY
from tests.support.telegram import Conversation

NBSP = "\u00a0"
MINING_FR, MINING_EN, HEALTH, PAUSED, QUIET = 7401, 7402, 7403, 7404, 7405
NOON = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)


def history(bot: Conversation, per_day: list[int], today: int) -> None:
    """The fortnight's stories (``stories``), after one older story: mcwatch has a
    baseline only once it holds stories from before it."""
    bot.publish("Archive", topics=("health",), published=NOON - timedelta(days=20))
    stories(bot, per_day, today)


def stories(bot: Conversation, per_day: list[int], today: int) -> None:
    """``per_day[i]`` mining stories on day i of the 14 before today (oldest first), a
    health story every day, and ``today`` mining stories this morning; each story told
    by two outlets (one story, counted once)."""
    for index, count in enumerate(per_day):
        day = NOON - timedelta(days=len(per_day) - index)
        for n in range(count):
            first = bot.publish(f"Mine {index}-{n}", topics=("mining",), published=day)
            bot.publish(
                f"Mine {index}-{n} (copy)",
                topics=("mining",),
                source="Other outlet",
                published=day + timedelta(hours=1),
                story_id=first.story_id,
            )
        bot.publish(f"Santé {index}", topics=("health",), published=day)
    for n in range(today):
        bot.publish(
            f"Mine du jour {n}",
            topics=("mining",),
            published=NOON - timedelta(hours=6) + timedelta(minutes=n),
            link=f"https://mines.example/{n}",
        )


@pytest.fixture
def readers(bot: Conversation) -> Conversation:
    bot.clock.current = NOON - timedelta(days=15)
    with transaction(bot.engine) as session:
        session.execute(delete(Meta).where(col(Meta.key) == STATE_KEY))
    for chat, language, topics in (
        (MINING_FR, "fr", "mining"),
        (MINING_EN, "en", "mining"),
        (HEALTH, "en", "health"),
        (PAUSED, "en", "mining"),
        (QUIET, "en", "mining"),
    ):
        bot.say(chat, "/start", language_code=language)
        bot.say(chat, "/unsubscribe all", language_code=language)
        bot.say(chat, f"/subscribe {topics}", language_code=language)
    bot.say(PAUSED, "/pause")
    bot.say(QUIET, "/quiet 11:00-13:00")  # Bamako is UTC: noon is quiet
    bot.clock.current = NOON
    return bot


def tick(bot: Conversation) -> int:
    assert bot.deps is not None
    sent: int = bot._run(volume_tick(bot.deps))
    return sent


def notes(bot: Conversation, chat: int) -> list[str]:
    return [
        (m.plain or "").replace(NBSP, " ")
        for m in bot.botapi.messages_to(chat)
        if (m.text or "").startswith("📈")
    ]


def test_a_flat_fortnight_sends_nothing(readers: Conversation) -> None:
    history(readers, [2] * 14, today=6)  # 6 is within 2 + 3 × √2
    assert tick(readers) == 0
    assert all(notes(readers, chat) == [] for chat in (MINING_FR, MINING_EN, HEALTH))


def test_a_spike_sends_one_note_to_the_topics_readers_once(readers: Conversation) -> None:
    history(readers, [2] * 14, today=7)
    assert tick(readers) == 2
    [fr] = notes(readers, MINING_FR)
    [en] = notes(readers, MINING_EN)
    assert fr.splitlines()[0] == (
        "📈 Journée inhabituelle pour #mining · Mines / Mining : 7 sujets aujourd'hui, "
        "2 par jour d'habitude"
    )
    assert en.splitlines()[0] == (
        "📈 Unusual day for #mining · Mines / Mining: 7 stories today, usually 2 a day"
    )
    assert [line.split(" — ")[0] for line in en.splitlines()[1:]] == [
        f"• Mine du jour {n}" for n in range(7)
    ]
    assert notes(readers, HEALTH) == [] and notes(readers, PAUSED) == []
    assert notes(readers, QUIET) == []  # held in quiet hours …

    readers.publish("Mine du jour 8", topics=("mining",), published=NOON)
    assert tick(readers) == 0  # once a day: not again for an eighth story
    readers.clock.advance(hours=1, minutes=5)
    assert tick(readers) == 1 and len(notes(readers, QUIET)) == 1  # … sent when they end
    assert tick(readers) == 0
    assert len(notes(readers, MINING_FR)) == 1 and len(notes(readers, MINING_EN)) == 1


def test_one_earlier_spike_does_not_hide_the_next(readers: Conversation) -> None:
    # The median and MAD ignore a single busy day in the baseline (a mean would not).
    history(readers, [1, 2, 1, 2, 1, 25, 2, 1, 2, 1, 2, 1, 2, 1], today=7)
    assert tick(readers) == 2


def test_without_a_fortnight_of_history_nothing_is_unusual(readers: Conversation) -> None:
    # A fresh install's first poll: every topic "jumps" from nothing.
    stories(readers, [0] * 9 + [1] * 5, today=12)
    assert tick(readers) == 0


# -- the rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "needed"),
    [([0] * 14, 4), ([2] * 14, 7), ([10] * 14, 20), ([1, 3] * 7, 7)],
    ids=["quiet topic: 4", "2 a day: 7", "10 a day: 20", "1 to 3 a day: 7"],
)
def test_the_threshold(days: list[int], needed: int) -> None:
    assert not unusual(days, needed - 1) and unusual(days, needed)
    assert needed >= MIN_STORIES


def test_the_spread_is_robust() -> None:
    assert baseline([2] * 13 + [40]).centre == 2  # one spike moves neither
    assert baseline([2] * 13 + [40]).spread == baseline([2] * 14).spread


def test_the_note_fits_one_message_and_escapes() -> None:
    stories = [NoteStory("<b>" + "x" * 400, "https://a.example/1", "S" * 100)] * 40
    text = render_note("en", "mining", "Mines <&>", stories, [0] * 14)
    assert "Mines &lt;&amp;&gt;" in text and "<b>x" not in text.replace("<b>Unusual", "")
    assert text.endswith("… and 30 more") and len(text) < 4096
