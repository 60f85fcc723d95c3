"""Issue 10's acceptance on real newsroom text: the real-world development corpus.

``../shared/corpora/realworld-dev/`` holds real headlines and ledes (read from there, never
copied into the repository). Its feeds are served on loopback and go through the real
path — ``mcwatch feeds add``, ``mcwatch poll --all``, ``mcwatch items list --json`` —
and the figures are asserted on what the CLI prints. ``python bench/corpus_eval.py``
prints the same figures per topic and language, with every error.
"""

from __future__ import annotations

import pytest

from tests.support.feed_server import FeedServer
from tests.support.labelled_feeds import REALWORLD_DEV, Outcome, run_corpus, score

pytestmark = pytest.mark.skipif(
    not (REALWORLD_DEV / "labels.jsonl").exists(),
    reason=f"the real-world corpus is not at {REALWORLD_DEV} (shared/, beside the repo)",
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    server = FeedServer()
    mp = pytest.MonkeyPatch()
    try:
        for key in ("MCWATCH_DATABASE_URL", "MCWATCH_TELEGRAM_TOKEN", "MCWATCH_CONFIG"):
            mp.delenv(key, raising=False)
        mp.setenv("MCWATCH_LOG_LEVEL", "WARNING")
        return run_corpus(REALWORLD_DEV, tmp_path_factory.mktemp("realworld"), server)
    finally:
        mp.undo()
        server.close()


def test_every_item_is_stored(outcomes: list[Outcome]) -> None:
    assert not [o.label.title for o in outcomes if o.topics is None]


def test_relationship_precision_and_recall(outcomes: list[Outcome]) -> None:
    figures = score(outcomes)
    assert figures.relationship.precision >= 0.97, figures.to_text()
    assert figures.relationship.recall >= 0.95, figures.to_text()


def test_topic_macro_f1(outcomes: list[Outcome]) -> None:
    figures = score(outcomes)
    assert figures.macro_f1 >= 0.90, figures.to_text()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_each_language_holds_on_its_own(outcomes: list[Outcome], language: str) -> None:
    figures = score(outcomes, language)
    assert figures.relationship.recall >= 0.95, figures.to_text()
    assert figures.macro_f1 >= 0.85, figures.to_text()


def test_duplicate_groups_are_merged_and_nothing_else(outcomes: list[Outcome]) -> None:
    figures = score(outcomes)
    assert figures.merged >= 0.9 * figures.groups, figures.to_text()
    assert figures.false_merges == [], figures.to_text()
