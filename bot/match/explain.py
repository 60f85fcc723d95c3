"""Why an item matched a topic or not: the records behind ``mcwatch rules test``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RelationshipExplanation:
    """The gate's verdict. ``configured`` False: the lexicon has no gate (rules decide)."""

    configured: bool
    passed: bool
    reason: str
    evidence: str = ""
    terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicExplanation:
    """One topic: ``matched`` = its rule is true AND the gate passed.

    ``failed`` lists the parts of the rule that are false (``missing sécurité``,
    ``none of (a OR b)``, ``excluded by -sport (found: football)``), or the gate's reason
    when only the gate failed.
    """

    slug: str
    name: str
    matched: bool
    rule_matched: bool
    terms: tuple[str, ...]
    failed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    """Every topic, matched or not, and the relationship verdict, for one item."""

    language: str
    relationship: RelationshipExplanation
    topics: tuple[TopicExplanation, ...]

    @property
    def matched(self) -> tuple[str, ...]:
        return tuple(t.slug for t in self.topics if t.matched)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of ``rules test --json`` (SPEC's keys plus explanations)."""
        rel = self.relationship
        return {
            "topics": [
                {
                    "slug": t.slug,
                    "matched": t.matched,
                    "terms": list(t.terms),
                    "rule_matched": t.rule_matched,
                    "failed": list(t.failed),
                }
                for t in self.topics
            ],
            "relationship": {
                "configured": rel.configured,
                "passed": rel.passed,
                "reason": rel.reason,
                "evidence": rel.evidence,
                "terms": list(rel.terms),
            },
            "language": self.language,
        }

    def to_text(self) -> str:
        """Human-readable report, one topic per line."""
        rel = self.relationship
        lines = []
        if rel.configured:
            state = "passes" if rel.passed else "fails"
            lines.append(f"Mali–China relationship {state}: {rel.reason}")
            if rel.evidence:
                lines.append(f"  evidence: {rel.evidence}")
            if rel.terms:
                lines.append(f"  terms: {', '.join(rel.terms)}")
        for topic in self.topics:
            mark = "✔" if topic.matched else "✘"
            detail = ", ".join(topic.terms) if topic.matched else "; ".join(topic.failed)
            lines.append(f"{mark} {topic.slug:<15} {detail}".rstrip())
        return "\n".join(lines)
