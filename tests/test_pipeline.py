"""poll → store → queue through a real database and a loopback feed server."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event

from bot.clock import FixedClock
from bot.ingest import pipeline
from bot.ingest.pipeline import PollOutcome, poll
from bot.text import describe
from store import deliveries, feeds, items
from store.db import transaction
from tests.support.builders import add_feed, add_subscriber, deps_for, seeded

POSITIVE = """<item><guid>{guid}</guid><title>{title}</title><link>https://example.org/{guid}</link>
<description>L'ambassadeur de Chine et le ministre malien de la Sécurité ont parlé à Bamako
de la protection des ressortissants chinois.</description></item>"""
NEGATIVE = """<item><guid>n1</guid><title>Une machine à coudre primée à Ségou</title>
<description>Un artisan de Ségou remporte un prix.</description></item>"""


def rss(*items_xml: str, enc: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{enc}"?><rss version="2.0"><channel>'
        f"<title>Le Sahel</title><language>fr</language>{''.join(items_xml)}</channel></rss>"
    )


def run_poll(engine: Engine, clock: FixedClock, **kwargs: object) -> list[PollOutcome]:
    async def go() -> list[PollOutcome]:
        async with deps_for(engine, clock) as deps:
            return await poll(deps, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_same_items_across_polls_are_stored_once(engine: Engine, feed_server) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    seeded(engine, clock)
    add_subscriber(engine, 11, clock)
    body = rss(
        POSITIVE.format(guid="p1", title="Sécurité : Bamako et Pékin se concertent"), NEGATIVE
    )
    feed_server.serve("/f.rss", body.encode())
    add_feed(engine, feed_server.url("/f.rss"), clock)
    [first] = run_poll(engine, clock)
    assert (first.status, first.entries, first.new_items, first.matched, first.queued) == (
        "ok",
        2,
        2,
        1,
        1,
    )
    [second] = run_poll(engine, clock, include_not_due=True)
    assert (second.new_items, second.queued) == (0, 0)
    with transaction(engine) as session:
        assert items.count_items(session) == 2
        assert deliveries.queue_depth(session) == 1


def test_a_feed_is_not_due_again_before_its_time(engine: Engine, feed_server) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/f.rss", rss(NEGATIVE).encode(), etag='"e1"')
    add_feed(engine, feed_server.url("/f.rss"), clock)
    assert len(run_poll(engine, clock)) == 1
    assert run_poll(engine, clock) == []  # nothing due a moment later
    clock.advance(hours=5)
    [again] = run_poll(engine, clock)
    assert again.status == "not-modified"  # validators went back, 304 came back


def polled_feeds_with_validators(  # type: ignore[no-untyped-def]
    engine: Engine, feed_server, clock: FixedClock, count: int
) -> list[int]:
    """``count`` feeds with an ETag, polled once: the next poll of each answers 304."""
    seeded(engine, clock)
    ids = []
    for n in range(count):
        feed_server.serve(f"/f{n}.rss", rss(NEGATIVE).encode(), etag=f'"e{n}"')
        ids.append(add_feed(engine, feed_server.url(f"/f{n}.rss"), clock))
    run_poll(engine, clock)
    return ids


def test_feeds_that_answer_304_are_written_together(engine: Engine, feed_server) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    ids = polled_feeds_with_validators(engine, feed_server, clock, 6)
    with transaction(engine) as session:
        scheduled = {i: feeds.get_feed(session, i).next_poll_at for i in ids}
        feeds.get_feed(session, ids[0]).failures = 3  # a past failure the 304 clears
    clock.advance(hours=5)
    updates: list[bool] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE FEEDS") and "last_ok" in statement:
            updates.append(executemany)

    event.listen(engine, "before_cursor_execute", count)
    try:
        outcomes = run_poll(engine, clock)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sorted(o.feed_id for o in outcomes) == sorted(ids)
    assert {o.status for o in outcomes} == {"not-modified"}
    assert updates == [True]  # one bulk statement for the six feeds, not six transactions
    with transaction(engine) as session:
        for feed_id in ids:
            row = feeds.get_feed(session, feed_id)
            assert row.last_ok is not None and row.failures == 0 and row.last_error is None
            assert row.etag == f'"e{ids.index(feed_id)}"'
            assert row.next_poll_at is not None and row.next_poll_at > clock.now()
            # scheduled as a 200 was: the same interval from the new poll
            previous = scheduled[feed_id]
            assert previous is not None
            polled_before = clock.now() - timedelta(hours=5)
            assert abs((row.next_poll_at - clock.now()) - (previous - polled_before)) < timedelta(
                minutes=5
            )


def test_a_poll_of_unchanged_feeds_compiles_no_rules(  # type: ignore[no-untyped-def]
    engine: Engine, feed_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock()
    ids = polled_feeds_with_validators(engine, feed_server, clock, 3)
    compiled: list[int] = []
    real = pipeline.load_matcher

    def counted(deps):  # type: ignore[no-untyped-def]
        compiled.append(1)
        return real(deps)

    monkeypatch.setattr(pipeline, "load_matcher", counted)
    clock.advance(hours=5)
    assert {o.status for o in run_poll(engine, clock)} == {"not-modified"}
    assert compiled == []  # every feed answered 304: nothing to match
    feed_server.serve("/f1.rss", rss(NEGATIVE).encode(), etag='"changed"')
    clock.advance(hours=5)
    outcomes = {o.feed_id: o.status for o in run_poll(engine, clock)}
    assert outcomes[ids[1]] == "ok" and compiled == [1]  # once, for the feed that changed


def test_a_bad_feed_becomes_a_health_record_and_the_others_go_on(
    engine: Engine, feed_server
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/good.rss", rss(NEGATIVE).encode())
    feed_server.serve(
        "/page.html", b"<!DOCTYPE html><html><body>Accueil</body></html>", content_type="text/html"
    )
    feed_server.serve("/gone", b"", status=404)
    good = add_feed(engine, feed_server.url("/good.rss"), clock)
    page = add_feed(engine, feed_server.url("/page.html"), clock)
    gone = add_feed(engine, feed_server.url("/gone"), clock)
    outcomes = {o.feed_id: o for o in run_poll(engine, clock)}
    assert outcomes[good].status == "ok"
    assert outcomes[page].error == "an HTML page, not a feed"
    assert outcomes[gone].error == "HTTP 404 Not Found"
    with transaction(engine) as session:
        row = feeds.get_feed(session, gone)
        assert row.failures == 1 and describe(row.last_error, "en") == "HTTP 404 Not Found"
        assert row.next_poll_at is not None and row.next_poll_at > clock.now()
    clock.advance(hours=1)
    run_poll(engine, clock, feed_id=gone)
    with transaction(engine) as session:
        row = feeds.get_feed(session, gone)
        assert row.failures == 2  # backing off, never dropped
        assert row.next_poll_at is not None
        assert row.next_poll_at - clock.now() >= timedelta(minutes=29)


def test_latin1_items_without_guid_or_date(engine: Engine, feed_server) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    seeded(engine, clock)
    body = rss(
        "<item><title>Sécurité à Bamako : la Chine équipe la police</title>"
        "<description>Pékin a livré du matériel aux forces maliennes.</description></item>",
        enc="ISO-8859-1",
    ).encode("latin-1")
    feed_server.serve("/latin.rss", body, content_type="application/rss+xml; charset=ISO-8859-1")
    add_feed(engine, feed_server.url("/latin.rss"), clock)
    [outcome] = run_poll(engine, clock)
    assert outcome.new_items == 1
    with transaction(engine) as session:
        [item] = items.list_items(session, limit=5)
    assert item.title == "Sécurité à Bamako : la Chine équipe la police"
    assert item.published == clock.now()  # no date: the time first seen
    [again] = run_poll(engine, clock, include_not_due=True)
    assert again.new_items == 0  # identity from title+date hash is stable


def test_a_permanent_redirect_moves_the_stored_feed(engine: Engine, feed_server) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/new.rss", rss(NEGATIVE).encode())
    feed_server.redirect("/old.rss", "/new.rss", status=301)
    feed_server.redirect("/tmp.rss", "/new.rss", status=302)
    moved = add_feed(engine, feed_server.url("/old.rss"), clock)
    kept = add_feed(engine, feed_server.url("/tmp.rss"), clock, name="temporary")
    run_poll(engine, clock)
    with transaction(engine) as session:
        assert feeds.get_feed(session, moved).url == feed_server.url("/new.rss")
        assert feeds.get_feed(session, kept).url == feed_server.url("/tmp.rss")
    clock.advance(hours=5)
    run_poll(engine, clock, feed_id=moved)
    assert feed_server.requests[-1].path == "/new.rss"  # asked at its new address


GOOGLE_NEWS = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>"Mali Chine" - Google Actualités</title><language>fr</language>
<item><title>La Chine livre des blindés à l'armée du Niger - Bamako.com</title>
<link>https://news.google.com/rss/articles/A1</link><guid isPermaLink="false">A1</guid>
<description>&lt;a href="https://news.google.com/rss/articles/A1"&gt;La Chine livre des
blindés à l'armée du Niger&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;
Bamako.com&lt;/font&gt;</description><source url="http://bamako.com">Bamako.com</source></item>
<item><title>Sécurité : Pékin livre des véhicules à la police malienne - Studio Tamani</title>
<link>https://news.google.com/rss/articles/A2</link><guid isPermaLink="false">A2</guid>
<description>La Chine a remis des véhicules aux forces de sécurité du Mali.</description>
<source url="https://www.studiotamani.org">Studio Tamani</source></item>
</channel></rss>"""


def test_an_aggregator_item_is_judged_without_its_outlet_and_credited_to_it(
    engine: Engine, feed_server
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/gnews.rss", GOOGLE_NEWS.encode())
    add_feed(engine, feed_server.url("/gnews.rss"), clock, name="Google News — Mali Chine")
    [outcome] = run_poll(engine, clock)
    assert (outcome.new_items, outcome.matched) == (2, 1)  # not the China–Niger story
    with transaction(engine) as session:
        stored = {i.title: i.source for i in items.list_items(session, limit=5)}
    assert stored == {
        "La Chine livre des blindés à l'armée du Niger": "Bamako.com",
        "Sécurité : Pékin livre des véhicules à la police malienne": "Studio Tamani",
    }


def test_control_characters_never_reach_the_database(engine: Engine, feed_server) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL refuses NUL in text; XML forbids it anyway. A feed carrying it in every
    field is stored, cleaned, on both databases."""
    clock = FixedClock()
    seeded(engine, clock)
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Le\x00 Sahel</title>'
        b"<item><title>S\xc3\xa9curit\xc3\xa9 \x00: Bamako et P\xc3\xa9kin\x07</title>"
        b"<guid>g\x00-1</guid><link>https://example.org/a\x00b</link><author>r\x00ed</author>"
        b"<description>La Chine \x00livre des v\xc3\xa9hicules \xc3\xa0 la police malienne."
        b"</description></item></channel></rss>"
    )
    feed_server.serve("/nul.rss", body)
    add_feed(engine, feed_server.url("/nul.rss"), clock)
    [outcome] = run_poll(engine, clock)
    assert (outcome.status, outcome.new_items, outcome.matched) == ("ok", 1, 1)
    with transaction(engine) as session:
        [item] = items.list_items(session, limit=5)
    assert "\x00" not in f"{item.title}{item.link}{item.summary}"
    assert item.title == "Sécurité : Bamako et Pékin"


@pytest.mark.internal_error_expected
def test_a_bug_met_by_one_feed_is_its_health_record_and_the_others_go_on(
    engine: Engine, feed_server, monkeypatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    """The one place mcwatch catches its own bugs: a poison feed must not stop all polling."""
    import bot.ingest.pipeline

    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/good.rss", rss(NEGATIVE).encode())
    feed_server.serve("/poison.rss", rss(NEGATIVE.replace("n1", "poison")).encode())
    good = add_feed(engine, feed_server.url("/good.rss"), clock)
    poison = add_feed(engine, feed_server.url("/poison.rss"), clock)
    real = bot.ingest.pipeline.store_items

    def store_items(session, deps, feed_id, *args):  # type: ignore[no-untyped-def]
        if feed_id == poison:
            raise KeyError("a bug")
        return real(session, deps, feed_id, *args)

    monkeypatch.setattr(bot.ingest.pipeline, "store_items", store_items)
    outcomes = {o.feed_id: o for o in run_poll(engine, clock)}
    assert (outcomes[good].status, outcomes[good].new_items) == ("ok", 1)
    assert outcomes[poison].error == "internal error (KeyError), see the log"
    assert "KeyError: 'a bug'" in caplog.text  # the traceback is logged
    with transaction(engine) as session:
        row = feeds.get_feed(session, poison)
        assert row.failures == 1 and row.next_poll_at > clock.now()
        assert items.count_items(session) == 1  # the poison feed's batch rolled back


@pytest.mark.internal_error_expected
def test_a_bug_in_the_batch_of_304s_falls_back_to_one_feed_at_a_time(
    engine: Engine, feed_server, monkeypatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    import bot.ingest.pipeline

    clock = FixedClock()
    ids = polled_feeds_with_validators(engine, feed_server, clock, 3)
    clock.advance(hours=5)

    def broken(*args):  # type: ignore[no-untyped-def]
        raise KeyError("a bug in the batch")

    monkeypatch.setattr(bot.ingest.pipeline, "store_unchanged", broken)
    outcomes = run_poll(engine, clock)
    assert sorted(o.feed_id for o in outcomes) == sorted(ids)
    assert {o.status for o in outcomes} == {"not-modified"}  # each stored on its own
    assert "KeyError: 'a bug in the batch'" in caplog.text
    with transaction(engine) as session:
        for feed_id in ids:
            assert feeds.get_feed(session, feed_id).last_ok == clock.now()


def test_a_feed_removed_while_it_is_polled_is_skipped_and_the_poll_goes_on(
    engine: Engine, feed_server, caplog  # type: ignore[no-untyped-def]
) -> None:
    """`feeds remove` while the feed's answer is on its way: that feed is one line and
    the outcome "removed"; the other feeds are stored, and no bug is logged."""
    clock = FixedClock()
    seeded(engine, clock)
    feed_server.serve("/kept.rss", rss(NEGATIVE).encode())
    feed_server.serve("/gone.rss", rss(NEGATIVE.replace("n1", "gone")).encode(), delay=0.5)
    kept = add_feed(engine, feed_server.url("/kept.rss"), clock)
    gone = add_feed(engine, feed_server.url("/gone.rss"), clock)

    async def poll_and_remove() -> list[PollOutcome]:
        async with deps_for(engine, clock) as deps:
            polling = asyncio.create_task(poll(deps))
            while not feed_server.requests_to("/gone.rss"):  # noqa: ASYNC110 - another thread
                await asyncio.sleep(0.01)
            with transaction(engine) as session:
                feeds.remove_feed(session, gone)
            return await polling

    with caplog.at_level("INFO", logger="bot.ingest.pipeline"):
        outcomes = {o.feed_id: o for o in asyncio.run(poll_and_remove())}
    assert (outcomes[kept].status, outcomes[kept].new_items) == ("ok", 1)
    assert outcomes[gone].status == "removed"
    assert any("removed while it was polled" in r.getMessage() for r in caplog.records)
