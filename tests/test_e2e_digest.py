"""End to end: stories and the daily digest, over loopback feeds and the Bot API stand-in.

Two chats register through the stand-in (``/start``; one then ``/mode digest``), two
outlets' feeds are served on loopback, and ``mcwatch run --once`` runs its own steps
(``bot.cli.run.connected`` + ``bot.jobs.run_once``, exactly what the command runs) with
a ``FixedClock``: the command itself always uses the system clock, and the digest must
come at a chosen time. Real python-telegram-bot over HTTP, a real database (and
PostgreSQL when named), nothing mocked. ``mcwatch items list --json`` runs as a command.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import jobs
from bot.cli import app
from bot.cli.run import connected
from bot.cli.runtime import Runtime
from bot.clock import FixedClock, SystemClock
from bot.jobs import OnceReport
from bot.seed_files import seed
from bot.settings import load_settings
from store import feeds, stories
from store.db import make_engine, transaction
from store.feeds import NewFeed
from store.migrate import upgrade
from tests.support.botapi import BotApi, SentMessage
from tests.support.feed_server import FeedServer

TOKEN = "123456:TEST-token-not-real"
INSTANT, DIGEST = 6001, 6002
FIRST, SECOND = "Le Sahel Quotidien", "Kayes Matin"

# Written for this test: two Mali–China stories and an item that must not alert, from
# the first outlet; the second outlet rewrites the first story (same event, other words).
KIDNAP = (
    "Kéniéba : enlèvement de travailleurs chinois sur un site aurifère",
    "Des hommes armés ont enlevé plusieurs ouvriers chinois près de Kéniéba, dans "
    "l'ouest du Mali, selon des sources sécuritaires.",
)
LOAN = (
    "Route Kati-Kolokani : la Chine accorde un prêt de 40 milliards",
    "Le ministre malien de l'Économie a signé avec l'Exim Bank of China un accord de "
    "prêt pour la réhabilitation de la route Kati-Kolokani.",
)
RICE = (
    "Agriculture : une nouvelle machine à décortiquer le riz à Ségou",
    "Les riziculteurs de Ségou testent une machine fabriquée sur place.",
)
KIDNAP_COPY = (
    "Mali : des ouvriers chinois enlevés par des hommes armés à Kéniéba",
    "Plusieurs travailleurs chinois d'un site d'orpaillage ont été enlevés près de "
    "Kéniéba, dans la région de Kayes, par des individus armés.",
)


def rss(outlet: str, host: str, entries: list[tuple[str, tuple[str, str], datetime]]) -> bytes:
    items = "".join(
        f"<item><guid>{guid}</guid><link>https://{host}/{guid}</link>"
        f"<title>{title}</title><description>{summary}</description>"
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>"
        for guid, (title, summary), published in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{outlet}</title><language>fr</language><link>https://example.org/</link>"
        f"<description>Actualité</description>{items}</channel></rss>"
    ).encode()


def first_outlet(at: datetime) -> bytes:
    return rss(
        FIRST,
        "sahel.example",
        [
            ("sq-1", KIDNAP, at - timedelta(hours=3)),
            ("sq-2", LOAN, at - timedelta(hours=2)),
            ("sq-3", RICE, at - timedelta(hours=2)),
        ],
    )


def second_outlet(at: datetime) -> bytes:
    return rss(SECOND, "kayes.example", [("km-1", KIDNAP_COPY, at - timedelta(hours=1))])


def add_feed(database_url: str, url: str, name: str, now: datetime) -> None:
    """The admin adds a feed (due at once) at ``now``."""
    engine = make_engine(database_url)
    with transaction(engine) as session:
        feeds.add_feed(session, NewFeed(url=url, name=name), now)
    engine.dispose()


@pytest.fixture
def configured(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    botapi: BotApi,
    feed_server: FeedServer,
) -> str:
    """A migrated, seeded database (no seeded feeds); settings in the environment."""
    engine = make_engine(database_url)
    upgrade(engine)
    seed(engine, SystemClock(), with_feeds=False)
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    for key in ("MCWATCH_CONFIG", "MCWATCH_TIMEZONE", "MCWATCH_DIGEST_TIME"):
        monkeypatch.delenv(key, raising=False)  # the defaults: Africa/Bamako, 07:30
    monkeypatch.setenv("MCWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("MCWATCH_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("MCWATCH_TELEGRAM_API_URL", botapi.base_url)
    monkeypatch.setenv("MCWATCH_LOG_LEVEL", "WARNING")
    return database_url


def run_once(runtime: Runtime) -> OnceReport:
    """One ``mcwatch run --once`` at the runtime's clock: its own deps and bot, as the
    command builds them. The runtime (settings, migrated engine) is shared by the runs:
    preparing it again would only parse the seed files again."""

    async def go() -> OnceReport:
        async with connected(runtime) as (deps, application):
            return await jobs.run_once(deps, application)

    return asyncio.run(go())


def alerts(botapi: BotApi, chat_id: int) -> list[SentMessage]:
    return [m for m in botapi.messages_to(chat_id) if (m.text or "").startswith("📰")]


def digest_texts(botapi: BotApi, chat_id: int) -> list[str]:
    return [m.plain or "" for m in botapi.messages_to(chat_id) if (m.text or "").startswith("🗞")]


def photos(botapi: BotApi, chat_id: int) -> list[SentMessage]:
    return [m for m in botapi.messages_to(chat_id) if m.method == "sendPhoto"]


def test_digest_reader_gets_one_digest_and_instant_reader_each_story_once(
    configured: str, botapi: BotApi, feed_server: FeedServer
) -> None:
    # Yesterday 06:00 UTC (06:00 in Bamako, the default zone; the digest is at 07:30),
    # so that `items list --since 7d` (system clock) sees these items too.
    start = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=6, minute=0, second=0, microsecond=0
    )
    clock = FixedClock(start)
    runtime = Runtime(load_settings(), clock=clock)
    feed_server.serve("/sahel.rss", first_outlet(start))
    add_feed(configured, feed_server.url("/sahel.rss"), FIRST, clock.now())
    botapi.push_message(INSTANT, "/start", language_code="fr")
    botapi.push_message(DIGEST, "/start", language_code="en")
    botapi.push_message(DIGEST, "/mode digest", language_code="en")

    # 06:00: the instant reader gets both stories; the digest reader nothing yet.
    first = run_once(runtime)
    assert first.updates == 3 and first.digests == 0
    instant = alerts(botapi, INSTANT)
    assert len(instant) == 2, [m.plain for m in botapi.messages_to(INSTANT)]
    kidnap_alert = next(m for m in instant if KIDNAP[0] in (m.plain or ""))
    assert any(LOAN[0] in (m.plain or "") for m in instant)
    assert alerts(botapi, DIGEST) == [] and digest_texts(botapi, DIGEST) == []
    replies_to_digest_reader = len(botapi.messages_to(DIGEST))  # /start and /mode answers

    # 06:20: a second outlet carries a rewrite of the first story.
    feed_server.serve("/kayes.rss", second_outlet(start))
    clock.advance(minutes=20)
    add_feed(configured, feed_server.url("/kayes.rss"), SECOND, clock.now())
    second = run_once(runtime)
    assert sum(o.new_items for o in second.polled) == 1
    assert alerts(botapi, INSTANT) == instant, "a later source is no new alert"
    assert len(kidnap_alert.edits) == 1
    assert "Aussi rapporté par" in kidnap_alert.edits[0] and SECOND in kidnap_alert.edits[0]
    assert len(botapi.messages_to(DIGEST)) == replies_to_digest_reader

    # The CLI names the story of each item: both copies are one cluster, the loan another.
    listed = CliRunner().invoke(app, ["items", "list", "--json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    by_title = {item["title"]: item for item in json.loads(listed.stdout)}
    cluster = by_title[KIDNAP[0]]["cluster_id"]
    assert isinstance(cluster, int) and by_title[KIDNAP_COPY[0]]["cluster_id"] == cluster
    assert by_title[LOAN[0]]["cluster_id"] not in (None, cluster)
    engine = make_engine(configured)
    with transaction(engine) as session:
        assert stories.sources(session, cluster) == [FIRST, SECOND]  # cluster_id = story id
    engine.dispose()

    # 07:31: the digest reader's time (07:30 in Bamako): one digest, the trend as its
    # last line (MCWATCH_DIGEST_CHART=weekly, the default: the PNG is the weekly's).
    clock.current = start.replace(hour=7, minute=31)
    third = run_once(runtime)
    assert third.digests == 1
    digest = digest_texts(botapi, DIGEST)
    assert len(digest) >= 1
    text = "\n".join(digest)
    assert "2 stories" in text and "2 sources" in text
    assert KIDNAP[0] in text and LOAN[0] in text and RICE[0] not in text
    assert photos(botapi, DIGEST) == []
    assert digest[-1].splitlines()[-1].startswith("Stories per topic, last 14 days: ")
    assert alerts(botapi, DIGEST) == []
    assert alerts(botapi, INSTANT) == instant and digest_texts(botapi, INSTANT) == []

    # Later the same day: no second digest, nothing new for anyone.
    sent_before = len(botapi.sent)
    clock.advance(hours=3)
    fourth = run_once(runtime)
    assert fourth.digests == 0
    assert len(botapi.sent) == sent_before
    assert len(kidnap_alert.edits) == 1
    assert botapi.rejected == [] and botapi.too_many_requests == 0
    runtime.engine.dispose()
