"""Score mcwatch on a labelled feed corpus through the real path, per topic and language.

    python bench/corpus_eval.py [FOLDER]      # default: ../shared/corpora/realworld-dev
    python bench/corpus_eval.py --orders 20   # story grouping over 20 random poll orders

Serves the corpus's feeds on 127.0.0.1, runs `mcwatch feeds add`, `mcwatch poll --all`
and `mcwatch items list --json` in a temporary directory, and prints relationship
precision/recall, topic F1, story groups merged and false merges — overall, then per
language — with every error, for development. The acceptance test asserts the same
figures (tests/test_realworld.py).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.feed_server import FeedServer
from tests.support.labelled_feeds import REALWORLD_DEV, load_labels, run_corpus, score


def orders(folder: Path, runs: int) -> None:
    """Story grouping depends on the order items arrive in: poll the feeds in ``runs``
    random orders and print how often each figure comes out."""
    feeds = len({label.feed for label in load_labels(folder)})
    merged: Counter[str] = Counter()
    false: Counter[int] = Counter()
    missed: Counter[str] = Counter()  # which groups split, which pairs merged, how often
    wrong: Counter[tuple[str, str]] = Counter()
    rng = random.Random(2026)
    for _ in range(runs):
        order = list(range(feeds))
        rng.shuffle(order)
        server = FeedServer()
        try:
            with tempfile.TemporaryDirectory() as workdir:
                figures = score(run_corpus(folder, Path(workdir), server, order))
        finally:
            server.close()
        merged[f"{figures.merged}/{figures.groups}"] += 1
        false[len(figures.false_merges)] += 1
        missed.update(line.split()[0] for line in figures.unmerged)
        wrong.update(figures.false_merges)
    print(f"{runs} random poll orders")
    print("groups merged:", ", ".join(f"{k} in {v}" for k, v in sorted(merged.items())))
    print("false merges:", ", ".join(f"{k} in {v}" for k, v in sorted(false.items())))
    for group, count in missed.most_common():
        print(f"  split in {count}: {group}")
    for (a, b), count in wrong.most_common():
        print(f"  merged in {count}: {a} ~ {b}")


def main() -> None:
    args = sys.argv[1:]
    os.environ.pop("MCWATCH_DATABASE_URL", None)
    os.environ.pop("MCWATCH_TELEGRAM_TOKEN", None)
    os.environ["MCWATCH_LOG_LEVEL"] = "ERROR"
    if args[:1] == ["--orders"]:
        orders(Path(args[2]) if len(args) > 2 else REALWORLD_DEV, int(args[1]))
        return
    folder = Path(args[0]) if args else REALWORLD_DEV
    server = FeedServer()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            outcomes = run_corpus(folder, Path(workdir), server)
    finally:
        server.close()
    print("== all")
    print(score(outcomes).to_text())
    for language in ("fr", "en"):
        figures = score(outcomes, language)
        r = figures.relationship
        print(
            f"== {language}: relationship P={r.precision:.3f} R={r.recall:.3f} "
            f"macro-F1={figures.macro_f1:.3f} groups {figures.merged}/{figures.groups}"
        )


if __name__ == "__main__":
    main()
