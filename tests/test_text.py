"""The one catalogue of user text (``bot.text``, ``bot/locales/*.toml``): every file
complete, plural rules and typography as tables, failures stored as keys, and a third
interface language added by writing one file — no code touched — answering every command
through the real bot and the Bot API stand-in."""

from __future__ import annotations

import ast
import json
import re
import shutil
import string
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.text
from bot.telegram.app import ADMIN_COMMANDS, COMMANDS, publish_commands
from bot.text import (
    DEFAULT,
    LOCALES,
    NO_BREAK_SPACE,
    catalog,
    describe,
    failure,
    language_for,
    languages,
    names,
    parse_failure,
    plural_rule,
    t,
    typeset,
)
from store import feeds
from store.db import transaction
from tests.support.telegram import ADMIN, Conversation, button_labels

ROOT = Path(__file__).resolve().parent.parent
NB = NO_BREAK_SPACE


def raw(language: str, directory: Path = LOCALES) -> dict[str, Any]:
    """A locale file as written (before typesetting)."""
    return tomllib.loads((directory / f"{language}.toml").read_text(encoding="utf-8"))


def fields(template: str) -> set[str]:
    """The placeholders of a str.format template, without their format specs."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def forms(value: Any) -> list[str]:
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else [value]


# -- every file is complete ------------------------------------------------------------
@pytest.mark.parametrize("language", languages())
def test_every_language_has_every_key_and_placeholder_of_english(language: str) -> None:
    english, other = raw(DEFAULT), raw(language)
    english.pop("language"), other.pop("language")
    assert set(other) == set(english)
    for key, reference in english.items():
        value = other[key]
        assert type(value) is type(reference), key
        if isinstance(reference, list):
            assert len(value) == len(reference), key
        wanted = set().union(*(fields(form) for form in forms(reference)))
        for form in forms(value):
            assert fields(form) == wanted, (key, form)


@pytest.mark.parametrize("language", languages())
def test_every_plural_message_has_every_form_its_language_names(language: str) -> None:
    data = raw(language)
    categories = {"other", *data["language"].get("plural", {})}
    plural = {key: value for key, value in data.items() if isinstance(value, dict)}
    plural.pop("language")
    assert plural, "the digest counts stories and sources: plural messages exist"
    for key, value in plural.items():
        assert set(value) == categories, key
        assert all("{n}" in form for form in value.values()), key


# Texts French and English legitimately share (after typesetting, which spaces French).
SAME_IN_FRENCH = {
    "toggled_on": "an emoji and the topic's own (bilingual) name",
    "toggled_off": "an emoji and the topic's own (bilingual) name",
    "date": "day, month, year in that order in both",
    "trend_day": "dd/mm in both",
    "sources": "'source' is French too",
}


def test_french_is_a_translation_not_a_copy() -> None:
    french, english = catalog("fr"), catalog("en")
    same = {k for k, v in english.messages.items() if french.messages[k] == v}
    assert same == set(SAME_IN_FRENCH)
    assert french.lists["months"] != english.lists["months"]


def test_no_user_text_is_left_in_the_code() -> None:
    """The modules that speak to readers hold no French: their words are the catalogue's
    (docstrings and comments may quote it)."""
    speaking = [
        *sorted((ROOT / "bot" / "telegram").glob("*.py")),
        *(
            ROOT / "bot" / "deliver" / name
            for name in ("render.py", "digest.py", "digest_job.py", "charts.py")
        ),
    ]
    french = re.compile(r"[a-z][éèêàâùûôîç]|[éèêàâùûôîç][a-z]")  # a French word
    found = {}
    for path in speaking:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        texts = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and french.search(node.value)
        ]
        if texts:
            found[path.name] = texts
    assert found == {}


# -- plurals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "n", "shown"),
    [
        pytest.param("fr", 0, "0 sujet", id="French: zero is singular"),
        pytest.param("fr", 1, "1 sujet", id="French: one is singular"),
        pytest.param("fr", 2, "2 sujets", id="French: two is plural"),
        pytest.param("en", 0, "0 stories", id="English: zero is plural"),
        pytest.param("en", 1, "1 story", id="English: one is singular"),
        pytest.param("en", 21, "21 stories", id="English: twenty-one is plural"),
    ],
)
def test_plural_forms_follow_the_languages_rule(language: str, n: int, shown: str) -> None:
    assert t(language, "stories", n=n) == shown


RUSSIAN = {  # CLDR's rules for Russian: the hard case the syntax must carry
    "one": "v = 0 and i % 10 = 1 and i % 100 != 11",
    "few": "v = 0 and i % 10 = 2..4 and i % 100 != 12..14",
    "many": "v = 0 and i % 10 = 0 or v = 0 and i % 10 = 5..9 or v = 0 and i % 100 = 11..14",
}


@pytest.mark.parametrize(
    ("n", "category"),
    [
        (1, "one"),
        (21, "one"),
        (11, "many"),
        (2, "few"),
        (24, "few"),
        (12, "many"),
        (5, "many"),
        (0, "many"),
        (100, "many"),
        (101, "one"),
    ],
)
def test_a_cldr_rule_in_a_file_carries_russian(n: int, category: str) -> None:
    holding = [name for name, rule in RUSSIAN.items() if plural_rule(rule)(n)]
    assert holding == [category]


@pytest.mark.parametrize("rule", ["n is 1", "n = one", "x = 1", "n % = 1", ""])
def test_a_rule_that_is_not_cldr_is_refused(rule: str) -> None:
    with pytest.raises(ValueError, match="not a CLDR plural rule"):
        plural_rule(rule)


def test_a_plural_message_needs_its_count() -> None:
    with pytest.raises(TypeError, match="needs n"):
        t("en", "stories")


# -- French typography -------------------------------------------------------------------
FRENCH_MARKS = (":;?!»", "«")
TYPOGRAPHY = [
    pytest.param("Usage: x", f"Usage{NB}: x", id="a colon gets a no-break space before"),
    pytest.param("Usage : x", f"Usage{NB}: x", id="an ordinary space typed becomes one"),
    pytest.param(f"Usage{NB}: x", f"Usage{NB}: x", id="a no-break space typed stays one"),
    pytest.param("C'est définitif?", f"C'est définitif{NB}?", id="a question mark at the end"),
    pytest.param("Bonjour! Ce chat", f"Bonjour{NB}! Ce chat", id="an exclamation mark"),
    pytest.param("a; b", f"a{NB}; b", id="a semicolon"),
    pytest.param("«{words}».", f"«{NB}{{words}}{NB}».", id="guillemets, then a full stop"),
    pytest.param("<b>Admin</b>: /stats", f"<b>Admin</b>{NB}: /stats", id="after a tag"),
    pytest.param("thèmes:</b>", f"thèmes{NB}:</b>", id="before a tag"),
    pytest.param("à 07:30 (HH:MM)", "à 07:30 (HH:MM)", id="a time is left alone"),
    pytest.param("<code>title:chine</code>", "<code>title:chine</code>", id="a rule field too"),
    pytest.param("https://x.example/?a=1", "https://x.example/?a=1", id="a link too"),
    pytest.param("{day:02d}/{month:02d}", "{day:02d}/{month:02d}", id="a format spec too"),
    pytest.param("×{failures}: {error}", f"×{{failures}}{NB}: {{error}}", id="a placeholder"),
]


@pytest.mark.parametrize(("written", "shown"), TYPOGRAPHY)
def test_french_typography_is_applied_in_one_place(written: str, shown: str) -> None:
    assert typeset(written, *FRENCH_MARKS) == shown


def test_typography_spaces_the_template_never_the_arguments() -> None:
    assert t("fr", "subscribed", topics="a: b?") == f"Abonné·e à{NB}: a: b?"
    assert t("en", "subscribed", topics="a: b?") == "Subscribed to: a: b?"


def test_numbers_take_the_languages_decimal_mark() -> None:
    assert t("fr", "fetch_timeout", seconds=2.5) == "pas de réponse en 2,5 s"
    assert t("en", "fetch_timeout", seconds=2.5) == "timed out after 2.5 s"
    assert t("en", "fetch_timeout", seconds=20.0) == "timed out after 20 s"


# -- languages -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR_fr", "fr"),
        ("en-US", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_a_new_user_gets_their_telegram_language_when_mcwatch_has_it(
    code: str | None, language: str
) -> None:
    assert language_for(code) == language


def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **files: str) -> Path:
    """A locale directory with French, English and ``files`` (language → TOML), which
    the catalogue reads from now on."""
    for language in ("fr", "en"):
        shutil.copy(LOCALES / f"{language}.toml", tmp_path / f"{language}.toml")
    for language, text in files.items():
        (tmp_path / f"{language}.toml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(bot.text, "LOCALES", tmp_path)
    return tmp_path


def test_the_languages_are_the_files_present_french_and_english_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert languages() == ("fr", "en")
    named = {"de": "Deutsch", "br": "brezhoneg"}
    locales(tmp_path, monkeypatch, **{k: f'language.name = "{v}"\n' for k, v in named.items()})
    assert languages() == ("fr", "en", "br", "de")
    assert language_for("de-AT") == "de"


def test_a_partial_translation_falls_back_to_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    portuguese = 'language.name = "português"\nstop_yes = "Sim, esqueça-me"\n'
    locales(tmp_path, monkeypatch, pt=portuguese)
    assert t("pt", "stop_yes") == "Sim, esqueça-me"
    assert t("pt", "stop_cancel") == "Cancel"
    assert names("pt", "months")[1] == "Feb"
    assert t("xx", "stop_cancel") == "Cancel"  # no file at all: English


def test_a_broken_locale_file_says_which_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locales(tmp_path, monkeypatch, qq='language.name = "q"\nstories = { one = "{n} q" }\n')
    with pytest.raises(ValueError, match=r"qq\.toml: stories"):
        catalog("qq")


# -- failures are a key and arguments ---------------------------------------------------
def test_a_failure_is_stored_as_a_key_and_said_in_each_language() -> None:
    stored = failure("fetch_http_status", status=503, reason="Service Unavailable")
    assert json.loads(stored) == {
        "key": "fetch_http_status",
        "args": {"status": 503, "reason": "Service Unavailable"},
    }
    assert parse_failure(stored) == (
        "fetch_http_status",
        {"status": 503, "reason": "Service Unavailable"},
    )
    assert describe(stored, "en") == "HTTP 503 Service Unavailable"
    assert describe(stored, "fr") == "réponse HTTP 503 Service Unavailable"
    assert describe(failure("fetch_http_status", status=500, reason=""), "en") == "HTTP 500"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        pytest.param("HTTP 404 Not Found", "HTTP 404 Not Found", id="a reason stored before"),
        pytest.param('{"key": broken', '{"key": broken', id="not JSON: shown as it is"),
        pytest.param(failure("no_such_key", status=1), "no_such_key status=1", id="an unknown key"),
        pytest.param(
            failure("fetch_http_status", status=1),
            "fetch_http_status status=1",
            id="a missing argument",
        ),
        pytest.param(None, "", id="no failure"),
    ],
)
def test_describe_never_fails(stored: str | None, shown: str) -> None:
    assert describe(stored, "fr") == shown


def test_a_stored_failure_stays_short_and_whole() -> None:
    stored = failure("parse_failed", detail="x" * 10_000)
    assert len(stored) < 1000  # store.feeds keeps 1,000 characters: never cut
    assert describe(stored, "en") == "x" * bot.text.MAX_FAILURE_ARG


# -- a third language, one file, no code ------------------------------------------------
MARK = "⟦"  # every text of the pseudo-language starts with it


def pseudo_locale(source: Path = LOCALES / "en.toml") -> str:
    """A complete locale file for a pseudo-language ``xx``, written from English: every
    text wrapped in ⟦…⟧ (placeholders and markup kept), with a plural rule English does
    not have (one, few, other), so every text it shows is recognisable as its own."""

    def quoted(text: str) -> str:
        return json.dumps(f"{MARK}{text}⟧", ensure_ascii=False)  # a valid TOML string

    lines = [
        'language.name = "pseudo"',
        'language.plural.one = "n = 1"',
        'language.plural.few = "n % 10 = 2..4 and n % 100 != 12..14"',
    ]
    for key, value in tomllib.loads(source.read_text(encoding="utf-8")).items():
        if key == "language":
            continue
        if isinstance(value, str):
            lines.append(f"{key} = {quoted(value)}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(quoted(v) for v in value)}]")
        else:
            few = value["other"] + " (few)"
            lines.append(
                f"{key} = {{ one = {quoted(value['one'])}, few = {quoted(few)}, "
                f"other = {quoted(value['other'])} }}"
            )
    return "\n".join(lines) + "\n"


CHAT = 7001
# What a reader of the new language types: every command of the menu, with and without
# what it takes, then the admin commands.
CONVERSATION = [
    "/start",
    "/help",
    "/settings",
    "/topics",
    "/subscribe",
    "/subscribe nosuch",
    "/subscribe security",
    "/unsubscribe mining",
    "/unsubscribe",
    "/mode",
    "/mode both",
    "/digesttime 25:00",
    "/digesttime 06:45",
    "/digestday",
    "/digestday nope",
    "/digestday 3",
    "/mode weekly",
    "/timezone Mars/Olympus",
    "/timezone Africa/Bamako",
    "/lang de",
    "/lang xx",
    "/quiet tonight",
    "/quiet 22:00-07:00",
    "/quiet off",
    "/latest 0",
    "/latest",
    "/search",
    "/search chine^2",
    "/search nothingatall",
    "/search barrage",
    "/watch",
    "/watch (",
    "/watch huawei",
    "/watch huawei",
    "/watches",
    "/unwatch 9",
    "/unwatch 1",
    "/digest",
    "/trend",
    "/pause",
    "/resume",
    "/frobnicate",
    "free text",
    "/stop",
]


def shown(bot_said: list[Any]) -> list[str]:
    return [m.plain if m.plain is not None else m.caption or "" for m in bot_said]


def test_a_new_language_is_one_file_and_answers_every_command(
    bot: Conversation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locales(tmp_path, monkeypatch, xx=pseudo_locale())
    assert languages() == ("fr", "en", "xx")
    typed = {line.split()[0].lstrip("/") for line in CONVERSATION}
    assert set(COMMANDS) <= typed  # the conversation covers the whole menu

    # A stranger, then a reader whose Telegram speaks the new language.
    assert all(MARK in text for text in shown(bot.say(CHAT, "/latest", language_code="xx")))
    assert all(MARK in text for text in shown(bot.say(CHAT, "/start", language_code="xx")))
    subscriber = bot.subscriber(CHAT)
    assert subscriber is not None and subscriber.language == "xx"
    bot.publish("Barrage de Kénié : la Chine finance", topics=("energy", "security"))
    bot.publish("Kénié, encore un barrage", topics=("energy",), source="Mali Web")
    bot.clock.advance(minutes=5)
    for line in CONVERSATION:
        replies = bot.say(CHAT, line, language_code="xx")
        assert replies, line
        assert all(MARK in text for text in shown(replies)), (line, shown(replies))
        first = replies[0].plain or ""
        if line == "/help":
            assert "/lang fr|en|xx" in first
        if line == "/digest":
            assert f"{MARK}2 stories (few)⟧" in first and f"{MARK}1 source⟧" in first
        if line == "/stop":
            assert all(label.startswith(MARK) for label in button_labels(replies[0]).values())

    # Its alerts, and the admin's commands: /health says why a feed fails in it.
    assert bot.deliver().sent == 2
    alert = bot.botapi.texts_to(CHAT)[-1]
    assert f"{MARK}terms: " in alert and f"{MARK}Feb⟧" in alert
    down = bot.add_feed("https://down.example/rss", "Down")
    with transaction(bot.engine) as session:  # as a poll answered 503 records it
        why = failure("fetch_http_status", status=503, reason="Service Unavailable")
        now = bot.clock.now()
        feeds.record_fetch_failure(session, down, now=now, error=why, next_poll_at=now)
    for command in ADMIN_COMMANDS:
        replies = bot.say(ADMIN, f"/{command}", user_id=ADMIN, language_code="xx")
        assert replies and all(MARK in text for text in shown(replies)), command
    health = bot.said(ADMIN, "/health", user_id=ADMIN, language_code="xx")
    assert f"{MARK}HTTP 503 Service Unavailable⟧" in health

    # The menu, in the new language too; and French is still French.
    assert bot.application is not None
    bot._run(publish_commands(bot.application))
    menus = {c.get("language_code", ""): json.loads(c["commands"]) for c in bot.botapi.commands}
    assert set(menus) == {"fr", "en", "xx", ""}
    assert all(c["description"].startswith(MARK) for c in menus["xx"])
    assert bot.said(CHAT, "/lang fr", language_code="xx") == f"Langue{NB}: français."
    assert bot.botapi.rejected == []


@pytest.mark.parametrize(
    ("body", "english", "french"),
    [
        (b"<!DOCTYPE html><html><body>x</body></html>", "an HTML page, not a feed",
         "une page HTML, pas un flux"),
        (b'{"version": "https://jsonfeed.org/version/2", "items": []}',
         "JSON Feed https://jsonfeed.org/version/2 is not supported (1 and 1.1 are)",
         "JSON Feed https://jsonfeed.org/version/2 n'est pas pris en charge (1 et 1.1 le sont)"),
        (b'<?xml version="1.0"?>\n<notfeed><a></b></notfeed>',
         "not a feed (XML error at line 2: mismatched tag)",
         "pas un flux (erreur XML ligne 2\u00a0: mismatched tag)"),
    ],
)
def test_a_parse_failure_is_stored_as_a_key_and_read_in_each_language(
    body: bytes, english: str, french: str
) -> None:
    """A feed that is not one is stored as the failure's key and arguments (not an English
    sentence): /health reads it to a French admin in French."""
    from bot.ingest.prepare import prepare
    from bot.match import compile_rules
    from bot.match.lexicon import Lexicon
    from bot.types import TopicRule

    matcher = compile_rules([TopicRule("x", "chine", "x")], Lexicon(aliases={}))
    prepared = prepare(body, "https://example.org/feed", None, datetime.now(UTC), matcher)
    assert prepared.error is not None and prepared.error.startswith('{"key":"parse_')
    assert describe(prepared.error, "en").startswith(english)
    assert describe(prepared.error, "fr").startswith(french)
