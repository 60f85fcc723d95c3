"""The topics document (``seeds/topics.yaml``): validate it whole before anything is saved.

Shape::

    version: 1
    aliases: {name: [term, ...]}
    relationship: {...}          # see lexicon.py and gate.py
    topics: [{slug, name, description, query}, ...]

``load_topics_document`` checks the lexicon, every topic's keys, unique slugs, and that
every query compiles against the lexicon; the first problem raises
``TopicsDocumentError`` naming the topic (slug) and, for a rule, the column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import RuleSyntaxError, TopicsDocumentError
from bot.match.compile import validate_rule
from bot.match.lexicon import Lexicon
from bot.types import TopicRule

SUPPORTED_VERSIONS = (1,)
_SLUG_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}\Z")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as written in the document."""

    slug: str
    name: str
    description: str
    query: str

    @property
    def rule(self) -> TopicRule:
        return TopicRule(slug=self.slug, query=self.query, name=self.name)


def load_topics_document(data: Mapping[str, Any]) -> tuple[Lexicon, list[TopicSpec]]:
    """Validate a parsed topics document → (lexicon, topics in document order)."""
    if not isinstance(data, Mapping):
        raise TopicsDocumentError("topics document: expected a mapping")
    version = data.get("version", 1)
    if version not in SUPPORTED_VERSIONS:
        raise TopicsDocumentError(f"version: unsupported value {version!r} (expected 1)")
    lexicon = Lexicon.from_mapping(data)
    entries = data.get("topics")
    if not isinstance(entries, list) or not entries:
        raise TopicsDocumentError("topics: expected a non-empty list")
    specs: list[TopicSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise TopicsDocumentError(f"topics[{index}]: expected a mapping")
        slug = entry.get("slug")
        if not isinstance(slug, str) or not _SLUG_RE.match(slug):
            raise TopicsDocumentError(f"topics[{index}].slug: bad slug {slug!r}")
        if slug in seen:
            raise TopicsDocumentError(f"topic {slug!r}: duplicate slug", slug)
        seen.add(slug)
        for key in ("name", "description", "query"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                message = f"topic {slug!r}: '{key}' must be a non-empty string"
                raise TopicsDocumentError(message, slug)
        unknown = set(entry) - {"slug", "name", "description", "query"}
        if unknown:
            raise TopicsDocumentError(f"topic {slug!r}: unknown key {sorted(unknown)[0]!r}", slug)
        query = " ".join(entry["query"].split())
        try:
            validate_rule(query, lexicon)
        except RuleSyntaxError as exc:
            raise TopicsDocumentError(
                f"topic {slug!r}: {exc} in query {query!r}", slug, exc.column
            ) from None
        specs.append(TopicSpec(slug, entry["name"].strip(), entry["description"].strip(), query))
    return lexicon, specs
