"""Score mcwatch on labelled feeds through the real path: loopback server, CLI, JSON.

A labelled corpus is a folder of feed files plus ``labels.jsonl`` (one object per item:
``feed``, ``title``, ``lang``, ``topics``, ``dup_group``), the shape of
``../shared/corpora/realworld-dev/``. ``run_corpus`` serves every feed on 127.0.0.1,
adds them with ``mcwatch feeds add``, runs ``mcwatch poll --feed ID`` for each (in the
order they were added, so the figures do not depend on which answered first) and reads the result
back with ``mcwatch items list --json``: nothing is called below the CLI. ``score``
turns that into the figures the issues quote.

Items are paired with their labels by (feed, title): titles are unique within a feed.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot.match.evaluate import Score
from tests.support.feed_server import FeedServer

REALWORLD_DEV = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "realworld-dev"
# SPEC's nine slugs; the general label counts for the relationship, never as a topic.
TOPICS = tuple(
    "security defense diplomacy infrastructure mining energy agriculture health finance".split()
)


def _key(text: str) -> str:
    return " ".join(html.unescape(text).split()).casefold()


@dataclass(frozen=True, slots=True)
class Label:
    feed: str
    title: str
    language: str
    topics: frozenset[str]
    group: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One labelled item and what mcwatch made of it (None: not stored at all)."""

    label: Label
    topics: frozenset[str] | None
    story: int | None


def load_labels(folder: Path) -> list[Label]:
    labels = []
    for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            labels.append(
                Label(
                    feed=row["feed"],
                    title=row["title"],
                    language=row.get("lang") or "other",
                    topics=frozenset(row.get("topics") or ()),
                    group=row.get("dup_group"),
                    note=row.get("notes") or "",
                )
            )
    return labels


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the block with ``path`` as the working directory (the CLI's ``./data``)."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_corpus(
    folder: Path, workdir: Path, server: FeedServer, order: Sequence[int] | None = None
) -> list[Outcome]:
    """Serve ``folder``'s feeds, poll them with the CLI, pair the stored items with labels.

    ``workdir`` becomes the CLI's working directory (its ``./data/mcwatch.db``) unless
    ``MCWATCH_DATABASE_URL`` is set by the caller. ``order``: positions in the sorted
    list of feeds, the order to poll them in (default: sorted).
    """
    from bot.cli import app  # the CLI is imported late: the module only serves tests

    labels = load_labels(folder)
    feeds = sorted({label.feed for label in labels})
    runner = CliRunner()
    ids: dict[int, str] = {}
    with working_directory(workdir):
        for name in feeds:
            kind = "application/atom+xml" if name.endswith(".atom") else "application/rss+xml"
            server.serve(f"/{name}", (folder / name).read_bytes(), content_type=kind)
            added = runner.invoke(
                app, ["feeds", "add", server.url(f"/{name}"), "--name", name]
            )
            assert added.exit_code == 0, added.output
        listed = runner.invoke(app, ["feeds", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        ours = {server.url(f"/{name}"): name for name in feeds}
        for row in json.loads(listed.stdout):
            if row["url"] in ours:  # the seeded feeds are on the internet: never polled
                ids[row["id"]] = ours[row["url"]]
        # One feed at a time, in the order they were added: story grouping is decided
        # item by item, so the figures must not depend on which server answered first.
        by_position = sorted(ids)
        for position in order if order is not None else range(len(by_position)):
            feed_id = by_position[position]
            polled = runner.invoke(app, ["poll", "--feed", str(feed_id)])
            assert polled.exit_code == 0, polled.output
        found = runner.invoke(
            app, ["items", "list", "--since", "36500d", "--limit", "10000", "--json"]
        )
        assert found.exit_code == 0, found.output
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    for row in json.loads(found.stdout):
        stored[(ids.get(row["feed_id"], ""), _key(row["title"]))] = row
    outcomes = []
    for label in labels:
        row = stored.get((label.feed, _key(label.title)))
        if row is None:
            outcomes.append(Outcome(label, None, None))
        else:
            outcomes.append(Outcome(label, frozenset(row["topics"]), row["cluster_id"]))
    return outcomes


@dataclass(slots=True)
class Scores:
    """Relationship and per-topic counts, story groups merged, false merges."""

    relationship: Score = field(default_factory=Score)
    topics: dict[str, Score] = field(default_factory=lambda: {t: Score() for t in TOPICS})
    groups: int = 0
    merged: int = 0
    false_merges: list[tuple[str, str]] = field(default_factory=list)
    unmerged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def macro_f1(self) -> float:
        # Topics with no positive and no prediction are left out (F1 is undefined there).
        scored = [c.f1 for c in self.topics.values() if c.tp + c.fp + c.fn]
        return sum(scored) / len(scored) if scored else 1.0

    def to_text(self) -> str:
        r = self.relationship
        lines = [
            f"relationship P={r.precision:.3f} R={r.recall:.3f} (tp {r.tp} fp {r.fp} fn {r.fn})",
            f"topic macro-F1={self.macro_f1:.3f}",
        ]
        for slug, c in self.topics.items():
            lines.append(
                f"  {slug:<15} P={c.precision:.2f} R={c.recall:.2f} F1={c.f1:.2f}"
                f" (tp {c.tp} fp {c.fp} fn {c.fn})"
            )
        lines.append(f"groups merged {self.merged}/{self.groups}; false merges "
                     f"{len(self.false_merges)}")
        lines += [f"  unmerged: {g}" for g in self.unmerged]
        lines += [f"  false merge: {a} ~ {b}" for a, b in self.false_merges]
        lines += [f"  not stored: {m}" for m in self.missing]
        lines += [f"  {e}" for e in self.errors]
        return "\n".join(lines)


def score(outcomes: Sequence[Outcome], language: str | None = None) -> Scores:
    """Figures over ``outcomes`` (one language's when given). A positive counts as found
    when it is stored with at least one topic; the general label counts for the
    relationship and for no topic."""
    scores = Scores()
    chosen = [o for o in outcomes if language is None or o.label.language == language]
    for o in chosen:
        truth = bool(o.label.topics)
        if o.topics is None:
            scores.missing.append(o.label.title)
            scores.relationship.add(False, truth)
            for slug, counts in scores.topics.items():
                counts.add(False, slug in o.label.topics)
            continue
        predicted = bool(o.topics)
        scores.relationship.add(predicted, truth)
        if predicted != truth:
            kind = "FP" if predicted else "FN"
            scores.errors.append(f"relationship {kind}: {o.label.title}")
        for slug, counts in scores.topics.items():
            got, want = slug in o.topics, slug in o.label.topics
            counts.add(got, want)
            if truth and predicted and got != want:
                kind = "FP" if got else "FN"
                scores.errors.append(f"{slug} {kind}: {o.label.title}")
    # Story groups: every positive group must share one story; stories must not mix groups.
    by_group: dict[str, list[Outcome]] = defaultdict(list)
    for o in chosen:
        if o.label.group and o.label.topics:
            by_group[o.label.group].append(o)
    for group, members in sorted(by_group.items()):
        if len(members) < 2:
            continue
        scores.groups += 1
        stories = Counter(m.story for m in members)
        if len(stories) == 1 and None not in stories:
            scores.merged += 1
        else:
            scores.unmerged.append(f"{group} {sorted(stories.values(), reverse=True)}")
    by_story: dict[int, list[Outcome]] = defaultdict(list)
    for o in chosen:
        if o.story is not None and o.topics:
            by_story[o.story].append(o)
    for members in by_story.values():
        first = members[0]
        for other in members[1:]:
            if first.label.group is None or other.label.group != first.label.group:
                scores.false_merges.append((first.label.title[:60], other.label.title[:60]))
    return scores
