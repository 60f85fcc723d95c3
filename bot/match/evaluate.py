"""Score a matcher against labelled items: per-topic and relationship precision/recall.

Pure; used by the corpus acceptance test and ``mcwatch rules eval``. Definitions:

- **relationship**: an item is predicted about Mali–China when it matches at least one
  topic (what users receive); truth is a non-empty label set.
- **gate**: the relationship gate alone, against the same truth (culture-only Mali–China
  items pass the gate but have no topic: they count as gate false positives, by design).
- **topic t**: predicted when the item matches t; truth when t is among its labels. The
  fallback label (``general``) counts for the relationship, never as a topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import LabelledFileError
from bot.match.compile import Matcher
from bot.types import MatchInput


def load_labelled(entries: Any, known_slugs: Iterable[str]) -> list[LabelledItem]:
    """Validate parsed YAML (a list of entries, or ``{"items": [...]}``) → items.

    Every entry needs an ``id`` and a ``title`` or ``summary``; ``topics`` must name
    known slugs, so that a typo cannot silently count as a miss.
    """
    if isinstance(entries, Mapping):
        entries = entries.get("items")
    if not isinstance(entries, list) or not entries:
        raise LabelledFileError("expected a non-empty list of labelled items")
    slugs = set(known_slugs)
    items: list[LabelledItem] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        where = f"item {number}"
        if not isinstance(entry, Mapping):
            raise LabelledFileError(f"{where}: expected a mapping")
        if "id" not in entry:
            raise LabelledFileError(f"{where}: missing 'id'")
        where = f"item {entry['id']!r}"
        if str(entry["id"]) in seen:
            raise LabelledFileError(f"{where}: duplicate id")
        seen.add(str(entry["id"]))
        if not (entry.get("title") or entry.get("summary")):
            raise LabelledFileError(f"{where}: needs a 'title' or a 'summary'")
        labels = entry.get("topics") or []
        if not isinstance(labels, list):
            raise LabelledFileError(f"{where}: 'topics' must be a list of slugs")
        unknown = sorted(str(t) for t in labels if t not in slugs)
        if unknown:
            raise LabelledFileError(f"{where}: unknown topic {', '.join(unknown)}")
        items.append(LabelledItem.from_mapping(entry))
    return items


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """One labelled item (the shape of ``tests/data/corpus.yaml`` entries)."""

    id: str
    title: str
    summary: str
    language: str
    topics: frozenset[str]
    category: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LabelledItem:
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or ""),
            summary=str(data.get("summary") or ""),
            language=str(data.get("lang") or data.get("language") or "other"),
            topics=frozenset(data.get("topics") or ()),
            category=str(data.get("category") or ""),
        )

    @property
    def input(self) -> MatchInput:
        return MatchInput(self.title, self.summary, self.language)


@dataclass(slots=True)
class Score:
    """Counts of one binary decision, and the usual ratios (1.0 when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class Miss:
    """One wrong decision, for the report."""

    item_id: str
    decision: str  # "relationship", "gate" or a topic slug
    kind: str  # "false positive" | "false negative"
    category: str
    detail: str = ""


@dataclass(slots=True)
class Report:
    relationship: Score = field(default_factory=Score)
    gate: Score = field(default_factory=Score)
    topics: dict[str, Score] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)

    def to_text(self) -> str:
        def line(name: str, s: Score) -> str:
            return (
                f"{name:<15} P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f} "
                f"(tp {s.tp}, fp {s.fp}, fn {s.fn})"
            )

        rows = [line("relationship", self.relationship), line("gate", self.gate)]
        rows += [line(slug, score) for slug, score in self.topics.items()]
        return "\n".join(rows)


def evaluate(matcher: Matcher, items: Iterable[LabelledItem]) -> Report:
    """Run ``matcher`` over ``items`` and score every decision (see module docstring)."""
    report = Report(topics={s: Score() for s in matcher.slugs if s != matcher.fallback})
    for item in items:
        doc = item.input
        scan = matcher.scan(doc)
        verdict = matcher.relationship(scan)
        matched = {m.slug for m in matcher.match(doc)}
        truth = bool(item.topics)
        gate_passed = verdict.passed if verdict is not None else True
        reason = verdict.reason if verdict is not None else ""
        for name, score, predicted in (
            ("relationship", report.relationship, bool(matched)),
            ("gate", report.gate, gate_passed),
        ):
            score.add(predicted, truth)
            if predicted != truth:
                kind = "false positive" if predicted else "false negative"
                report.misses.append(Miss(item.id, name, kind, item.category, reason))
        for slug, score in report.topics.items():
            predicted, actual = slug in matched, slug in item.topics
            score.add(predicted, actual)
            if predicted != actual:
                kind = "false positive" if predicted else "false negative"
                report.misses.append(Miss(item.id, slug, kind, item.category))
    return report
