"""The store on a real SQLite file and (when named) a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from bot.types import DeliveryIntent, Item, Match
from store import deliveries, feeds, items, subscribers, topics
from store.db import transaction
from store.feeds import NewFeed
from store.migrate import current_revision, head_revision, upgrade

NOW = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)


def _item(identity: str, title: str = "Bamako et Pékin signent un accord") -> Item:
    return Item(
        identity=identity,
        title=title,
        link=f"https://example.org/{identity}",
        summary="Texte.",
        published=NOW,
        language="fr",
    )


def _not_fts5(obj: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
    """SQLite's search index is the FTS5 table items_search and its shadow tables
    (migration 0006): created by hand, never a model."""
    return not (kind == "table" and (name or "").startswith("items_search"))


def test_migrations_produce_exactly_the_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _not_fts5}
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_a_storys_deliveries_are_found_through_an_index(engine: Engine) -> None:
    """flag_edits reads a story's deliveries inside the poll's write transaction: the
    query plan must use ix_deliveries_story_id, not read the table (issue 14)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = connection.execute(
                text("EXPLAIN QUERY PLAN SELECT id FROM deliveries WHERE story_id = 1")
            ).all()
            assert any("ix_deliveries_story_id" in str(row[-1]) for row in plan), plan
        else:
            names = connection.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'deliveries'")
            ).scalars()
            assert "ix_deliveries_story_id" in set(names)


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    before, after = upgrade(engine)
    assert before == after == head_revision(engine)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_postgresql_connections_run_without_jit(engine: Engine) -> None:
    """JIT compiled small queries for hundreds of ms where statistics are stale (a
    year's digest: 0.6 s a reader); mcwatch's connections turn it off."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        assert connection.execute(text("SHOW jit")).scalar() == "off"
        # … and the URL's own options still hold (the tests' schema is one)
        schema = connection.execute(text("SHOW search_path")).scalar()
    assert "options=" in str(engine.url) and str(schema) in str(engine.url)


def test_times_come_back_aware_utc(engine: Engine) -> None:
    paris = datetime(2026, 2, 23, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    with transaction(engine) as session:
        feed = feeds.add_feed(session, NewFeed(url="https://a.example/rss"), paris)
        feed_id = feed.id
    with transaction(engine) as session:
        assert feed_id is not None
        assert feeds.get_feed(session, feed_id).created_at == paris.astimezone(UTC)


def test_due_feeds_follow_next_poll_and_enabled(engine: Engine) -> None:
    with transaction(engine) as session:
        a = feeds.add_feed(session, NewFeed(url="https://a.example/rss"), NOW)
        b = feeds.add_feed(session, NewFeed(url="https://b.example/rss"), NOW)
        assert a.id and b.id
        feeds.record_fetch_success(
            session,
            a.id,
            now=NOW,
            next_poll_at=NOW + timedelta(hours=1),
            etag='"v1"',
            last_modified=None,
        )
        feeds.set_feed_enabled(session, b.id, False, NOW)
    lease = timedelta(minutes=10)
    with transaction(engine) as session:
        assert feeds.claim_due_feeds(session, NOW, lease=lease) == []
        later = NOW + timedelta(hours=2)
        due_later = feeds.claim_due_feeds(session, later, lease=lease)
        assert [f.url for f in due_later] == ["https://a.example/rss"]
        assert due_later[0].etag == '"v1"'
    with transaction(engine) as session:  # claimed: a second poller gets nothing
        assert feeds.claim_due_feeds(session, NOW + timedelta(hours=2), lease=lease) == []
        assert len(feeds.claim_due_feeds(session, later + lease, lease=lease)) == 1


def test_an_item_seen_again_is_known_by_its_identity(engine: Engine) -> None:
    with transaction(engine) as session:
        feed = feeds.add_feed(session, NewFeed(url="https://a.example/rss"), NOW)
        assert feed.id
        items.add_item(session, feed.id, "A", _item("guid:1"), NOW)
        assert items.known_identities(session, feed.id, ["guid:1", "guid:2"]) == {"guid:1"}


def test_a_story_is_queued_once_per_subscriber(engine: Engine) -> None:
    with transaction(engine) as session:
        topics.upsert_topic(session, "security", name="Sécurité", query="securite")
        sub, created = subscribers.register(
            session, 42, chat_type="private", title="A", language="fr", now=NOW
        )
        assert created and sub.id
        feed = feeds.add_feed(session, NewFeed(url="https://a.example/rss"), NOW)
        assert feed.id
        row = items.add_item(session, feed.id, "A", _item("guid:1"), NOW)
        assert row.id and row.story_id
        items.record_matches(
            session, row.id, [Match("security", ("securite",))], topics.topic_ids_by_slug(session)
        )
        intent = DeliveryIntent(sub.id, row.id, ("security",))
        assert deliveries.queue_alerts(session, row.story_id, [intent], NOW) == 1
        assert deliveries.queue_alerts(session, row.story_id, [intent], NOW) == 0
    with transaction(engine) as session:
        assert deliveries.queue_depth(session) == 1


def test_lease_send_and_crashed_lease(engine: Engine) -> None:
    with transaction(engine) as session:
        topics.upsert_topic(session, "security", name="Sécurité", query="securite")
        sub, _ = subscribers.register(
            session, 42, chat_type="private", title="A", language="fr", now=NOW
        )
        feed = feeds.add_feed(session, NewFeed(url="https://a.example/rss"), NOW)
        assert sub.id and feed.id
        for n in (1, 2):
            row = items.add_item(session, feed.id, "A", _item(f"guid:{n}"), NOW)
            assert row.id and row.story_id
            deliveries.queue_alerts(
                session, row.story_id, [DeliveryIntent(sub.id, row.id, ("security",))], NOW
            )
    with transaction(engine) as session:
        leased = deliveries.lease_deliveries(session, NOW, lease_seconds=60)
    assert [a.chat_id for a in leased] == [42, 42]
    assert leased[0].topics == ("security",)
    with transaction(engine) as session:
        assert deliveries.lease_deliveries(session, NOW) == []  # both are leased
        deliveries.mark_sent(session, leased[0].delivery_id, NOW, 1001)
    # The process "died" holding the second lease: after expiry it is leased again.
    with transaction(engine) as session:
        again = deliveries.lease_deliveries(session, NOW + timedelta(seconds=61))
    assert [a.delivery_id for a in again] == [leased[1].delivery_id]
    assert again[0].attempts == 2
    with transaction(engine) as session:
        assert deliveries.count_by_status(session) == {"sent": 1, "sending": 1}


def test_forgetting_a_subscriber_removes_their_queue(engine: Engine) -> None:
    with transaction(engine) as session:
        sub, _ = subscribers.register(
            session, 7, chat_type="private", title="B", language="en", now=NOW
        )
        feed = feeds.add_feed(session, NewFeed(url="https://a.example/rss"), NOW)
        assert sub.id and feed.id
        row = items.add_item(session, feed.id, "A", _item("guid:1"), NOW)
        assert row.id and row.story_id
        deliveries.queue_alerts(session, row.story_id, [DeliveryIntent(sub.id, row.id)], NOW)
    with transaction(engine) as session:
        assert subscribers.forget(session, 7)
    with transaction(engine) as session:
        assert deliveries.queue_depth(session) == 0
        assert subscribers.find_subscriber(session, 7) is None


def test_large_telegram_ids_fit(engine: Engine) -> None:
    channel = -1001234567890123  # channels and supergroups use 64-bit ids
    with transaction(engine) as session:
        subscribers.register(
            session, channel, chat_type="channel", title="C", language="fr", now=NOW
        )
    with transaction(engine) as session:
        assert subscribers.get_subscriber(session, channel).chat_type == "channel"
