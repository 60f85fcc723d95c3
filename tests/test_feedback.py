"""A verdict on every alert (issue 15): the 👍 / 👎 buttons through the real bot and the
Bot API stand-in, the verdicts' store on SQLite and PostgreSQL, ``rules feedback`` (its
JSON shape, README "Admin CLI") and its ``--export`` read back by ``rules eval``, and
the pure decisions of ``bot.feedback``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, delete, text
from sqlmodel import select
from typer.testing import CliRunner

from bot import feedback
from bot.cli import app
from bot.deliver.digest_job import digest_tick
from bot.feedback import (
    LabelSource,
    Press,
    VerdictRecord,
    VerdictState,
    decode,
    encode,
    labelled_items,
    next_state,
    summarise,
)
from bot.ids import MAX_ROW_ID
from store import verdicts
from store.db import make_engine, transaction
from store.models import DigestLine, Item, Verdict
from tests.support.botapi import SentMessage
from tests.support.telegram import ADMIN, Conversation, button_data, button_labels

CHAT = 6001
OTHER = 6002
NBSP = "\u00a0"

TOASTS = {
    "fr": {
        "r": "👍 Merci : alerte jugée pertinente.",
        "n": "👎 Noté. Pourquoi ? Choisissez une raison ci-dessous (facultatif).",
        "t": "Noté : mauvais thème.",
        "m": "Noté : hors sujet Mali–Chine.",
        "d": "Noté : doublon.",
        "gone": "Cette alerte n'est plus disponible.",
    },
    "en": {
        "r": "👍 Thanks: marked relevant.",
        "n": "👎 Noted. Why? Pick a reason below (optional).",
        "t": "Noted: wrong topic.",
        "m": "Noted: not about Mali–China.",
        "d": "Noted: a duplicate.",
        "gone": "This alert is no longer available.",
    },
}
REASON_LABELS = {
    "fr": ["🏷 Mauvais thème", "🌍 Hors Mali–Chine", "🔁 Doublon", "↩️ 👍 Pertinent"],
    "en": ["🏷 Wrong topic", "🌍 Not Mali–China", "🔁 Duplicate", "↩️ 👍 Relevant"],
}


def shown(text: str | None) -> str:
    """What a test writes: French typography's no-break spaces as ordinary ones."""
    return (text or "").replace(NBSP, " ")


def rows(engine: Engine) -> list[tuple[int, int, str, str, str | None]]:
    with transaction(engine) as session:
        found = session.exec(select(Verdict).order_by(Verdict.id)).all()  # type: ignore[arg-type]
        return [(v.subscriber_id, v.item_id, v.topic, v.verdict, v.reason) for v in found]


def alert_to(
    bot: Conversation, chat_id: int, title: str, summary: str = "", **kwargs: Any
) -> SentMessage:
    """``title`` published, delivered; the alert message ``chat_id`` received."""
    bot.publish(title, summary, **kwargs)
    bot.deliver()
    return bot.botapi.messages_to(chat_id)[-1]


def delivery_id(message: SentMessage) -> int:
    return int(button_data(message)[0].split(":")[1])


def forged(bot: Conversation, chat_id: int, message: SentMessage, data: str) -> dict[str, Any]:
    """A press whose data is not one of the message's buttons (a modified client)."""
    before = len(bot.botapi.callback_answers)
    bot.botapi.push_callback(chat_id, data, message_id=message.message_id)
    bot.handle()
    [answer] = bot.botapi.callback_answers[before:]
    return answer


# -- the buttons, end to end ------------------------------------------------------------
@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_verdict_is_stored_changed_and_idempotent(bot: Conversation, language: str) -> None:
    bot.register(CHAT, language=language)
    message = alert_to(bot, CHAT, "Pékin et Bamako renforcent la sécurité", topics=("security",))
    did = delivery_id(message)
    assert button_data(message) == [f"v:{did}:r", f"v:{did}:n"]
    assert list(button_labels(message).values()) == ["👍", "👎"]
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None
    [delivery] = bot.deliveries_of(CHAT)
    toasts = TOASTS[language]

    assert shown(bot.press(CHAT, message, f"v:{did}:r")["text"]) == toasts["r"]
    assert rows(bot.engine) == [(subscriber.id, delivery.item_id, "security", "relevant", None)]
    assert list(button_labels(message).values()) == ["✅ 👍", "👎"]  # redrawn in place

    assert shown(bot.press(CHAT, message, f"v:{did}:n")["text"]) == toasts["n"]
    assert rows(bot.engine)[0][3:] == ("not_relevant", None)
    assert list(button_labels(message).values()) == REASON_LABELS[language]
    assert button_data(message) == [f"v:{did}:t", f"v:{did}:m", f"v:{did}:d", f"v:{did}:r"]

    assert shown(bot.press(CHAT, message, f"v:{did}:t")["text"]) == toasts["t"]
    assert rows(bot.engine)[0][3:] == ("not_relevant", "wrong_topic")
    assert button_labels(message)[f"v:{did}:t"] == "✅ " + REASON_LABELS[language][0]
    with transaction(bot.engine) as session:
        first = session.exec(select(Verdict)).one().updated_at

    bot.clock.advance(minutes=5)
    assert shown(bot.press(CHAT, message, f"v:{did}:t")["text"]) == toasts["t"]
    with transaction(bot.engine) as session:
        again = session.exec(select(Verdict)).all()
    assert [(v.verdict, v.reason, v.updated_at) for v in again] == [
        ("not_relevant", "wrong_topic", first)  # one row, unchanged: not even its time
    ]

    for code, reason in (("m", "not_mali_china"), ("d", "duplicate")):
        assert shown(bot.press(CHAT, message, f"v:{did}:{code}")["text"]) == toasts[code]
        assert rows(bot.engine)[0][3:] == ("not_relevant", reason)
    bot.press(CHAT, message, f"v:{did}:r")  # ↩️ 👍: changed mind
    assert rows(bot.engine) == [(subscriber.id, delivery.item_id, "security", "relevant", None)]
    assert bot.errors == []


def test_the_verdict_is_on_the_alerts_main_topic_and_general_is_a_topic(
    bot: Conversation,
) -> None:
    bot.register(CHAT, language="en")
    both = alert_to(bot, CHAT, "Or : une mine chinoise au Mali", topics=("mining", "finance"))
    general = alert_to(bot, CHAT, "Un mémorandum sino-malien", topics=("general",))
    bot.press(CHAT, both, button_data(both)[0])
    bot.press(CHAT, general, button_data(general)[1])
    assert [(topic, verdict) for _, _, topic, verdict, _ in rows(bot.engine)] == [
        ("mining", "relevant"),
        ("general", "not_relevant"),
    ]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_forged_malformed_or_foreign_callbacks_change_nothing(
    bot: Conversation, language: str
) -> None:
    bot.register(CHAT, language=language)
    bot.register(OTHER, language="en")
    mine = alert_to(bot, CHAT, "Pékin et Bamako : sécurité")
    theirs = bot.botapi.messages_to(OTHER)[-1]
    bot.publish("Queued, not sent yet")  # a delivery that exists but was never sent
    queued = max(d.id or 0 for d in bot.deliveries_of(CHAT))
    gone = TOASTS[language]["gone"]
    for data in (
        f"v:{delivery_id(theirs)}:r",  # another chat's alert
        f"v:{queued}:r",  # not sent
        f"v:{delivery_id(mine)}:x",  # no such button
        f"v:{delivery_id(mine)}",
        "v:",
        "v:abc:r",
        "v:0:r",
        f"v:{MAX_ROW_ID + 1}:r",
        "v:-1:r",
        "v:١٢:r",  # Arabic-Indic digits are digits to str.isdigit
        f"v:{delivery_id(mine)}:r:extra",
    ):
        assert shown(forged(bot, CHAT, mine, data)["text"]) == gone, data
    assert rows(bot.engine) == []
    assert bot.errors == []


def test_an_alert_gone_with_its_item_answers_politely(bot: Conversation) -> None:
    bot.register(CHAT, language="fr")
    message = alert_to(bot, CHAT, "Pékin et Bamako : sécurité")
    bot.press(CHAT, message, button_data(message)[0])
    with transaction(bot.engine) as session:  # what retention does to an old item
        session.execute(delete(Item))
    assert rows(bot.engine) == []  # the verdict went with the item (ON DELETE CASCADE)
    answer = forged(bot, CHAT, message, button_data(message)[1])
    assert shown(answer["text"]) == TOASTS["fr"]["gone"]
    assert rows(bot.engine) == []


def test_in_a_group_only_an_admin_gives_the_groups_verdict(bot: Conversation) -> None:
    group = bot.new_group()
    bot.say(group, "/start", user_id=ADMIN, chat_type="group")
    message = alert_to(bot, group, "Pékin et Bamako : sécurité")
    data = button_data(message)[0]
    before = len(bot.botapi.callback_answers)
    bot.botapi.push_callback(group, data, message_id=message.message_id, user_id=CHAT)
    bot.handle()
    [refusal] = bot.botapi.callback_answers[before:]
    assert "administrators" in refusal["text"]
    assert rows(bot.engine) == []
    bot.press(group, message, data, user_id=ADMIN)
    assert [verdict for *_, verdict, _ in rows(bot.engine)] == ["relevant"]


def test_an_edited_alert_keeps_its_buttons_as_the_reader_left_them(bot: Conversation) -> None:
    bot.register(CHAT, language="en")
    first = bot.publish("Pékin et Bamako : sécurité", source="Studio Tamani")
    bot.deliver()
    message = bot.botapi.messages_to(CHAT)[-1]
    did = delivery_id(message)
    bot.press(CHAT, message, f"v:{did}:n")
    bot.press(CHAT, message, f"v:{did}:m")
    bot.publish("Beijing and Bamako: security", source="Maliweb", story_id=first.story_id)
    assert bot.deliver().edited == 1
    assert "Maliweb" in (message.plain or "")
    assert button_labels(message)[f"v:{did}:m"] == "✅ 🌍 Not Mali–China"
    assert len(button_data(message)) == 4


def test_stop_deletes_the_verdicts(bot: Conversation) -> None:
    if bot.engine.dialect.name == "sqlite":
        with bot.engine.connect() as connection:  # what makes ON DELETE CASCADE work there
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    bot.say(CHAT, "/start")
    bot.say(OTHER, "/start")
    mine = alert_to(bot, CHAT, "Pékin et Bamako : sécurité")
    theirs = bot.botapi.messages_to(OTHER)[-1]
    bot.press(CHAT, mine, button_data(mine)[0])
    bot.press(OTHER, theirs, button_data(theirs)[1])
    [question] = bot.say(CHAT, "/stop")
    bot.press(CHAT, question, "stop:yes")
    other = bot.subscriber(OTHER)
    assert other is not None
    assert [row[0] for row in rows(bot.engine)] == [other.id]  # only the other reader's
    answer = forged(bot, CHAT, mine, button_data(mine)[0])  # an old button after /stop
    assert shown(answer["text"]) == TOASTS["en"]["gone"]
    assert [row[0] for row in rows(bot.engine)] == [other.id]


def test_stats_shows_the_verdicts_per_topic_to_admins(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    bot.say(ADMIN, "/start", user_id=ADMIN, language_code="fr")
    message = alert_to(bot, CHAT, "Pékin et Bamako : sécurité", topics=("security",))
    alert_to(bot, CHAT, "Or : une mine chinoise", topics=("mining",))
    bot.press(CHAT, message, button_data(message)[0])
    stats = shown(bot.said(ADMIN, "/stats", user_id=ADMIN))
    assert "Avis des lecteurs, 30 derniers jours" in stats
    assert "#security : 2 envoyées · 👍 1 · 👎 0 · précision 100%" in stats
    assert "#mining : 2 envoyées · 👍 0 · 👎 0 · précision —" in stats
    bot.say(ADMIN, "/lang en", user_id=ADMIN)
    stats = bot.said(ADMIN, "/stats", user_id=ADMIN)
    assert "#security: 2 sent · 👍 1 · 👎 0 · precision 100%" in stats


# -- rules feedback, --export, rules eval --------------------------------------------
TEXTS = {
    "road": (
        "Kayes : une entreprise chinoise achève la route vers Kita",
        "Le chantier financé par la Chine au Mali est livré.",
    ),
    "match": ("Mali beat China 2-1 in a friendly", "The Eagles won the football match in Bamako."),
}


@pytest.fixture
def rated(bot: Conversation) -> Conversation:
    """Two readers' verdicts: 👍 on a road (infrastructure), 👎 "not Mali–China" on a
    football match alerted as security, and one "wrong topic"."""
    bot.register(CHAT, language="fr")
    bot.register(OTHER, language="en")
    title, summary = TEXTS["road"]
    road = alert_to(bot, CHAT, title, summary, topics=("infrastructure",), terms=("route",))
    title, summary = TEXTS["match"]
    match = alert_to(bot, CHAT, title, summary, topics=("security",), terms=("china", "mali"))
    other_match = bot.botapi.messages_to(OTHER)[-1]
    bot.press(CHAT, road, button_data(road)[0])
    bot.press(CHAT, match, button_data(match)[1])
    bot.press(CHAT, match, f"v:{delivery_id(match)}:m")
    bot.press(OTHER, other_match, f"v:{delivery_id(other_match)}:n")
    bot.press(OTHER, other_match, f"v:{delivery_id(other_match)}:m")
    return bot


def cli(bot: Conversation, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:  # typer's Result
    url = bot.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("MCWATCH_DATABASE_URL", url)
    monkeypatch.setenv("MCWATCH_LOG_LEVEL", "WARNING")
    # The conversation's FixedClock is in February 2026; the CLI's clock is the real one.
    return CliRunner().invoke(app, [*args, "--since", "3650d"])


def test_rules_feedback_json_has_the_documented_shape(
    rated: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli(rated, monkeypatch, "rules", "feedback", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"since", "topics"}
    datetime.fromisoformat(report["since"])
    by_topic = {row["topic"]: row for row in report["topics"]}
    assert [row["topic"] for row in report["topics"]] == ["security", "infrastructure"]
    match_id = max(item["id"] for item in by_topic["security"]["not_relevant_items"])
    assert by_topic["security"] == {
        "topic": "security",
        "alerts_sent": 2,
        "relevant": 0,
        "not_relevant": 2,
        "precision": 0.0,
        "reasons": {"wrong_topic": 0, "not_mali_china": 2, "duplicate": 0, "unspecified": 0},
        "not_relevant_items": [
            {
                "id": match_id,
                "title": TEXTS["match"][0],
                "reason": "not_mali_china",
                "readers": 2,
                "terms": ["china", "mali"],
            }
        ],
    }
    assert by_topic["infrastructure"]["precision"] == 1.0
    assert by_topic["infrastructure"]["not_relevant_items"] == []
    text_report = cli(rated, monkeypatch, "rules", "feedback")
    assert text_report.exit_code == 0
    assert "3 verdicts" in text_report.output and "not_mali_china" in text_report.output


def test_rules_feedback_export_is_read_by_rules_eval(
    rated: Conversation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    exported = cli(rated, monkeypatch, "rules", "feedback", "--export", "labelled.yaml")
    assert exported.exit_code == 0, exported.output
    assert "2 labelled items from 3 verdicts written to labelled.yaml" in exported.output
    entries = yaml.safe_load((tmp_path / "labelled.yaml").read_text(encoding="utf-8"))
    assert [(e["title"], e["topics"], e["category"]) for e in entries] == [
        (TEXTS["road"][0], ["infrastructure"], "verdict:relevant"),
        (TEXTS["match"][0], [], "verdict:not_mali_china"),
    ]
    url = rated.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("MCWATCH_DATABASE_URL", url)
    scored = CliRunner().invoke(app, ["rules", "eval", "labelled.yaml", "--json"])
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.stdout)
    assert report["items"] == 2
    assert report["scores"]["relationship"]["tp"] == 1  # the road: readers and rules agree
    assert report["scores"]["relationship"]["fp"] == 0  # the match: no topic claims it
    assert report["scores"]["infrastructure"]["f1"] == 1.0


# -- the store, on a fresh engine ------------------------------------------------------
def test_verdicts_survive_a_restart(bot: Conversation) -> None:
    bot.register(CHAT, language="en")
    message = alert_to(bot, CHAT, "Pékin et Bamako : sécurité")
    bot.press(CHAT, message, button_data(message)[1])
    bot.press(CHAT, message, f"v:{delivery_id(message)}:d")
    fresh = make_engine(bot.engine.url.render_as_string(hide_password=False))
    try:
        with transaction(fresh) as session:
            found = verdicts.target(session, delivery_id(message), CHAT)
            assert found is not None and found.topic == "security"
            assert verdicts.current(session, found) == VerdictState("not_relevant", "duplicate")
            assert verdicts.target(session, delivery_id(message), OTHER) is None
            since = bot.clock.now() - timedelta(days=1)
            assert verdicts.alerts_sent_by_topic(session, since) == {"security": 1}
            [record] = verdicts.records_since(session, since)
            assert (record.topic, record.reason, record.terms) == (
                "security",
                "duplicate",
                ("chine", "sécurité"),
            )
            assert verdicts.records_since(session, bot.clock.now() + timedelta(seconds=1)) == []
    finally:
        fresh.dispose()


def test_two_writes_of_one_verdict_are_one_row(bot: Conversation) -> None:
    bot.register(CHAT, language="en")
    message = alert_to(bot, CHAT, "Pékin et Bamako : sécurité")
    now = bot.clock.now()
    for state in (VerdictState("relevant"), VerdictState("relevant"), VerdictState("x", "y")):
        with transaction(bot.engine) as session:
            found = verdicts.target(session, delivery_id(message), CHAT)
            assert found is not None
            verdicts.record(session, found, state, now)
    assert [row[3:] for row in rows(bot.engine)] == [("x", "y")]


# -- pure: callback data, states, summary, labels --------------------------------------
def test_callback_data_round_trips_within_telegrams_64_bytes() -> None:
    for did in (1, 42, MAX_ROW_ID):
        for code in feedback.CODES:
            data = encode(did, code)
            assert len(data.encode()) <= 64
            assert decode(data) == Press(did, code)
    assert decode(None) is None
    assert decode("t:security") is None
    assert decode("v:" + "1" * 70 + ":r") is None


NEXT = [
    pytest.param(None, "r", VerdictState("relevant"), id="👍 first"),
    pytest.param(None, "n", VerdictState("not_relevant"), id="👎 first: no reason yet"),
    pytest.param(
        VerdictState("not_relevant", "duplicate"),
        "n",
        VerdictState("not_relevant", "duplicate"),
        id="a stale 👎 keeps the reason given",
    ),
    pytest.param(
        VerdictState("relevant"),
        "t",
        VerdictState("not_relevant", "wrong_topic"),
        id="a reason is a 👎",
    ),
    pytest.param(
        VerdictState("not_relevant", "wrong_topic"),
        "r",
        VerdictState("relevant"),
        id="👍 takes a 👎 back, reason and all",
    ),
]


@pytest.mark.parametrize(("current", "code", "after"), NEXT)
def test_next_state(current: VerdictState | None, code: str, after: VerdictState) -> None:
    assert next_state(current, code) == after
    assert next_state(after, code) == after  # the same press twice


def test_summary_counts_per_topic_in_topic_order() -> None:
    records = [
        VerdictRecord(1, "A", "mining", "relevant", None),
        VerdictRecord(2, "B", "mining", "not_relevant", "wrong_topic", ("or",)),
        VerdictRecord(2, "B", "mining", "not_relevant", "wrong_topic", ("or",)),
        VerdictRecord(3, "C", "", "not_relevant", None),
    ]
    summary = summarise({"security": 4, "mining": 3}, records, ["security", "mining"])
    assert [(s.topic, s.alerts_sent, s.relevant, s.not_relevant) for s in summary] == [
        ("security", 4, 0, 0),
        ("mining", 3, 1, 2),
        ("", 0, 0, 1),
    ]
    assert summary[0].precision is None
    assert summary[1].precision == pytest.approx(1 / 3)
    assert summary[1].to_dict()["not_relevant_items"] == [
        {"id": 2, "title": "B", "reason": "wrong_topic", "readers": 2, "terms": ["or"]}
    ]
    assert summary[2].reasons["unspecified"] == 1


def vote(item: int, topic: str, verdict: str, reason: str | None = None) -> LabelSource:
    return LabelSource(item, f"title {item}", "", "fr", topic, verdict, reason)


LABELS = [
    pytest.param([vote(1, "mining", "relevant")], ["mining"], id="👍 labels the topic"),
    pytest.param(
        [vote(1, "mining", "not_relevant", "wrong_topic")],
        ["general"],
        id="wrong topic: Mali–China without that topic",
    ),
    pytest.param([vote(1, "mining", "not_relevant", "not_mali_china")], [], id="not Mali–China"),
    pytest.param([vote(1, "mining", "not_relevant")], [], id="👎 without a reason"),
    pytest.param(
        [vote(1, "mining", "not_relevant", "duplicate")], None, id="a duplicate is left out"
    ),
    pytest.param(
        [vote(1, "mining", "relevant"), vote(1, "mining", "not_relevant", "not_mali_china")],
        None,
        id="readers evenly split: left out",
    ),
    pytest.param(
        [
            vote(1, "mining", "relevant"),
            vote(1, "mining", "relevant"),
            vote(1, "mining", "not_relevant", "wrong_topic"),
        ],
        ["mining"],
        id="the majority of readers decides the topic",
    ),
    pytest.param([vote(1, "general", "relevant")], ["general"], id="👍 on the general label"),
]


@pytest.mark.parametrize(("votes", "topics"), LABELS)
def test_verdicts_become_labels(votes: list[LabelSource], topics: list[str] | None) -> None:
    entries = labelled_items(votes, "general")
    assert [entry["topics"] for entry in entries] == ([] if topics is None else [topics])


def test_without_a_fallback_a_relevant_item_with_no_topic_is_left_out() -> None:
    assert labelled_items([vote(1, "mining", "not_relevant", "wrong_topic")], None) == []


def test_the_export_format_is_what_load_labelled_reads() -> None:
    from bot.match.evaluate import load_labelled

    entries = labelled_items(
        [vote(1, "mining", "relevant"), vote(2, "x", "not_relevant", "not_mali_china")],
        "general",
    )
    items = load_labelled(yaml.safe_load(yaml.safe_dump(entries)), ["mining", "general"])
    assert [(i.id, sorted(i.topics), i.language) for i in items] == [
        ("1", ["mining"], "fr"),
        ("2", [], "fr"),
    ]


def test_a_toast_fits_an_answer_and_the_buttons_fit_a_row() -> None:
    for language in ("fr", "en"):
        for code, (verdict, reason) in feedback.CODES.items():
            assert len(feedback.toast(language, VerdictState(verdict, reason))) <= 200, code
        for state in (None, VerdictState("relevant"), VerdictState("not_relevant", "duplicate")):
            board = feedback.keyboard(7, language, state)
            assert all(len(row) <= 2 for row in board)


# -- the buttons under a digest ----------------------------------------------------------
DIGEST_GONE = {
    "fr": "Cette information n'est plus disponible.",
    "en": "This story is no longer available.",
}
DIGEST_REASONS = {
    "fr": ["🏷 Mauvais thème", "🌍 Hors Mali–Chine", "🔁 Doublon"],
    "en": ["🏷 Wrong topic", "🌍 Not Mali–China", "🔁 Duplicate"],
}


def digest_reader(bot: Conversation, chat_id: int, language: str) -> None:
    bot.say(chat_id, "/start", language_code=language)
    bot.say(chat_id, f"/lang {language}")
    bot.say(chat_id, "/mode digest")


def daily_digest(bot: Conversation, chat_id: int) -> list[SentMessage]:
    """The daily digest round (the clock is past 07:30 in Bamako): the messages it sent
    ``chat_id`` (the chart, a photo, left out)."""
    assert bot.deps is not None
    before = len(bot.botapi.messages_to(chat_id))
    bot.clock.advance(minutes=1)  # the period ends now: what arrived until a minute ago
    bot._run(digest_tick(bot.deps))
    return [m for m in bot.botapi.messages_to(chat_id)[before:] if m.text]


def digest_round(bot: Conversation, *chats: int) -> list[SentMessage]:
    """One daily round (a minute after the news): each chat's one digest message."""
    assert bot.deps is not None
    bot.clock.advance(minutes=1)
    bot._run(digest_tick(bot.deps))
    found = []
    for chat in chats:
        [digest] = [m for m in bot.botapi.messages_to(chat) if (m.text or "").startswith("🗞")]
        found.append(digest)
    return found


def line_of(data: str) -> int:
    return int(data.split(":")[1])


def story_items(bot: Conversation, message: SentMessage) -> dict[int, int]:
    """Story number → the item whose title is on that numbered line of ``message``."""
    with transaction(bot.engine) as session:
        titles = {item.title: item.id for item in session.exec(select(Item)).all()}
    found = {}
    for line in (message.plain or "").split("\n"):
        number, _, rest = line.partition(". ")
        if number.isdigit():
            found[int(number)] = next(i for t, i in titles.items() if rest.startswith(t))
    return found


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_digest_line_takes_a_verdict_changed_and_idempotent(
    bot: Conversation, language: str
) -> None:
    digest_reader(bot, CHAT, language)
    bot.publish("Pékin et Bamako : accord de sécurité", topics=("security",))
    bot.publish("Une mine d'or chinoise à Kéniéba", topics=("mining", "finance"))
    bot.publish("Un barrage chinois sur le Niger", topics=("energy",))
    [message] = daily_digest(bot, CHAT)
    data = button_data(message)
    lines = [line_of(each) for each in data[::2]]
    assert data == [f"d:{line}:{n}:{code}" for n, line in enumerate(lines, 1) for code in "rn"]
    assert list(button_labels(message).values()) == ["1👍", "1👎", "2👍", "2👎", "3👍", "3👎"]
    assert len(message.reply_markup["inline_keyboard"]) == 1  # type: ignore[index]  # three a row
    items_of = story_items(bot, message)
    assert sorted(items_of) == [1, 2, 3]
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None
    topic_of = {items_of[n]: topic for n, topic in enumerate(topic_order(message), 1)}
    toasts = TOASTS[language]

    assert shown(bot.press(CHAT, message, f"d:{lines[0]}:1:r")["text"]) == toasts["r"]
    assert rows(bot.engine) == [
        (subscriber.id, items_of[1], topic_of[items_of[1]], "relevant", None)
    ]
    assert button_labels(message)[f"d:{lines[0]}:1:r"] == "✅ 1👍"

    assert shown(bot.press(CHAT, message, f"d:{lines[1]}:2:n")["text"]) == toasts["n"]
    labels = button_labels(message)
    assert labels[f"d:{lines[1]}:2:n"] == "✅ 2👎"
    assert [labels[f"d:{lines[1]}:2:{code}"] for code in "tmd"] == [
        f"2 · {label}" for label in DIGEST_REASONS[language]
    ]
    assert labels[f"d:{lines[0]}:1:r"] == "✅ 1👍"  # the other line's verdict stays drawn
    assert shown(bot.press(CHAT, message, f"d:{lines[1]}:2:m")["text"]) == toasts["m"]
    labels = button_labels(message)  # the reason given: its row folds into the 👎
    assert labels[f"d:{lines[1]}:2:n"] == "✅ 2👎🌍" and len(labels) == 6
    with transaction(bot.engine) as session:
        first = session.exec(select(Verdict).where(Verdict.item_id == items_of[2])).one()
    bot.clock.advance(minutes=5)
    # The same reason pressed again, from the keyboard as it was: nothing changes.
    assert shown(forged(bot, CHAT, message, f"d:{lines[1]}:2:m")["text"]) == toasts["m"]
    assert [row[1:] for row in rows(bot.engine)] == [
        (items_of[1], topic_of[items_of[1]], "relevant", None),
        (items_of[2], topic_of[items_of[2]], "not_relevant", "not_mali_china"),
    ]
    with transaction(bot.engine) as session:
        again = session.exec(select(Verdict).where(Verdict.item_id == items_of[2])).one()
    assert again.updated_at == first.updated_at
    bot.press(CHAT, message, f"d:{lines[1]}:2:r")  # changed mind: the reasons row goes
    assert rows(bot.engine)[1][3:] == ("relevant", None)
    assert len(button_data(message)) == 6
    assert bot.errors == []


def topic_order(message: SentMessage) -> list[str]:
    """The topic each numbered story line of ``message`` sits under, in order."""
    found, current = [], ""
    for line in (message.plain or "").split("\n"):
        if line.startswith("#"):
            current = line[1:].split(" ")[0]
        elif line.partition(". ")[0].isdigit():
            found.append(current)
    return found


@pytest.mark.parametrize("language", ["fr", "en"])
def test_forged_stale_or_foreign_digest_callbacks_change_nothing(
    bot: Conversation, language: str
) -> None:
    digest_reader(bot, CHAT, language)
    digest_reader(bot, OTHER, "en")
    bot.publish("Pékin et Bamako : accord de sécurité")
    bot.publish("Une mine d'or chinoise à Kéniéba", topics=("mining",))
    mine, theirs = digest_round(bot, CHAT, OTHER)
    own, foreign = line_of(button_data(mine)[0]), line_of(button_data(theirs)[0])
    gone = DIGEST_GONE[language]
    for data in (
        f"d:{foreign}:1:r",  # another reader's line
        f"d:{own + foreign + 100}:1:r",  # no such line
        f"d:{own}:1:x",
        f"d:{own}:1",
        f"d:{own}",
        "d:",
        "d:abc:1:r",
        "d:0:1:r",
        f"d:{own}:0:r",
        f"d:{MAX_ROW_ID + 1}:1:r",
        "d:-1:1:r",
        "d:١٢:1:r",
        f"d:{own}:1:r:extra",
    ):
        assert shown(forged(bot, CHAT, mine, data)["text"]) == gone, data
    # The other reader's line, pressed under their own message by this chat: not theirs.
    before = len(bot.botapi.callback_answers)
    bot.botapi.push_callback(CHAT, f"d:{foreign}:1:r", message_id=mine.message_id)
    bot.handle()
    assert shown(bot.botapi.callback_answers[before]["text"]) == gone
    assert rows(bot.engine) == []
    assert list(button_labels(mine).values()) == ["1👍", "1👎", "2👍", "2👎"]  # untouched
    # The store too answers only for the chat's own lines (the handler asks it only
    # about lines under the pressed message, which Telegram, not the client, sends).
    decide = partial(next_state, code="r")
    with transaction(bot.engine) as session:
        assert verdicts.press_line(session, foreign, CHAT, decide, bot.clock.now()) is None
        assert verdicts.press_line(session, foreign, OTHER, decide, bot.clock.now()) is not None
        assert verdicts.line_states(session, [own, foreign], CHAT) == {}
        assert verdicts.line_states(session, [own, foreign], OTHER) == {
            foreign: VerdictState("relevant")
        }
    assert bot.errors == []


def test_a_long_digest_numbers_its_stories_across_messages(bot: Conversation) -> None:
    digest_reader(bot, CHAT, "en")
    for n in range(feedback.DIGEST_LINES_PER_MESSAGE + 5):
        bot.publish(f"Dépêche {n:02d}")
    first, second = daily_digest(bot, CHAT)
    numbers = [int(d.split(":")[2]) for d in button_data(first) + button_data(second)]
    assert numbers == [n for n in range(1, feedback.DIGEST_LINES_PER_MESSAGE + 6) for _ in "rn"]
    assert len(button_data(first)) == 2 * feedback.DIGEST_LINES_PER_MESSAGE
    last = button_data(second)[-1]
    bot.press(CHAT, second, last)
    assert [(item, verdict) for _, item, _, verdict, _ in rows(bot.engine)] == [
        (story_items(bot, second)[feedback.DIGEST_LINES_PER_MESSAGE + 5], "not_relevant")
    ]


def test_digest_command_and_the_daily_digest_name_the_same_lines(bot: Conversation) -> None:
    digest_reader(bot, CHAT, "fr")
    bot.publish("Pékin et Bamako : accord de sécurité")
    bot.clock.advance(minutes=1)
    [now] = [m for m in bot.say(CHAT, "/digest") if m.text]
    assert [d.split(":")[2:] for d in button_data(now)] == [["1", "r"], ["1", "n"]]
    bot.press(CHAT, now, button_data(now)[0])
    [daily] = daily_digest(bot, CHAT)
    assert button_data(daily)[0] == button_data(now)[0]  # one line per reader, item, topic
    bot.press(CHAT, daily, button_data(daily)[0])
    assert len(rows(bot.engine)) == 1


def test_stop_deletes_digest_lines_and_their_verdicts(bot: Conversation) -> None:
    digest_reader(bot, CHAT, "en")
    digest_reader(bot, OTHER, "en")
    bot.publish("Pékin et Bamako : accord de sécurité")
    mine, theirs = digest_round(bot, CHAT, OTHER)
    bot.press(CHAT, mine, button_data(mine)[1])
    bot.press(OTHER, theirs, button_data(theirs)[0])
    [question] = bot.say(CHAT, "/stop")
    bot.press(CHAT, question, "stop:yes")
    other = bot.subscriber(OTHER)
    assert other is not None
    assert [row[0] for row in rows(bot.engine)] == [other.id]
    with transaction(bot.engine) as session:
        lines = session.exec(select(DigestLine)).all()
    assert [line.subscriber_id for line in lines] == [other.id]
    answer = forged(bot, CHAT, mine, button_data(mine)[0])  # an old button after /stop
    assert shown(answer["text"]) == DIGEST_GONE["en"]
    assert [row[0] for row in rows(bot.engine)] == [other.id]


def test_digest_verdicts_count_in_rules_feedback(
    bot: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest_reader(bot, CHAT, "fr")
    title, summary = TEXTS["match"]
    bot.publish(title, summary, topics=("security",), terms=("china", "mali"))
    [message] = daily_digest(bot, CHAT)
    line = line_of(button_data(message)[1])
    bot.press(CHAT, message, f"d:{line}:1:n")
    bot.press(CHAT, message, f"d:{line}:1:m")
    result = cli(bot, monkeypatch, "rules", "feedback", "--json")
    assert result.exit_code == 0, result.output
    [security] = [row for row in json.loads(result.output)["topics"] if row["topic"] == "security"]
    assert security["not_relevant"] == 1 and security["reasons"]["not_mali_china"] == 1
    assert [item["title"] for item in security["not_relevant_items"]] == [title]


def test_digest_buttons_fit_telegrams_limits() -> None:
    for line_id, number in ((1, 1), (MAX_ROW_ID, feedback.MAX_LINE_NUMBER)):
        for code in feedback.CODES:
            data = feedback.encode_line(line_id, number, code)
            assert len(data.encode()) <= 64
            assert feedback.decode_line(data) == feedback.LinePress(line_id, number, code)
    assert feedback.decode_line(encode(5, "r")) is None  # an alert's button is not a line's
    assert decode(feedback.encode_line(5, 1, "r")) is None
    lines = [(n, 1000 + n) for n in range(1, feedback.DIGEST_LINES_PER_MESSAGE + 1)]
    worst = {line: VerdictState("not_relevant", "duplicate") for _, line in lines}
    for language in ("fr", "en"):
        board = feedback.digest_keyboard(lines, language, worst, asking=lines[-1][1])
        assert sum(len(row) for row in board) <= 100  # Telegram's buttons a keyboard
        assert all(len(row) <= 8 for row in board)  # and a row
        assert feedback.lines_of(b.data for row in board for b in row) == lines
        assert sum(len(row) == 3 for row in board) == 1  # one reasons row: the one asked
        assert all(b.label.endswith("🔁") for row in board for b in row if ":n" in b.data)
