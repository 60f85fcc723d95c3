"""End to end: a story reported in two languages, then different events in later polls.

Issue 10's blocker, tried as a new user would: a security accord reported in French and
English is one story (right); two later, different events — an attack on a Chinese
convoy, a kidnapping of Chinese engineers — joined that story, the old alert was edited
to "also reported by …" and nobody was told of the attack. Here every step runs through
``mcwatch run --once`` (its own deps and bot), the Bot API stand-in over HTTP and a real
database; the texts are written for this test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from bot.cli import app
from bot.cli.runtime import Runtime
from bot.clock import FixedClock
from bot.settings import load_settings
from tests.support.botapi import BotApi
from tests.support.feed_server import FeedServer
from tests.test_e2e_digest import add_feed, alerts, configured, rss, run_once

__all__ = ["configured"]  # the fixture, shared with the digest end-to-end test

CHAT = 7001
# The later events share the accord's actors and places (Chinese nationals, their
# companies' convoys, the security ministry, Kayes): the old grouping chained them in.
ACCORD_FR = (
    "Sécurité des ressortissants chinois : Bamako et Pékin signent un accord",
    "Le ministre malien de la Sécurité et l'ambassadeur de Chine ont signé mardi à Bamako "
    "un accord sur la protection des ressortissants chinois et des convois des "
    "entreprises chinoises, notamment dans la région de Kayes.",
)
ACCORD_EN = (
    "Mali, China sign accord on security of Chinese nationals",
    "Mali's security minister and the Chinese ambassador signed an agreement in Bamako on "
    "Tuesday on protecting Chinese nationals and the convoys of Chinese companies, "
    "notably in the Kayes region.",
)
ATTACK = (
    "Attaque contre un convoi chinois près de Kayes : deux morts",
    "Des hommes armés ont attaqué mercredi un convoi d'une entreprise chinoise dans la "
    "région de Kayes ; deux gardes maliens ont été tués, les ressortissants chinois sont "
    "saufs, selon le ministère de la Sécurité.",
)
KIDAL = (
    "Kidal : des ingénieurs chinois enlevés puis libérés",
    "Trois ressortissants chinois, ingénieurs d'une entreprise chinoise, enlevés lundi près "
    "de Kidal ont été libérés jeudi, a annoncé le ministère malien de la Sécurité.",
)


def two_outlets_report_the_accord(database_url: str, feed_server: FeedServer) -> datetime:
    """Serve and add two outlets, each with one copy of the accord; returns now."""
    now = datetime.now(UTC).replace(microsecond=0)
    feed_server.serve(
        "/sahel.rss",
        rss("Le Sahel Quotidien", "sahel.example", [("a-1", ACCORD_FR, now - timedelta(hours=6))]),
    )
    feed_server.serve(
        "/wire.rss",
        rss("Sahel Wire", "wire.example", [("w-1", ACCORD_EN, now - timedelta(hours=5))]),
    )
    add_feed(database_url, feed_server.url("/sahel.rss"), "Le Sahel Quotidien", now)
    add_feed(database_url, feed_server.url("/wire.rss"), "Sahel Wire", now)
    return now


def test_later_events_are_alerted_and_never_merged_into_the_bilingual_story(
    configured: str, botapi: BotApi, feed_server: FeedServer
) -> None:
    now = two_outlets_report_the_accord(configured, feed_server)
    botapi.push_message(CHAT, "/start", language_code="fr")
    runtime = Runtime(load_settings(), FixedClock(now))

    run_once(runtime)
    first = alerts(botapi, CHAT)
    assert len(first) == 1, [m.plain for m in first]  # two copies, one story

    # Later polls bring two different events, from both outlets.
    later = now + timedelta(hours=20)
    feed_server.serve(
        "/sahel.rss",
        rss(
            "Le Sahel Quotidien",
            "sahel.example",
            [("a-1", ACCORD_FR, now - timedelta(hours=6)), ("a-2", ATTACK, later)],
        ),
    )
    feed_server.serve(
        "/wire.rss",
        rss(
            "Sahel Wire",
            "wire.example",
            [("w-1", ACCORD_EN, now - timedelta(hours=5)), ("w-2", KIDAL, later)],
        ),
    )
    runtime = Runtime(load_settings(), FixedClock(later + timedelta(hours=1)))
    run_once(runtime)  # both feeds are due again by then
    runner = CliRunner()

    texts = [m.plain or "" for m in alerts(botapi, CHAT)]
    assert len(texts) == 3, texts
    assert any("Kayes" in t for t in texts) and any("Kidal" in t for t in texts)
    assert not first[0].edits, "the accord's alert must not gain the later events"

    listed = runner.invoke(app, ["items", "list", "--since", "7d", "--json"])
    by_title = {row["title"]: row["cluster_id"] for row in json.loads(listed.stdout)}
    assert by_title[ACCORD_FR[0]] == by_title[ACCORD_EN[0]]
    stories = {by_title[ACCORD_FR[0]], by_title[ATTACK[0]], by_title[KIDAL[0]]}
    assert len(stories) == 3, by_title


def test_the_reason_two_items_are_one_story_is_shown(
    configured: str, feed_server: FeedServer
) -> None:
    two_outlets_report_the_accord(configured, feed_server)
    runner = CliRunner()
    assert runner.invoke(app, ["poll", "--all"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["items", "list", "--json"]).stdout)
    english = next(row for row in listed if row["title"] == ACCORD_EN[0])
    shown = runner.invoke(app, ["items", "show", str(english["id"])])
    assert shown.exit_code == 0, shown.output
    assert "story" in shown.output.lower()
    assert ACCORD_FR[0] in shown.output  # the report it was grouped with
