"""Compiled rule nodes, evaluated over one item's automaton hits.

``compile.py`` turns every word, prefix and phrase of every rule into a *pattern*: a key
of the Aho-Corasick automaton over an item's words joined by single spaces, with a
leading space (word start) and, unless it is a prefix, a trailing space (word end). So
``" chine "`` finds the word ``chine`` and never ``machine``; ``" coop"`` finds any word
starting with ``coop``; ``" sino malien "`` finds the two words in a row. One pass over an
item yields ``Scan.hits``: per field, pattern id → sorted start positions (word indices).
The nodes below then decide each rule from those hits alone, so the cost per item grows
with the hits it has, not with the number of terms in the rules.

Semantics (shared with ``reference.py``, the oracle):

- a word/phrase is true when it occurs in a field in scope (title and summary unless a
  ``title:``/``summary:`` field restricts it); a phrase never spans two sentences (nor,
  a fortiori, the two fields);
- ``"a b"~N``: one occurrence of each word at distinct positions of one sentence, the
  largest minus the smallest position ≤ N;
- ``lang:x``: the item's language is x; NOT/AND/OR as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.match.text import FieldText

Occurrence = tuple[int, int, int]  # field, first position, number of words
Hits = dict[int, list[int]]  # pattern id → start positions, ascending
_BOTH = (0, 1)


@dataclass(frozen=True, slots=True)
class Scan:
    """One item as the rules see it: its fields, language and pattern hits per field."""

    fields: tuple[FieldText, FieldText]
    language: str
    hits: tuple[Hits, Hits]


class Node:
    """A compiled rule node. ``label`` is its query text, for explanations."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def test(self, scan: Scan) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def collect(self, scan: Scan, out: list[Occurrence]) -> None:
        """Append the occurrences that make this (true) node true; NOT adds nothing."""

    def failures(self, scan: Scan) -> list[str]:
        """Readable reasons why this node is false (empty when it is true)."""
        return [] if self.test(scan) else [f"missing {self.label}"]


def _fields(scope: int | None) -> tuple[int, ...]:
    return _BOTH if scope is None else (scope,)


class AnyOf(Node):
    """True when any of ``pids`` (single-key words/prefixes/phrases) hits in scope."""

    __slots__ = ("lengths", "pids", "scope")

    def __init__(self, label: str, pids: frozenset[int], scope: int | None, lengths: list[int]):
        super().__init__(label)
        self.pids = pids
        self.scope = scope
        self.lengths = lengths

    def test(self, scan: Scan) -> bool:
        hits = scan.hits
        if self.scope is None:
            return not (self.pids.isdisjoint(hits[0]) and self.pids.isdisjoint(hits[1]))
        return not self.pids.isdisjoint(hits[self.scope])

    def collect(self, scan: Scan, out: list[Occurrence]) -> None:
        for field in _fields(self.scope):
            for pid, positions in scan.hits[field].items():
                if pid in self.pids:
                    out.extend((field, p, self.lengths[pid]) for p in positions)


Slot = frozenset[int]  # the pattern ids that may fill one word of a phrase


def slot_positions(hits: Hits, slot: Slot) -> list[int]:
    """Ascending positions where any pattern of ``slot`` starts."""
    if len(slot) == 1:
        return hits.get(next(iter(slot))) or []
    if len(slot) < len(hits):
        found = [hits[pid] for pid in slot if pid in hits]
    else:
        found = [positions for pid, positions in hits.items() if pid in slot]
    if len(found) <= 1:
        return found[0] if found else []
    return sorted({p for positions in found for p in positions})


def _all_filled(hits: Hits, slots: tuple[Slot, ...]) -> bool:
    """Cheap pre-check (C-level set operations): every slot has some hit."""
    return not any(slot.isdisjoint(hits) for slot in slots)


class Seq(Node):
    """A phrase that is not one automaton key (a prefix before its last word, or an
    ``@set`` slot): slot i filled at position p + i."""

    __slots__ = ("scope", "slots")

    def __init__(self, label: str, slots: tuple[Slot, ...], scope: int | None) -> None:
        super().__init__(label)
        self.slots = slots
        self.scope = scope

    def _starts(self, scan: Scan, field: int) -> Iterator[int]:
        hits = scan.hits[field]
        if not _all_filled(hits, self.slots):
            return
        lists = [slot_positions(hits, slot) for slot in self.slots]
        if not all(lists):
            return
        rest = [set(positions) for positions in lists[1:]]
        text = scan.fields[field]
        last = len(self.slots) - 1
        for p in lists[0]:
            if text.same_sentence(p, p + last) and all(
                p + i + 1 in positions for i, positions in enumerate(rest)
            ):
                yield p

    def test(self, scan: Scan) -> bool:
        return any(next(self._starts(scan, f), None) is not None for f in _fields(self.scope))

    def collect(self, scan: Scan, out: list[Occurrence]) -> None:
        for field in _fields(self.scope):
            out.extend((field, p, len(self.slots)) for p in self._starts(scan, field))


def distinct_choice(options: list[list[int]]) -> tuple[int, ...] | None:
    """One value per list, all distinct (a system of distinct representatives), or None."""
    order = sorted(range(len(options)), key=lambda i: len(options[i]))
    chosen: dict[int, int] = {}
    used: set[int] = set()

    def place(k: int) -> bool:
        if k == len(order):
            return True
        index = order[k]
        for value in options[index]:
            if value not in used:
                used.add(value)
                chosen[index] = value
                if place(k + 1):
                    return True
                used.discard(value)
        return False

    return tuple(chosen[i] for i in range(len(options))) if place(0) else None


def near_positions(
    lists: list[list[int]], slop: int, field: FieldText | None = None
) -> tuple[int, ...] | None:
    """Distinct positions, one from each list, spanning ≤ ``slop`` within one sentence
    of ``field`` (any positions when ``field`` is None); None if impossible."""
    for low in sorted({p for positions in lists for p in positions}):
        high = low + slop
        if field is not None:
            sentence = field.sentence_index(low)
            if sentence + 1 < len(field.starts):
                high = min(high, field.starts[sentence + 1] - 1)
        options = [[p for p in positions if low <= p <= high] for positions in lists]
        if all(options):
            choice = distinct_choice(options)
            if choice is not None:
                return choice
    return None


class Near(Node):
    """``"a b c"~N`` over one slot of word patterns per word."""

    __slots__ = ("scope", "slop", "slots")

    def __init__(self, label: str, slots: tuple[Slot, ...], slop: int, scope: int | None):
        super().__init__(label)
        self.slots = slots
        self.slop = slop
        self.scope = scope

    def _find(self, scan: Scan, field: int) -> tuple[int, ...] | None:
        hits = scan.hits[field]
        if not _all_filled(hits, self.slots):
            return None
        lists = [slot_positions(hits, slot) for slot in self.slots]
        if not all(lists):
            return None
        return near_positions(lists, self.slop, scan.fields[field])

    def test(self, scan: Scan) -> bool:
        return any(self._find(scan, field) is not None for field in _fields(self.scope))

    def collect(self, scan: Scan, out: list[Occurrence]) -> None:
        for field in _fields(self.scope):
            found = self._find(scan, field)
            if found is not None:
                out.extend((field, p, 1) for p in found)


class LangIs(Node):
    __slots__ = ("code",)

    def __init__(self, label: str, code: str) -> None:
        super().__init__(label)
        self.code = code

    def test(self, scan: Scan) -> bool:
        return scan.language == self.code

    def failures(self, scan: Scan) -> list[str]:
        return [] if self.test(scan) else [f"{self.label}: the item is in '{scan.language}'"]


class Const(Node):
    """A constant (an alias set with no terms left, an empty OR)."""

    __slots__ = ("value",)

    def __init__(self, label: str, value: bool) -> None:
        super().__init__(label)
        self.value = value

    def test(self, scan: Scan) -> bool:
        return self.value


class NotNode(Node):
    __slots__ = ("child",)

    def __init__(self, label: str, child: Node) -> None:
        super().__init__(label)
        self.child = child

    def test(self, scan: Scan) -> bool:
        return not self.child.test(scan)

    def failures(self, scan: Scan) -> list[str]:
        if self.test(scan):
            return []
        found: list[Occurrence] = []
        self.child.collect(scan, found)
        words = sorted({" ".join(scan.fields[f].words[p : p + n]) for f, p, n in found})
        shown = f" (found: {', '.join(words[:5])})" if words else ""
        return [f"excluded by {self.label}{shown}"]


class AndNode(Node):
    __slots__ = ("children",)

    def __init__(self, label: str, children: tuple[Node, ...]) -> None:
        super().__init__(label)
        self.children = children

    def test(self, scan: Scan) -> bool:
        return all(child.test(scan) for child in self.children)

    def collect(self, scan: Scan, out: list[Occurrence]) -> None:
        for child in self.children:
            child.collect(scan, out)

    def failures(self, scan: Scan) -> list[str]:
        return [reason for child in self.children for reason in child.failures(scan)]


class OrNode(Node):
    __slots__ = ("children",)

    def __init__(self, label: str, children: tuple[Node, ...]) -> None:
        super().__init__(label)
        self.children = children

    def test(self, scan: Scan) -> bool:
        return any(child.test(scan) for child in self.children)

    def collect(self, scan: Scan, out: list[Occurrence]) -> None:
        for child in self.children:
            if child.test(scan):
                child.collect(scan, out)

    def failures(self, scan: Scan) -> list[str]:
        if self.test(scan):
            return []
        label = self.label if len(self.label) <= 120 else self.label[:117] + "…"
        return [f"none of {label}"]
