"""End to end: a feed on loopback → `mcwatch run --once` → the Bot API stand-in.

The real CLI, the real python-telegram-bot over HTTP, a real database file (and
PostgreSQL when named), the loopback feed server. Nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.clock import SystemClock
from bot.seed_files import seed
from store import feeds
from store.db import make_engine, transaction
from store.feeds import NewFeed
from store.migrate import upgrade

TOKEN = "123456:TEST-token-not-real"

# Written for this test: three Mali–China stories and two that must not alert.
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Le Sahel Quotidien</title><language>fr</language>
<link>https://example.org/</link><description>Actualité</description>
<item><guid>sq-1</guid><link>https://example.org/sq-1?utm_source=rss</link>
<title>Bamako et Pékin renforcent la protection des travailleurs chinois</title>
<description>Le ministre malien de la Sécurité a reçu l’ambassadeur de Chine pour discuter
de la sécurisation des sites miniers où travaillent des ressortissants chinois.</description>
<pubDate>Tue, 03 Feb 2026 10:00:00 GMT</pubDate></item>
<item><guid>sq-2</guid><link>https://example.org/sq-2</link>
<title>Route Kayes–Kita : une entreprise chinoise achève le premier tronçon</title>
<description>Financé par un prêt de la Chine, le chantier routier au Mali emploie
plusieurs centaines d'ouvriers maliens.</description>
<pubDate>Wed, 04 Feb 2026 08:30:00 GMT</pubDate></item>
<item><guid>sq-3</guid><link>https://example.org/sq-3</link>
<title>Mali-China: Prime Minister Maiga receives Beijing's new ambassador</title>
<description>The Malian Prime Minister and the Chinese ambassador discussed security,
infrastructure and agriculture cooperation in Bamako.</description>
<pubDate>Mon, 23 Feb 2026 15:00:00 GMT</pubDate></item>
<item><guid>sq-4</guid><link>https://example.org/sq-4</link>
<title>Agriculture : une nouvelle machine à décortiquer le riz à Ségou</title>
<description>Les riziculteurs de Ségou testent une machine fabriquée sur place.</description>
<pubDate>Thu, 05 Feb 2026 09:00:00 GMT</pubDate></item>
<item><guid>sq-5</guid><link>https://example.org/sq-5</link>
<title>Bamako et Moscou signent un accord militaire</title>
<description>Le Mali et la Russie ont signé un accord de défense à Moscou.</description>
<pubDate>Fri, 06 Feb 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""
ALERT_TITLES = (
    "protection des travailleurs chinois",
    "une entreprise chinoise achève",
    "Prime Minister Maiga receives",
)
CHAT = 5001


@pytest.fixture
def configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, botapi, feed_server
) -> str:  # type: ignore[no-untyped-def]
    """A database with the seeded topics and one loopback feed; settings in the env."""
    feed_server.serve("/sahel.rss", FEED.encode())
    engine = make_engine(database_url)
    upgrade(engine)
    seed(engine, SystemClock(), with_feeds=False)
    with transaction(engine) as session:
        feeds.add_feed(
            session,
            NewFeed(url=feed_server.url("/sahel.rss"), name="Le Sahel Quotidien"),
            SystemClock().now(),
        )
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("MCWATCH_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("MCWATCH_TELEGRAM_API_URL", botapi.base_url)
    monkeypatch.setenv("MCWATCH_LOG_LEVEL", "DEBUG")  # the most talkative: still no token
    # The feed's items are from February: news for this test, not an archive (the
    # backlog rule has its own tests in test_realnews.py).
    monkeypatch.setenv("MCWATCH_BACKLOG_DAYS", "0")
    return database_url


def alerts_to(botapi, chat_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        m.text
        for m in botapi.messages_to(chat_id)
        if m.text and any(title in m.text for title in ALERT_TITLES)
    ]


def test_feed_to_alert_once(
    configured: str, botapi, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    botapi.push_message(CHAT, "/start", language_code="fr")
    runner = CliRunner()

    first = runner.invoke(app, ["run", "--once"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    welcome = [m.text for m in botapi.messages_to(CHAT) if m.text and "mcwatch" in m.text]
    assert welcome, "the /start reply was not sent"
    alerts = alerts_to(botapi, CHAT)
    assert len(alerts) == 3, alerts
    assert sorted(t for t in ALERT_TITLES if any(t in a for a in alerts)) == sorted(ALERT_TITLES)
    assert all("#" in alert for alert in alerts)  # topics as hashtags
    sent_before = len(botapi.sent)

    second = runner.invoke(app, ["run", "--once"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert len(botapi.sent) == sent_before, "a second run must send nothing new"
    assert botapi.too_many_requests == 0

    # The token is a secret: not in the output, the logs, or the database.
    captured = capfd.readouterr()
    for text in (first.output, second.output, captured.out, captured.err):
        assert TOKEN not in text
    if configured.startswith("sqlite"):
        database = Path(configured.removeprefix("sqlite:///"))
        files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
        assert database in files
        for path in files:  # the database and its WAL
            assert TOKEN.encode() not in path.read_bytes()
