"""A summit week: every labelled positive in one 48-hour window, order kept.

    python bench/window_eval.py [--hours 48] [--no-synthetic]

Takes every positive of ``tests/data/corpus.yaml``, ``tests/data/heldout.yaml`` and the
real-world development corpus (``../shared/corpora/realworld-dev/``), sorts them by
publication, spreads them evenly over the window (dates moved, order kept), and runs the
seeded matcher and the story grouping on them as the pipeline would, item by item. It
prints how many labelled stories a reader of all topics would receive exactly once,
never (merged into another story, or not matched) or more than once.

Labelled stories are the corpora's own groups (``story`` / ``dup_group``); an item without
one is a story of its own. The two hand-written files retell some of the same seed events
under different labels, so part of their "merges" are right: ``--no-synthetic`` scores the
real-world corpus alone.
"""

from __future__ import annotations

import argparse
import html
import sys
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import dedupe  # noqa: E402
from bot.match import compile_rules, load_topics_document  # noqa: E402
from bot.normalize import normalize_entry  # noqa: E402
from bot.parse import parse_feed  # noqa: E402
from bot.types import MatchInput  # noqa: E402
from tests.support.labelled_feeds import REALWORLD_DEV, load_labels  # noqa: E402

Item = tuple[datetime, str, str, str, str]  # published, title, summary, language, story


def _published(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def synthetic() -> list[Item]:
    items = []
    for name in ("corpus.yaml", "heldout.yaml"):
        for entry in yaml.safe_load((ROOT / "tests" / "data" / name).read_text("utf-8")):
            if entry.get("topics"):
                story = f"{name}:{entry.get('story') or entry['id']}"
                items.append(
                    (_published(entry["published"]), entry["title"], entry["summary"],
                     entry["lang"], story)
                )
    return items


def realworld() -> list[Item]:
    labels = {
        (label.feed, " ".join(html.unescape(label.title).split()).casefold()): label
        for label in load_labels(REALWORLD_DEV)
    }
    items = []
    now = datetime.now(UTC)
    for path in sorted(REALWORLD_DEV.glob("feed_*")):
        parsed = parse_feed(path.read_bytes(), url=f"http://127.0.0.1/{path.name}")
        for raw in parsed.entries:
            item = normalize_entry(raw, now=now, feed_language=parsed.language)
            label = labels[(path.name, " ".join(item.title.split()).casefold())]
            if label.topics:
                story = f"rw:{label.group or label.title}"
                items.append((item.published, item.title, item.summary, item.language, story))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--no-synthetic", action="store_true")
    args = parser.parse_args()
    document = yaml.safe_load((ROOT / "seeds" / "topics.yaml").read_text("utf-8"))
    lexicon, specs = load_topics_document(document)
    matcher = compile_rules([spec.rule for spec in specs], lexicon)
    items = sorted((realworld() if args.no_synthetic else synthetic() + realworld()),
                   key=lambda i: i[0])
    start = datetime(2026, 11, 29, tzinfo=UTC)
    step = timedelta(hours=args.hours) / max(1, len(items) - 1)
    pool = dedupe.StoryPool()
    assigned: list[tuple[int | None, str]] = []
    for number, (_, title, summary, language, story) in enumerate(items, 1):
        at = start + step * (number - 1)
        if not matcher.match(MatchInput(title, summary, language)):
            assigned.append((None, story))
            continue
        probe = dedupe.fingerprint(number, None, title, summary, language, at)
        chosen = pool.choose(probe) or number
        pool.add(replace(probe, story_id=chosen))
        assigned.append((chosen, story))
    # A grouped story is alerted once, under its first item's label: the other labels
    # it swallowed are never alerted.
    first_label: dict[int, str] = {}
    for chosen, story in assigned:
        if chosen is not None:
            first_label.setdefault(chosen, story)
    alerted: dict[str, int] = defaultdict(int)
    for label in first_label.values():
        alerted[label] += 1
    labels = {story for _, story in assigned}
    once = sum(1 for label in labels if alerted[label] == 1)
    never = sum(1 for label in labels if alerted[label] == 0)
    more = sum(1 for label in labels if alerted[label] > 1)
    print(f"{len(items)} items, {len(labels)} labelled stories in {args.hours:g} hours")
    print(f"received exactly once: {once} ({once / len(labels):.0%}); never: {never}; "
          f"more than once: {more}")


if __name__ == "__main__":
    main()
