"""A summit week: every labelled positive in one 48-hour window, order kept.

    python bench/window_eval.py [--hours 48] [--no-synthetic]

Prints how many labelled stories a reader of all topics would receive exactly once,
never (merged into another story, or not matched) or more than once; the corpora and
the rules of the count are in ``tests/support/summit_week.py``, which
``tests/test_window.py`` shares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import summit_week


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--no-synthetic", action="store_true")
    args = parser.parse_args()
    items = summit_week.realworld()
    if not args.no_synthetic:
        items = summit_week.synthetic() + items
    print(summit_week.receive(items, args.hours).to_text(args.hours))


if __name__ == "__main__":
    main()
