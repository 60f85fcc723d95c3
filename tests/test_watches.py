"""Personal watches (issue 15 point 3): ``/watch``, ``/watches``, ``/unwatch``.

The commands through the real bot and the Bot API stand-in (``Conversation``), the
30-day trial on a fixture history, and end to end: loopback feeds polled by ``mcwatch
run --once``'s own steps, alerts and a digest through the stand-in, on SQLite and
PostgreSQL. Then the pure part (``bot.watches``) and the alert's "👁 Your watch" line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import col, select

from bot.cli.runtime import Runtime
from bot.clock import FixedClock
from bot.deliver.render import TELEGRAM_LIMIT, render_alert, utf16_len
from bot.ingest.stored_rules import watch_matcher
from bot.settings import load_settings
from bot.types import Alert, MatchInput
from bot.watches import (
    MAX_WATCHES,
    WatchRule,
    distinct_queries,
    plan_watch_alerts,
    rule_name,
    same_query,
    watchers,
)
from store.db import make_engine, transaction
from store.models import Subscriber, Watch, WatchHit
from tests.support.botapi import BotApi
from tests.support.feed_server import FeedServer
from tests.support.telegram import Conversation
from tests.test_e2e_digest import (
    KIDNAP,
    KIDNAP_COPY,
    LOAN,
    add_feed,
    alerts,
    configured,
    digest_texts,
    rss,
    run_once,
)

__all__ = ["configured"]  # the fixture, shared with the digest end-to-end test

NBSP = "\u00a0"
CHAT = 7101
# Written for these tests, checked with `mcwatch rules test`: two Huawei stories about
# Mali and China (infrastructure), an older one, and Huawei news that is not about Mali.
FIBRE = (
    "Mali : Huawei va construire le réseau de fibre optique de la Chine",
    "Le groupe chinois Huawei a signé avec le gouvernement malien un accord pour déployer "
    "la fibre optique entre Bamako et Kayes.",
)
CENTRE = (
    "Bamako : la Chine et Huawei ouvrent un centre de formation numérique",
    "Le ministère malien de l'Économie numérique et l'ambassade de Chine ont inauguré à "
    "Bamako un centre de formation Huawei pour 300 jeunes.",
)
OLD_4G = (
    "Mali : la Chine finance avec Huawei le réseau 4G de la Sotelma",
    "La Chine et le Mali ont signé à Bamako un accord de financement pour le réseau 4G "
    "de la Sotelma, équipé par le groupe chinois Huawei.",
)
PHONE = (
    "Huawei lance un téléphone pliable",
    "Huawei a présenté à Paris son nouveau téléphone pliable, vendu 1 999 euros.",
)


def shown(text: str | None) -> str:
    """What a test writes: French typography's no-break spaces as ordinary ones."""
    return (text or "").replace(NBSP, " ")


def watch_rows(engine: Engine, chat_id: int | None = None) -> list[str]:
    with transaction(engine) as session:
        query = select(Watch.query).join(Subscriber, col(Subscriber.id) == col(Watch.subscriber_id))
        if chat_id is not None:
            query = query.where(Subscriber.chat_id == chat_id)
        return list(session.exec(query.order_by(col(Watch.id))))


# -- the commands ---------------------------------------------------------------------

REPLIES = {
    "fr": {
        "added": "👁 Veille 1 ajoutée : huawei. Elle aurait trouvé 0 sujet ces 30 derniers jours.",
        "how": "Ses sujets arrivent comme vos autres alertes (alertes instantanées) ; "
        "/unwatch 1 pour la retirer.",
        "bad": "Veille illisible : erreur à la colonne 2. Voir /help.",
        "duplicate": "Vous suivez déjà Huawei : /watches liste vos veilles.",
        "list": "Vos veilles (sujets trouvés depuis leur ajout)\n1. huawei — 0 sujet\n"
        "2. Goulamina OR Ganfeng — 0 sujet\n"
        "/unwatch N pour en retirer une · /watch MOTS pour en ajouter une",
        "limit": "Vous avez 20 veilles, le maximum : retirez-en une d'abord avec /unwatch N.",
        "removed": "Veille retirée : huawei.",
        "bad_n": "Vous n'avez pas de veille 3 : /watches liste les vôtres, numérotées.",
        "none": "Aucune veille pour l'instant",
    },
    "en": {
        "added": "👁 Watch 1 added: huawei. It would have matched 0 stories in the last 30 days.",
        "how": "Its stories come as your other alerts do (instant alerts); /unwatch 1 to "
        "remove it.",
        "bad": "Not a watch I can read: error at column 2: unexpected end of query. See /help.",
        "duplicate": "You already watch Huawei: /watches lists your watches.",
        "list": "Your watches (stories found since added)\n1. huawei — 0 stories\n"
        "2. Goulamina OR Ganfeng — 0 stories\n"
        "/unwatch N to remove one · /watch WORDS to add one",
        "limit": "You have 20 watches, the most there can be: /unwatch N to remove one first.",
        "removed": "Watch removed: huawei.",
        "bad_n": "You have no watch 3: /watches lists yours, numbered.",
        "none": "You have no watch yet",
    },
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_watch_watches_unwatch_and_every_refusal(bot: Conversation, language: str) -> None:
    said = REPLIES[language]

    def say(text: str) -> str:
        return shown(bot.said(CHAT, text, language_code=language))

    say("/start")
    assert said["none"] in say("/watches")
    assert "/watch" in say("/watch")  # the usage, with an example
    assert say("/watch (") == said["bad"]  # the column, as /search says it
    assert say("/watch   huawei ") == said["added"] + "\n" + said["how"]
    assert say("/watch  Huawei") == said["duplicate"]  # spacing and case aside, the same
    assert say("/watch Goulamina OR Ganfeng").startswith(said["added"][:12].replace("1", "2"))
    assert say("/watches") == said["list"]
    assert watch_rows(bot.engine) == ["huawei", "Goulamina OR Ganfeng"]

    too_long = "/watch " + " OR ".join(["huawei"] * 40)
    assert "200" in say(too_long)  # one line with the limit; nothing stored
    assert say("/unwatch 3") == said["bad_n"]
    assert say("/unwatch deux").startswith(said["bad_n"].split(" 3")[0])
    assert "/unwatch N" in say("/unwatch")
    assert watch_rows(bot.engine) == ["huawei", "Goulamina OR Ganfeng"]

    for n in range(3, MAX_WATCHES + 1):
        assert "👁" in say(f"/watch site{n}")
    assert say("/watch site21") == said["limit"]
    assert len(watch_rows(bot.engine)) == MAX_WATCHES
    assert say("/unwatch 1") == said["removed"]
    assert watch_rows(bot.engine)[0] == "Goulamina OR Ganfeng"
    assert "👁" in say("/watch site21")  # room again
    assert len(watch_rows(bot.engine)) == MAX_WATCHES


def test_a_new_watch_is_tried_on_the_last_30_days_counting_stories(bot: Conversation) -> None:
    now = bot.clock.now()
    # The fixture history: one story told twice, ten days ago; another 20 days ago; a
    # third 40 days ago (outside the window); and Huawei news that is not about Mali
    # (stored, matched by no topic): never a watch's.
    first = bot.publish(*KIDNAP, published=now - timedelta(days=10))
    bot.publish(*KIDNAP_COPY, published=now - timedelta(days=10), story_id=first.story_id)
    bot.publish(*FIBRE, topics=("infrastructure",), published=now - timedelta(days=20))
    bot.publish(*OLD_4G, topics=("infrastructure",), published=now - timedelta(days=40))
    bot.publish(*PHONE, topics=(), published=now - timedelta(days=2))
    bot.say(CHAT, "/start", language_code="fr")

    assert "aurait trouvé 2 sujets" in bot.said(CHAT, "/watch huawei OR Kéniéba")
    assert "aurait trouvé 1 sujet " in bot.said(CHAT, "/watch huawei")
    assert "aurait trouvé 0 sujet " in bot.said(CHAT, "/watch pliable OR téléphone")
    english = bot.said(CHAT + 1, "/start") and bot.said(CHAT + 1, "/watch Huawei OR enlev*")
    assert "It would have matched 2 stories in the last 30 days." in english
    assert bot.delivery_statuses().get("queued", 0) == 0  # a trial sends nothing


def test_stop_deletes_the_watches_and_their_hits(bot: Conversation) -> None:
    bot.say(CHAT, "/start")
    bot.say(CHAT + 1, "/start")
    bot.say(CHAT, "/watch huawei")
    bot.say(CHAT + 1, "/watch huawei")
    story = bot.publish(*CENTRE, topics=("infrastructure",)).story_id
    with transaction(bot.engine) as session:
        ids = list(session.exec(select(Watch.id).order_by(col(Watch.id))))
        session.add_all(
            WatchHit(watch_id=i, story_id=story, created_at=bot.clock.now()) for i in ids
        )
    [question] = bot.say(CHAT, "/stop")
    bot.press(CHAT, question, "stop:yes")
    assert watch_rows(bot.engine) == ["huawei"]  # the other reader's only
    with transaction(bot.engine) as session:
        left = session.exec(select(WatchHit.watch_id)).all()
        assert left == [ids[1]]  # ON DELETE CASCADE, on SQLite as on PostgreSQL


# -- end to end: the poll, the alerts, the digest -------------------------------------

A_FR, B_EN, C_DIGEST, D_TOPICS = 7201, 7202, 7203, 7204


def test_watches_end_to_end_alerts_digest_and_counts(
    configured: str, botapi: BotApi, feed_server: FeedServer
) -> None:
    # Yesterday 05:00 UTC (05:00 in Bamako; the digest comes at 07:30).
    start = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=5, minute=0, second=0, microsecond=0
    )
    clock = FixedClock(start)
    runtime = Runtime(load_settings(), clock=clock)
    history = [
        ("h-1", FIBRE, start - timedelta(days=20)),
        ("h-2", OLD_4G, start - timedelta(days=40)),
        ("h-3", PHONE, start - timedelta(days=5)),
    ]
    feed_server.serve("/history.rss", rss("Archives", "archives.example", history))
    add_feed(configured, feed_server.url("/history.rss"), "Archives", clock.now())
    first = run_once(runtime)
    assert sum(o.new_items for o in first.polled) == 3 and botapi.sent == []

    # A watches Huawei and nothing else; B watches it and follows every topic; C reads a
    # digest, watching Huawei only; D follows every topic and watches nothing.
    clock.advance(minutes=1)
    for chat, language, commands in (
        (A_FR, "fr", ["/start", "/unsubscribe all", "/watch huawei"]),
        (B_EN, "en", ["/start", "/watch HUAWEI"]),
        (C_DIGEST, "en", ["/start", "/mode digest", "/unsubscribe all", "/watch huawei"]),
        (D_TOPICS, "fr", ["/start"]),
    ):
        for command in commands:
            botapi.push_message(chat, command, language_code=language)
    run_once(runtime)
    added = shown(botapi.messages_to(A_FR)[-1].plain)
    assert "Veille 1 ajoutée : huawei. Elle aurait trouvé 1 sujet ces 30 derniers jours." in added
    assert "(alertes instantanées)" in added
    assert "It would have matched 1 story in the last 30 days." in (
        botapi.messages_to(C_DIGEST)[-1].plain or ""
    )
    assert "(daily digest)" in (botapi.messages_to(C_DIGEST)[-1].plain or "")

    # 05:10: the news. A Huawei story about Mali and China, a Mali–China story without
    # Huawei, and Huawei news that is not about Mali.
    clock.advance(minutes=9)
    news = [
        ("n-1", CENTRE, clock.now() - timedelta(hours=1)),
        ("n-2", LOAN, clock.now() - timedelta(hours=1)),
        ("n-3", (PHONE[0] + " au Mali ?", PHONE[1]), clock.now() - timedelta(hours=1)),
    ]
    feed_server.serve("/news.rss", rss("Le Sahel Quotidien", "sahel.example", news))
    add_feed(configured, feed_server.url("/news.rss"), "Le Sahel Quotidien", clock.now())
    run_once(runtime)

    def titles(chat: int) -> list[str]:
        return [
            next(t for t in (m.plain or "").splitlines() if t in (CENTRE[0], LOAN[0], PHONE[0]))
            for m in alerts(botapi, chat)
        ]

    [to_a] = alerts(botapi, A_FR)  # outside A's topics: the watch brings it
    assert CENTRE[0] in (to_a.plain or "")
    assert "👁 Votre veille : huawei" in shown(to_a.plain).splitlines()
    assert sorted(titles(B_EN)) == sorted([CENTRE[0], LOAN[0]])  # the story once, not twice
    to_b = next(m for m in alerts(botapi, B_EN) if CENTRE[0] in (m.plain or ""))
    assert "👁 Your watch: HUAWEI" in (to_b.plain or "").splitlines()
    assert sorted(titles(D_TOPICS)) == sorted([CENTRE[0], LOAN[0]])
    assert all("👁" not in (m.plain or "") for m in alerts(botapi, D_TOPICS))
    assert alerts(botapi, C_DIGEST) == []  # a digest reader: no instant alert
    assert all(PHONE[0] not in (m.plain or "") for m in botapi.sent)  # not about Mali–China

    # /watches counts the stories found since the watch was added.
    botapi.push_message(A_FR, "/watches", language_code="fr")
    run_once(runtime)
    assert "1. huawei — 1 sujet" in shown(botapi.messages_to(A_FR)[-1].plain)

    # 07:31: C's digest holds the watch's story (under its topic), nothing else.
    clock.current = start.replace(hour=7, minute=31)
    run_once(runtime)
    digest = "\n".join(digest_texts(botapi, C_DIGEST))
    assert CENTRE[0] in digest and LOAN[0] not in digest and PHONE[0] not in digest
    assert FIBRE[0] not in digest  # the trial counted it; it is no news
    assert alerts(botapi, C_DIGEST) == []

    # /stop forgets A's watch and its hits; the others keep theirs.
    botapi.push_message(A_FR, "/stop", language_code="fr")
    run_once(runtime)
    question = botapi.messages_to(A_FR)[-1]
    botapi.push_callback(A_FR, "stop:yes", message_id=question.message_id)
    run_once(runtime)
    engine = make_engine(configured)
    assert watch_rows(engine, A_FR) == [] and watch_rows(engine, B_EN) == ["HUAWEI"]
    with transaction(engine) as session:
        assert session.exec(select(func.count()).select_from(WatchHit)).one() == 2  # B's, C's
    engine.dispose()
    assert botapi.rejected == []
    runtime.engine.dispose()


# -- the pure part --------------------------------------------------------------------


def rule(watch_id: int, subscriber_id: int, query: str, mode: str = "instant") -> WatchRule:
    return WatchRule(watch_id, subscriber_id, query, mode)


def test_the_same_query_is_one_watch_whatever_its_spacing_and_case() -> None:
    assert same_query("  Huawei  OR zte", "huawei or ZTE")
    assert not same_query("huawei", "huawei*")


def test_each_distinct_query_is_compiled_once_for_every_reader_watching_it() -> None:
    rules = [rule(1, 10, "huawei"), rule(2, 11, "huawei"), rule(3, 11, "Goulamina")]
    queries = distinct_queries(rules)
    assert queries == ("Goulamina", "huawei")
    assert watchers(rules, queries) == {rule_name(0): [rules[2]], rule_name(1): rules[:2]}
    matcher = watch_matcher("{}", queries)
    found = matcher.match(MatchInput(CENTRE[0], CENTRE[1], "fr"))
    assert [m.slug for m in found] == [rule_name(1)]
    assert watch_matcher("{}", queries) is matcher  # compiled again only on a change


@pytest.mark.parametrize(
    ("mode", "alerted"),
    [("instant", True), ("both", True), ("digest", False), ("weekly", False)],
    ids=["instant: an alert", "both: an alert", "digest: the digest only", "weekly: too"],
)
def test_a_hit_is_an_alert_only_for_an_instant_reader(mode: str, alerted: bool) -> None:
    hits = [rule(1, 10, "huawei", mode), rule(2, 10, "zte", mode)]
    planned = plan_watch_alerts(99, ("infrastructure",), hits)
    assert [(i.subscriber_id, i.topics) for i in planned] == (
        [(10, ("infrastructure",))] if alerted else []
    )  # one alert for a reader two watches found it for


def test_the_watch_line_is_escaped_and_short() -> None:
    alert = Alert(
        delivery_id=1,
        subscriber_id=1,
        chat_id=1,
        title="Titre",
        link="https://example.org/a",
        source="Source",
        published=datetime(2026, 3, 1, tzinfo=UTC),
        summary="Résumé.",
        topics=("infrastructure",),
        terms=(),
        language="en",
        watches=("<b>huawei</b> OR " + "x" * 5000,),
    )
    html = render_alert(alert)
    line = next(line for line in html.splitlines() if line.startswith("👁"))
    assert line.startswith("👁 Your watch: &lt;b&gt;huawei&lt;/b&gt; OR x")
    assert utf16_len(line) < 120 and utf16_len(html) <= TELEGRAM_LIMIT
