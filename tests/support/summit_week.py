"""A summit week: every labelled positive in one 48-hour window, order kept.

Takes every positive of ``tests/data/corpus.yaml``, ``tests/data/heldout.yaml`` and the
real-world development corpus (``../shared/corpora/realworld-dev/``, when present), sorts
them by publication, spreads them evenly over the window (dates moved, order kept) and
runs the seeded matcher and the story grouping on them item by item, as the pipeline
does for a feed. ``receive`` says how many labelled stories a subscriber of all topics
gets exactly once, never (merged into another story, or not matched) or more than once.

Labelled stories are the corpora's own groups (``story`` / ``dup_group``); an item without
one is a story of its own. The three sets retell a few events under different labels:
``tests/data/same_events.yaml`` lists them, and each list counts as one story. Real-world
items are named by their group or by feed file and position, never by their text.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot.ingest import dedupe
from bot.ingest.normalize import normalize_entry
from bot.ingest.parse import parse_feed
from bot.match import compile_rules, load_topics_document
from bot.types import MatchInput
from tests.support.labelled_feeds import REALWORLD_DEV, load_labels

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
Item = tuple[datetime, str, str, str, str]  # published, title, summary, language, story


@dataclass(frozen=True, slots=True)
class Received:
    items: int
    stories: int
    once: int
    never: int
    more: int

    def to_text(self, hours: float) -> str:
        return (
            f"{self.items} items, {self.stories} labelled stories in {hours:g} hours\n"
            f"received exactly once: {self.once} ({self.once / self.stories:.0%}); "
            f"never: {self.never}; more than once: {self.more}"
        )


def _published(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def same_events() -> dict[str, str]:
    """Label → the label that stands for its event."""
    lists = yaml.safe_load((DATA / "same_events.yaml").read_text("utf-8"))
    return {label: labels[0] for labels in lists for label in labels}


def synthetic() -> list[Item]:
    items = []
    for name in ("corpus.yaml", "heldout.yaml"):
        for entry in yaml.safe_load((DATA / name).read_text("utf-8")):
            if entry.get("topics"):
                story = f"{name}:{entry.get('story') or entry['id']}"
                items.append(
                    (
                        _published(entry["published"]),
                        entry["title"],
                        entry["summary"],
                        entry["lang"],
                        story,
                    )
                )
    return items


def realworld(folder: Path = REALWORLD_DEV) -> list[Item]:
    if not (folder / "labels.jsonl").exists():
        return []
    labels = {
        (label.feed, " ".join(html.unescape(label.title).split()).casefold()): label
        for label in load_labels(folder)
    }
    items = []
    now = datetime.now(UTC)
    for path in sorted(folder.glob("feed_*")):
        parsed = parse_feed(path.read_bytes(), url=f"http://127.0.0.1/{path.name}")
        for number, raw in enumerate(parsed.entries):
            item = normalize_entry(raw, now=now, feed_language=parsed.language)
            label = labels[(path.name, " ".join(item.title.split()).casefold())]
            if label.topics:
                story = f"rw:{label.group or f'{path.name}#{number}'}"
                items.append((item.published, item.title, item.summary, item.language, story))
    return items


def receive(items: list[Item], hours: float = 48.0) -> Received:
    """Group ``items`` as the pipeline would with their dates spread over ``hours``."""
    events = same_events()
    ordered = sorted(
        ((p, t, s, lang, events.get(story, story)) for p, t, s, lang, story in items),
        key=lambda item: item[0],
    )
    document = yaml.safe_load((ROOT / "seeds" / "topics.yaml").read_text("utf-8"))
    lexicon, specs = load_topics_document(document)
    matcher = compile_rules([spec.rule for spec in specs], lexicon)
    start = datetime(2026, 11, 29, tzinfo=UTC)
    step = timedelta(hours=hours) / max(1, len(ordered) - 1)
    pool = dedupe.StoryPool()
    first_label: dict[int, str] = {}  # a story is alerted once, under its first item
    for number, (_, title, summary, language, story) in enumerate(ordered, 1):
        if not matcher.match(MatchInput(title, summary, language)):
            continue
        at = start + step * (number - 1)
        probe = dedupe.fingerprint(number, None, title, summary, language, at)
        chosen = pool.choose(probe) or number
        pool.add(replace(probe, story_id=chosen))
        first_label.setdefault(chosen, story)
    alerted = Counter(first_label.values())
    labels = {item[4] for item in ordered}
    return Received(
        items=len(ordered),
        stories=len(labels),
        once=sum(1 for label in labels if alerted[label] == 1),
        never=sum(1 for label in labels if alerted[label] == 0),
        more=sum(1 for label in labels if alerted[label] > 1),
    )
