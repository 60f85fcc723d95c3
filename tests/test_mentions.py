"""First mentions (issue 15 point 4): "🆕 First mention: Kuntai" on the alert of the first
Mali–China story naming an entity, once per entity.

End to end on a fixture history: loopback feeds polled by ``mcwatch run --once``'s own
steps, alerts through the Bot API stand-in, on SQLite and PostgreSQL. Then the pure part
(``bot.mentions``): names found as whole folded words, the warm-up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from bot.cli.runtime import Runtime
from bot.clock import FixedClock
from bot.mentions import WARMUP, Named, first_mentions, name_index
from bot.settings import load_settings
from store.db import make_engine, transaction
from store.mentions import PRIMED_KEY
from store.models import Mention, Meta
from tests.support.botapi import BotApi
from tests.support.feed_server import FeedServer
from tests.test_e2e_digest import KIDNAP, add_feed, alerts, configured, rss, run_once
from tests.test_watches import CENTRE, FIBRE

__all__ = ["configured"]

NBSP = "\u00a0"
FR, EN = 7301, 7302
# Written for these tests, checked with `mcwatch rules test`.
GANFENG = (
    "Goulamina : Ganfeng expédie son premier lot de lithium depuis le Mali",
    "Le groupe chinois Ganfeng a expédié depuis Bamako le premier lot de spodumène de la "
    "mine malienne.",
)
KUNTAI = (
    "Mali : la société chinoise Kuntai obtient un permis aurifère à Kéniéba",
    "Le gouvernement malien a attribué à la société chinoise Kuntai un permis "
    "d'exploitation d'or dans le cercle de Kéniéba.",
)
KUNTAI_TAXES = (
    "Mali: Chinese miner Kuntai pays 12 billion CFA francs in taxes to the treasury",
    "The Malian finance ministry said the Chinese company Kuntai had paid 12 billion CFA "
    "francs in taxes and royalties for 2025.",
)


def lines(plain: str | None) -> list[str]:
    return (plain or "").replace(NBSP, " ").splitlines()


def firsts(botapi: BotApi, chat: int) -> dict[str, list[str]]:
    """Each alert's title → its first-mention lines."""
    return {
        lines(m.plain)[1]: [line for line in lines(m.plain) if line.startswith("🆕")]
        for m in alerts(botapi, chat)
    }


def setup(configured: str, feed_server: FeedServer, history_days: tuple[int, ...]) -> Runtime:
    """Yesterday 05:00 UTC; a history feed polled once (its items archive: older than
    the backlog, stored, never alerted), then two readers of every topic."""
    start = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=5, minute=0, second=0, microsecond=0
    )
    runtime = Runtime(load_settings(), clock=FixedClock(start))
    texts = (FIBRE, KIDNAP, GANFENG)
    history = [
        (f"h-{n}", text, start - timedelta(days=days))
        for n, (text, days) in enumerate(zip(texts, history_days, strict=False))
    ]
    feed_server.serve("/history.rss", rss("Archives", "archives.example", history))
    add_feed(configured, feed_server.url("/history.rss"), "Archives", start)
    run_once(runtime)
    return runtime


def test_the_first_story_naming_an_entity_says_so_once_end_to_end(
    configured: str, botapi: BotApi, feed_server: FeedServer
) -> None:
    runtime = setup(configured, feed_server, (30, 20, 16))
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    clock.advance(minutes=1)
    botapi.push_message(FR, "/start", language_code="fr")
    botapi.push_message(EN, "/start", language_code="en")
    run_once(runtime)

    # The news: Kuntai is new (Kéniéba is not: the kidnapping named it); Huawei is not.
    clock.advance(minutes=10)
    news = [
        ("n-1", KUNTAI, clock.now() - timedelta(hours=1)),
        ("n-2", CENTRE, clock.now() - timedelta(hours=1)),
    ]
    feed_server.serve("/news.rss", rss("Le Sahel Quotidien", "sahel.example", news))
    add_feed(configured, feed_server.url("/news.rss"), "Le Sahel Quotidien", clock.now())
    run_once(runtime)
    assert firsts(botapi, FR) == {KUNTAI[0]: ["🆕 Première mention : Kuntai"], CENTRE[0]: []}
    assert firsts(botapi, EN) == {KUNTAI[0]: ["🆕 First mention: Kuntai"], CENTRE[0]: []}

    # Ten days later another Kuntai story: news, alerted, but no longer a first.
    clock.advance(days=10)
    later = [("w-1", KUNTAI_TAXES, clock.now() - timedelta(minutes=30))]
    feed_server.serve("/wire.rss", rss("Wire", "wire.example", later))
    add_feed(configured, feed_server.url("/wire.rss"), "Wire", clock.now())
    run_once(runtime)
    assert firsts(botapi, EN) == {
        KUNTAI[0]: ["🆕 First mention: Kuntai"],
        CENTRE[0]: [],
        KUNTAI_TAXES[0]: [],
    }
    engine = make_engine(configured)
    with transaction(engine) as session:
        rows = session.exec(select(Mention).where(Mention.entity == "Kuntai")).all()
        assert len(rows) == 1 and rows[0].first_seen is not None
        announced = session.exec(select(Mention.entity).where(col(Mention.story_id).is_not(None)))
        assert list(announced) == ["Kuntai"]  # the history's names were no news
    engine.dispose()
    assert botapi.rejected == []
    runtime.engine.dispose()


def test_a_young_history_records_names_silently(
    configured: str, botapi: BotApi, feed_server: FeedServer
) -> None:
    # Five days of history: too short to call anything "never seen before".
    runtime = setup(configured, feed_server, (5, 4, 4))
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    botapi.push_message(EN, "/start", language_code="en")
    run_once(runtime)
    clock.advance(minutes=10)
    news = [("n-1", KUNTAI, clock.now() - timedelta(hours=1))]
    feed_server.serve("/news.rss", rss("Le Sahel Quotidien", "sahel.example", news))
    add_feed(configured, feed_server.url("/news.rss"), "Le Sahel Quotidien", clock.now())
    run_once(runtime)
    assert firsts(botapi, EN) == {KUNTAI[0]: []}
    engine = make_engine(configured)
    with transaction(engine) as session:
        kuntai = session.get(Mention, "Kuntai")
        assert kuntai is not None and kuntai.story_id is None  # known from now on
    engine.dispose()
    runtime.engine.dispose()


def test_the_history_stored_before_the_feature_is_read_once_silently(
    configured: str, botapi: BotApi, feed_server: FeedServer
) -> None:
    runtime = setup(configured, feed_server, (30, 20, 16))
    # As an install upgraded from before first mentions: stories stored, no names kept.
    engine = make_engine(configured)
    with transaction(engine) as session:
        session.execute(delete(Mention))
        session.execute(delete(Meta).where(col(Meta.key) == PRIMED_KEY))
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    botapi.push_message(EN, "/start", language_code="en")
    run_once(runtime)
    clock.advance(minutes=10)
    news = [
        ("n-1", CENTRE, clock.now() - timedelta(hours=1)),  # Huawei: in the history
        ("n-2", KUNTAI, clock.now() - timedelta(hours=1)),
    ]
    feed_server.serve("/news.rss", rss("Le Sahel Quotidien", "sahel.example", news))
    add_feed(configured, feed_server.url("/news.rss"), "Le Sahel Quotidien", clock.now())
    run_once(runtime)
    assert firsts(botapi, EN) == {CENTRE[0]: [], KUNTAI[0]: ["🆕 First mention: Kuntai"]}
    with transaction(engine) as session:
        assert session.get(Meta, PRIMED_KEY) is not None
        huawei = session.get(Mention, "Huawei")
        assert huawei is not None and huawei.story_id is None
    engine.dispose()
    runtime.engine.dispose()


# -- the pure part --------------------------------------------------------------------


def test_names_are_whole_folded_words_and_the_longest_wins() -> None:
    index = name_index(["Kuntai", "Sukala", "N-Sukala", "Banque chinoise d'import-export"])
    text = "KUNTAÏ et N-Sukala ; la Banque chinoise d’import-export ; Kuntaiville, Sukalas"
    assert index.find(text) == ("Kuntai", "N-Sukala", "Banque chinoise d'import-export")
    assert index.find("Sukala, puis Kuntai", "Kuntai encore") == ("Sukala", "Kuntai")


def test_a_name_is_first_once_at_its_earliest_news_after_the_warm_up() -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    named = [
        Named(2, day + WARMUP + timedelta(hours=2), ("Kuntai", "Huawei"), True),
        Named(1, day + WARMUP + timedelta(hours=1), ("Kuntai",), True),  # earlier
        Named(3, day + WARMUP + timedelta(hours=3), ("Zijin",), False),  # an archive
    ]
    rows = first_mentions(named, known=["huawei"], since=day)
    assert rows == [
        ("Kuntai", 1, day + WARMUP + timedelta(hours=1), True),
        ("Zijin", 3, day + WARMUP + timedelta(hours=3), False),
    ]
    young = first_mentions(named, known=[], since=day + timedelta(days=1))
    assert all(not announced for *_, announced in young)
    assert first_mentions(named, known=[], since=None)[0][3] is False  # nothing kept yet
