"""Score mcwatch on a labelled feed corpus through the real path, per topic and language.

    python bench/corpus_eval.py [FOLDER]      # default: ../shared/corpora/realworld-dev

Serves the corpus's feeds on 127.0.0.1, runs `mcwatch feeds add`, `mcwatch poll --all`
and `mcwatch items list --json` in a temporary directory, and prints relationship
precision/recall, topic F1, story groups merged and false merges — overall, then per
language — with every error, for development. The acceptance test asserts the same
figures (tests/test_realworld.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.feed_server import FeedServer
from tests.support.labelled_feeds import REALWORLD_DEV, run_corpus, score


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else REALWORLD_DEV
    os.environ.pop("MCWATCH_DATABASE_URL", None)
    os.environ.pop("MCWATCH_TELEGRAM_TOKEN", None)
    os.environ["MCWATCH_LOG_LEVEL"] = "ERROR"
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
