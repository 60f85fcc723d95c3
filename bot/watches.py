"""Personal watches (issue 15): a reader's own rules, inside the Mali–China scope. Pure.

A watch is a query in the rule language (``bot.match``) run on every item the topics
found about Mali and China — never on the rest: a watch on "huawei" finds Huawei's
Malian contracts, not its phones. It may reach outside the nine topics (a company, a
site, a person). Its stories reach the reader as their mode says: instant alerts, the
digest, or both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.types import DeliveryIntent

MAX_WATCHES = 20  # per reader: enough for a beat, few enough to read in /watches
TEST_WINDOW = timedelta(days=30)  # a new watch is tried on what came in this long
QUERY_MAX_CHARS = 200
_SLUG = "watch-"


@dataclass(frozen=True, slots=True)
class WatchRule:
    """One active reader's watch, as planning sees it."""

    watch_id: int
    subscriber_id: int
    query: str
    mode: str  # the reader's: instant | digest | both | weekly


def normalise(query: str) -> str:
    """The query as stored and compared: one space between words."""
    return " ".join(query.split())


def same_query(a: str, b: str) -> bool:
    """Two watches that only differ in spacing or case are one watch."""
    return normalise(a).casefold() == normalise(b).casefold()


def distinct_queries(rules: Sequence[WatchRule]) -> tuple[str, ...]:
    """The queries to compile, each once however many readers watch it (sorted: the
    compiled matcher is cached under this tuple, ``stored_rules.watch_matcher``)."""
    return tuple(sorted({rule.query for rule in rules}))


def rule_name(index: int) -> str:
    """The rule name of ``distinct_queries(…)[index]`` in the one matcher of all watches."""
    return f"{_SLUG}{index}"


def watchers(
    rules: Sequence[WatchRule], queries: Sequence[str]
) -> dict[str, list[WatchRule]]:
    """For each rule name (``rule_name``) of ``queries``, the watches that are its query."""
    name = {query: rule_name(index) for index, query in enumerate(queries)}
    found: dict[str, list[WatchRule]] = {}
    for rule in rules:
        found.setdefault(name[rule.query], []).append(rule)
    return found


def plan_watch_alerts(
    item_id: int, topics: Sequence[str], hits: Sequence[WatchRule]
) -> list[DeliveryIntent]:
    """Instant alerts for the readers whose watches found an item (one per reader, with
    the item's topics); digest readers get it in their digest instead (the hit is
    recorded either way)."""
    readers: dict[int, DeliveryIntent] = {}
    for hit in hits:
        if hit.mode in ("instant", "both") and hit.subscriber_id not in readers:
            readers[hit.subscriber_id] = DeliveryIntent(hit.subscriber_id, item_id, tuple(topics))
    return list(readers.values())
