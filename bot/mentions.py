"""First mentions (issue 15): the entities a Mali–China story names for the first time. Pure.

An entity is a name of the reviewed tables: the entity table of ``seeds/topics.yaml``
(Chinese groups, provinces and cities, joint projects, Malian places from the gazetteer,
as the stored lexicon holds them) and the sites and firms of ``seeds/grouping.yaml``
(mines, dams, contractors, lenders). Names are found as whole words, folded the way story
grouping folds them (case, accents, elisions, hyphens), so "Kuntai", "KUNTAI" and
"Kuntaï" are one entity, and a name never matches inside a longer word.

"Never seen before" needs a past to compare with: a story is said to be an entity's first
mention only once mcwatch has kept names for ``WARMUP`` (its first recorded name is that
much older than the story). Until then, and for the history already stored when the
feature first runs, names are recorded silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from bot.ingest.dedupe import folded_words

# Two weeks: the unusual-volume baseline's span (bot.volume), long enough for the usual
# firms and places of the relationship to have come up once; a fresh install stays
# quiet that long instead of calling everything it reads "first".
WARMUP = timedelta(days=14)
MAX_SHOWN = 5  # names on an alert's line; a story naming more is an agenda, not news


@dataclass(frozen=True, slots=True)
class NameIndex:
    """Folded words of each name → the name as the table writes it."""

    names: dict[str, str]
    longest: int

    def find(self, *texts: str) -> tuple[str, ...]:
        """The names found in ``texts``, each once, in the order they first appear; the
        longest name wins where names overlap ("N-Sukala", not also "Sukala")."""
        found: dict[str, None] = {}
        for text in texts:
            words = folded_words(text)
            index = 0
            while index < len(words):
                size = next(
                    (
                        size
                        for size in range(min(self.longest, len(words) - index), 0, -1)
                        if " ".join(words[index : index + size]) in self.names
                    ),
                    0,
                )
                if size:
                    found.setdefault(self.names[" ".join(words[index : index + size])])
                index += size or 1
        return tuple(found)


def name_index(names: Iterable[str]) -> NameIndex:
    """An index of ``names`` (the first spelling of a folded name wins)."""
    table: dict[str, str] = {}
    for raw in names:
        name = raw.strip().strip('"').rstrip("*").strip()
        key = " ".join(folded_words(name))
        if key:
            table.setdefault(key, name)
    longest = max((key.count(" ") + 1 for key in table), default=1)
    return NameIndex(table, longest)


@lru_cache(maxsize=4)
def entity_index(lexicon_entities: tuple[str, ...]) -> NameIndex:
    """The lexicon's entity names and ``seeds/grouping.yaml``'s sites and firms."""
    return name_index([*lexicon_entities, *_grouping_names()])


@lru_cache(maxsize=1)
def _grouping_names() -> tuple[str, ...]:
    import yaml

    from bot.resources import data_path

    path = data_path("seeds", "grouping.yaml")
    document: dict[str, Any] = (
        yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    ) or {}
    return tuple(
        str(row["name"])
        for key in ("sites", "firms")
        for row in document.get(key) or []
        if isinstance(row, dict) and row.get("name")
    )


@dataclass(frozen=True, slots=True)
class Named:
    """One stored item and the entities it names."""

    story_id: int
    published: datetime
    entities: tuple[str, ...]
    news: bool  # alerted (not archive): only news can be announced


def first_mentions(
    named: Sequence[Named], known: Iterable[str], since: datetime | None
) -> list[tuple[str, int, datetime, bool]]:
    """(entity, story id, first seen, announced) for each entity ``named`` holds that is
    not ``known``, at its earliest item; ``since`` is when the first name was recorded
    (None: nothing recorded yet). Announced when that item is news and names have been
    kept for ``WARMUP`` before it."""
    seen = {name.casefold() for name in known}
    start = since
    rows: list[tuple[str, int, datetime, bool]] = []
    for item in sorted(named, key=lambda n: n.published):
        for entity in item.entities:
            if entity.casefold() in seen:
                continue
            seen.add(entity.casefold())
            start = item.published if start is None else min(start, item.published)
            warm = item.published - start >= WARMUP
            rows.append((entity, item.story_id, item.published, item.news and warm))
    return rows
