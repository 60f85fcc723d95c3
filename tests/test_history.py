"""The history generator (``bench/history.py``) builds what it says, on both databases.

Issue 14's figures are measured on its year of history; a generator that silently wrote
fewer alerts, left them queued, or matched nothing would make every figure a lie. A
small build (2,000 items over 30 days) is checked here for its counts, its span, its
stories and the state of its outbox.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import func, select

from store.db import make_engine, transaction
from store.models import Delivery, Digest, Item, ItemTopic, Subscriber
from tests.support.db import database

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _load_history() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "bench" / "history.py"
    spec = importlib.util.spec_from_file_location("bench_history", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


history = _load_history()


def small(items: int = 2000, deliveries: int = 10_000, seed: int = 1) -> object:
    return history.Params(
        items=items,
        deliveries=deliveries,
        days=30,
        feeds=40,
        subscribers=400,
        seed=seed,
        end=END,
        batch=500,
    )


def test_a_small_history_has_what_was_asked(database_url: str) -> None:
    counts = history.build(small(), database_url, vacuum=False, progress=lambda _: None)

    assert counts["items"] == 2000
    assert counts["feeds"] == 40 and counts["subscribers"] == 400
    # About 4 % matched: Mali–China reports the real matcher recognised.
    assert 60 <= counts["matched items"] <= 100
    # The alerts asked for, nearly all sent; a realistic few still owed or failed.
    assert 9_800 <= counts["deliveries"] <= 10_000
    status = Counter(counts["deliveries by status"])
    assert status["sent"] >= 0.99 * counts["deliveries"]
    assert status["queued"] > 0 and status["failed"] > 0 and status["sending"] == 2
    assert counts["edit pending"] > 0
    assert counts["digests"] > 0

    engine = make_engine(database_url)
    try:
        with transaction(engine) as session:
            first, last = session.execute(
                select(func.min(Item.published), func.max(Item.published))
            ).one()
            assert END - timedelta(days=30) <= first < END - timedelta(days=28)
            assert END - timedelta(days=2) < last <= END
            # Fetched after publication, within the day (a poll, not an archive).
            lags = [
                fetched - published
                for published, fetched in session.execute(select(Item.published, Item.fetched_at))
            ]
            assert all(timedelta(0) <= lag <= timedelta(days=1, hours=2) for lag in lags)

            matched = select(ItemTopic.item_id)
            stories = Counter(
                session.execute(
                    select(Item.story_id).where(Item.id.in_(matched))  # type: ignore[union-attr]
                ).scalars()
            )
            assert None not in stories
            assert max(stories.values()) <= 4 and 1 in stories.values()
            assert any(n > 1 for n in stories.values())  # reports grouped across outlets
            # An unmatched item is in no story, or alone in its own (older stores).
            unmatched = Counter(
                session.execute(
                    select(Item.story_id).where(
                        Item.id.not_in(matched),  # type: ignore[union-attr]
                        Item.story_id.is_not(None),  # type: ignore[union-attr]
                    )
                ).scalars()
            )
            assert not set(unmatched) & set(stories)
            assert all(n == 1 for n in unmatched.values())

            # Every alert is of a matched story, to a reader who takes instant alerts.
            alerted = set(session.execute(select(Delivery.story_id).distinct()).scalars())
            assert alerted <= set(stories)
            modes = set(
                session.execute(
                    select(Subscriber.mode)
                    .join(Delivery, Delivery.subscriber_id == Subscriber.id)  # type: ignore[arg-type]
                    .distinct()
                ).scalars()
            )
            assert modes <= {"instant", "both"}
            # Digest readers have yesterday's digest: today's is the next one due.
            newest = session.execute(select(func.max(Digest.local_date))).scalar()
            assert newest is not None and newest >= (END - timedelta(days=2)).date().isoformat()
    finally:
        engine.dispose()


def test_the_same_seed_builds_the_same_history(tmp_path: Path) -> None:
    built = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / name}.sqlite"
        history.build(small(300, 600), url, progress=lambda _: None)
        engine = make_engine(url)
        with transaction(engine) as session:
            built.append(
                (
                    session.execute(select(Item.identity, Item.title).order_by(Item.id)).all(),
                    session.execute(
                        select(Delivery.subscriber_id, Delivery.status).order_by(Delivery.id)
                    ).all(),
                )
            )
        engine.dispose()
    assert built[0] == built[1]
    assert built[0][0] and built[0][1]


def test_a_database_with_items_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    history.build(small(100, 100), url, progress=lambda _: None)
    with pytest.raises(SystemExit, match="already holds items"):
        history.build(small(100, 100), url, progress=lambda _: None)


@pytest.mark.postgres
def test_a_history_copied_to_postgresql_is_the_same(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = f"sqlite:///{tmp_path / 'h.sqlite'}"
    built = history.build(small(300, 600), source, progress=lambda _: None)
    with database("postgres", tmp_path_factory) as url:
        copied = history.copy_history(source, url, vacuum=False, progress=lambda _: None)
        assert copied == built
        engine = make_engine(url)
        try:
            with transaction(engine) as session:  # the sequences go on after the copy
                session.execute(
                    Subscriber.__table__.insert().values(chat_id=1, title="new")  # type: ignore[attr-defined]
                )
        finally:
            engine.dispose()
