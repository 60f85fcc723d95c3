"""The lexicon: alias sets shared by all rules, and the relationship gate's configuration.

It lives in ``seeds/topics.yaml`` (``aliases:`` and ``relationship:``) and in the database
as the JSON of ``Lexicon.to_mapping()``. ``Lexicon.from_mapping`` accepts either (the
whole topics document too: other keys are ignored) and validates every entry; an error
names the bad key (``aliases.china[3]``, ``relationship.window``).

The relationship gate ("the item is about Mali AND China, related, not merely
co-present") is explained in ``bot/match/gate.py``; its tunable numbers are in
``THRESHOLDS`` below, the one table with a reason per row. A document may override a
number under ``relationship:``; ``to_mapping`` always writes all of them.

An empty mapping is valid: no alias sets and no gate, so each topic's rule alone decides
(used by tests and by a database that was never seeded).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bot.errors import LexiconError, RuleSyntaxError
from bot.match.syntax import Leaf, Term, parse, parse_term


@dataclass(frozen=True, slots=True)
class Threshold:
    """One tunable number of the gate, its bounds and why it has this value."""

    key: str
    value: float
    low: float
    high: float
    reason: str
    integer: bool = True


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "window",
        30,
        1,
        200,
        "Max words between a Mali-side and a China-side mention in ONE sentence. Real "
        "links sit closer (seed sentences: 3 to 20 words; 'malien … ambassadeur de Chine' is "
        "17); 30 also covers long French sentences, while a feed that lost its punctuation "
        "(a whole lede as one 'sentence') no longer links words 60 apart. Mentions in "
        "different sentences never link: in briefs the next sentence is another story "
        "(measured: 'Au Mali … . En Chine …' puts them 7 words apart).",
    ),
    Threshold(
        "crowd",
        3,
        1,
        50,
        "A sentence naming this many OTHER countries (besides Mali and China) is a list "
        "(FOCAC summit, UN vote, zero-tariff list, group accreditation) and links nothing. "
        "3 keeps 'China built stadiums in Mali and Senegal' (1 other) and bilateral talks "
        "that name a third party, and drops 'Mali, Niger, Chad and Togo at FOCAC'.",
    ),
    Threshold(
        "dominance",
        0.5,
        0,
        10,
        "Each side's mention score must reach this share of the most-mentioned OTHER "
        "country's: a Mali–Russia story (Russia 6, China 1) or a China–Niger story "
        "(Niger 6, Mali 1) fails even when one sentence joins Mali and China in passing; "
        "a Mali–China story that also cites France or the AES neighbours keeps ≥ 0.5.",
        integer=False,
    ),
    Threshold(
        "lede",
        2,
        0,
        20,
        "A side named only in the TITLE links with the other side named in one of the "
        "first N sentences of the summary (the lede develops the title: 'Route "
        "Kayes–Sadiola : les travaux débutent' / 'exécutés par une société chinoise'). "
        "Corpus: N=1 misses 2 of 147 positives, N=2 misses none; deeper sentences are "
        "more often another story, so 2. A 'lede_break' word (Separately, Par ailleurs) "
        "ends the lede earlier; 0 turns the rule off.",
    ),
    Threshold(
        "title_weight",
        3,
        1,
        20,
        "A mention in the title counts as this many mentions in the lede for the "
        "dominance score: the title names the story's subject, a lede has 1–4 sentences.",
    ),
)
THRESHOLD_KEYS = tuple(t.key for t in THRESHOLDS)
_DEFAULT = {t.key: t.value for t in THRESHOLDS}
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
_SIDE_KEYS = (
    "mali", "china", "joint", "neutral", "roundup", "lede_break", "scene", "listing", "agent"
)
_RELATIONSHIP_KEYS = (*_SIDE_KEYS, "exclude", "countries", *THRESHOLD_KEYS)


@dataclass(frozen=True, slots=True)
class Relationship:
    """The gate's configuration (see ``bot/match/gate.py``).

    ``mali``/``china``: alias sets naming each side; ``joint``: set whose terms alone mean
    the relationship (sino-malien); ``neutral``: terms that hide what they contain
    (``Journal du Mali``, ``encre de Chine``, ``fleuve Niger``); ``countries``: other
    countries (names, demonyms, capitals) for the crowd and dominance rules; ``exclude``:
    a query that vetoes the gate (sport); ``lede_break``: words that start another story
    wherever they stand ("Separately"); ``scene``: words that set a new scene only when
    they open a sentence ("Au Mali, …", "In West Africa, …"), so they neither hide the
    names they hold nor cut inside a sentence; ``listing``: words that make a sentence
    a list even when it names only one other country ("Kenya, Mali and many other");
    ``agent``: words that make the side they precede the agent of the lede's event
    ("financé par la Chine"), linking it to the title deeper in the lede.
    """

    mali: str = "mali"
    china: str = "china"
    joint: str | None = None
    neutral: str | None = None
    roundup: str | None = None
    lede_break: str | None = None
    scene: str | None = None
    listing: str | None = None
    agent: str | None = None
    exclude: str = ""
    countries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    window: int = int(_DEFAULT["window"])
    crowd: int = int(_DEFAULT["crowd"])
    dominance: float = _DEFAULT["dominance"]
    lede: int = int(_DEFAULT["lede"])
    title_weight: int = int(_DEFAULT["title_weight"])

    def sets(self) -> dict[str, str]:
        """Gate role → alias set name, for the roles that are configured."""
        roles = {"mali": self.mali, "china": self.china, "joint": self.joint}
        roles["neutral"] = self.neutral
        roles["roundup"] = self.roundup
        roles["lede_break"] = self.lede_break
        roles["scene"] = self.scene
        roles["listing"] = self.listing
        roles["agent"] = self.agent
        return {role: name for role, name in roles.items() if name}


@dataclass(frozen=True, slots=True)
class Entity:
    """One row of the entity table: a name the reader is expected to place on a side.

    ``side`` is the alias set the name joins (``mali``, ``china`` or ``joint`` for a
    project that is itself the relationship: a Malian mine run by a Chinese group);
    ``sector``, when given, is a topic slug whose ``<sector>_strong`` set it also joins;
    ``reason`` says why, for the reviewer.
    """

    name: str
    side: str
    sector: str | None = None
    reason: str = ""

    def to_mapping(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.name, "side": self.side}
        if self.sector:
            row["sector"] = self.sector
        row["reason"] = self.reason
        return row


@dataclass(frozen=True, slots=True)
class Weighing:
    """How matched topics are weighed against each other (see ``compile.py``).

    ``incidental``: alias set of phrases whose words never count for a topic — a
    source of a statement ("selon l'armée", "the army said"), a name that holds a
    sector word ("la Ceinture et la Route", "insécurité alimentaire"). A topic term
    lying inside a longer incidental phrase is ignored. ``weak``: topic slug → alias
    set of terms that make the topic only when no other topic has better evidence
    (an "audience" on a mining story, "armed forces" announcing a kidnapping).
    ``carrier``: alias set of words that carry a topic term without being evidence
    themselves (the agenda verbs: "discussed", "signed"). ``fallback``: the slug that
    labels a Mali–China item no topic claims, so it is never dropped for want of a
    topic word.
    """

    incidental: str | None = None
    weak: Mapping[str, str] = field(default_factory=dict)
    carrier: str | None = None
    fallback: str | None = None

    def to_mapping(self) -> dict[str, Any]:
        return {
            "incidental": self.incidental,
            "weak": dict(self.weak),
            "carrier": self.carrier,
            "fallback": self.fallback,
        }


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Alias sets (name → query terms as written) and the optional relationship gate.

    Build with ``Lexicon.from_mapping``; every term has been parsed by then, so
    ``expansion(name)`` never fails for a name in ``aliases``.
    """

    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    relationship: Relationship | None = None
    weighing: Weighing = field(default_factory=Weighing)
    entities: tuple[Entity, ...] = ()
    _expansions: Mapping[str, tuple[Leaf, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        aliases = MappingProxyType({k: tuple(v) for k, v in self.aliases.items()})
        object.__setattr__(self, "aliases", aliases)
        if not self._expansions:
            merged = _with_entities(aliases, self.entities)
            expansions = {name: _parse_set(name, terms) for name, terms in merged.items()}
            object.__setattr__(self, "_expansions", MappingProxyType(expansions))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.aliases)

    @property
    def phrase_names(self) -> frozenset[str]:
        """Sets of single words/prefixes, usable as a slot inside a phrase."""
        return frozenset(
            name
            for name, leaves in self._expansions.items()
            if all(isinstance(leaf, Term) for leaf in leaves)
        )

    def expansion(self, name: str) -> tuple[Leaf, ...]:
        """The parsed terms of alias set ``name`` (KeyError if unknown)."""
        return self._expansions[name]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Lexicon:
        """Validate and build from ``{"aliases": {...}, "relationship": {...}}``.

        Extra top-level keys (``version``, ``topics``) are ignored. Raises ``LexiconError``.
        """
        if not isinstance(data, Mapping):
            raise LexiconError("lexicon: expected a mapping")
        raw_aliases = data.get("aliases") or {}
        if not isinstance(raw_aliases, Mapping):
            raise LexiconError("aliases: expected a mapping of name → list of terms")
        aliases: dict[str, tuple[str, ...]] = {}
        for name, terms in raw_aliases.items():
            aliases[_check_name(name, "aliases")] = _check_terms(terms, f"aliases.{name}")
        entities = _entities(data.get("entities"), aliases)
        lexicon = cls(aliases=aliases, entities=entities)
        weighing = _weighing(data.get("weighing"), lexicon)
        raw_relationship = data.get("relationship")
        relationship = None
        if raw_relationship is not None:
            relationship = _relationship(raw_relationship, lexicon)
        return cls(
            aliases=aliases,
            relationship=relationship,
            weighing=weighing,
            entities=entities,
            _expansions=lexicon._expansions,
        )

    def to_mapping(self) -> dict[str, Any]:
        """Plain JSON-able form; ``from_mapping(to_mapping())`` gives an equal lexicon."""
        result: dict[str, Any] = {"aliases": {k: list(v) for k, v in self.aliases.items()}}
        rel = self.relationship
        if rel is not None:
            relationship: dict[str, Any] = {"mali": rel.mali, "china": rel.china}
            relationship["joint"] = rel.joint
            relationship["neutral"] = rel.neutral
            relationship["roundup"] = rel.roundup
            relationship["lede_break"] = rel.lede_break
            relationship["scene"] = rel.scene
            relationship["listing"] = rel.listing
            relationship["agent"] = rel.agent
            relationship["exclude"] = rel.exclude
            relationship["countries"] = {k: list(v) for k, v in rel.countries.items()}
            for key in THRESHOLD_KEYS:
                relationship[key] = getattr(rel, key)
            result["relationship"] = relationship
        if self.weighing != Weighing():
            result["weighing"] = self.weighing.to_mapping()
        if self.entities:
            result["entities"] = [entity.to_mapping() for entity in self.entities]
        return result


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise LexiconError(f"{where}: bad name {name!r} (lower-case letters, digits, _)")
    return name


def _check_terms(terms: object, where: str) -> tuple[str, ...]:
    if isinstance(terms, str) or not isinstance(terms, list | tuple) or not terms:
        raise LexiconError(f"{where}: expected a non-empty list of terms")
    result: list[str] = []
    for index, term in enumerate(terms):
        if not isinstance(term, str) or not term.strip():
            raise LexiconError(f"{where}[{index}]: expected a term, got {term!r}")
        try:
            parse_term(term)
        except RuleSyntaxError as exc:
            raise LexiconError(f"{where}[{index}] {term!r}: {exc}") from None
        result.append(term.strip())
    return tuple(result)


def _parse_set(name: str, terms: tuple[str, ...]) -> tuple[Leaf, ...]:
    leaves: list[Leaf] = []
    for index, term in enumerate(terms):
        try:
            leaves.append(parse_term(term))
        except RuleSyntaxError as exc:
            raise LexiconError(f"aliases.{name}[{index}] {term!r}: {exc}") from None
    return tuple(leaves)


def is_gate_term(leaf: Leaf) -> bool:
    """Gate terms are found in one automaton pass: a word, a prefix, or an exact phrase
    whose only prefix is its last word."""
    if isinstance(leaf, Term):
        return True
    terms = [term for term in leaf.terms if isinstance(term, Term)]
    return (
        leaf.slop is None
        and len(terms) == len(leaf.terms)
        and not any(term.prefix for term in terms[:-1])
    )


def _gate_terms(terms: tuple[str, ...], where: str) -> None:
    for index, term in enumerate(terms):
        if not is_gate_term(parse_term(term)):
            raise LexiconError(
                f"{where}[{index}] {term!r}: gate terms are words, prefixes or exact "
                "phrases ('*' only at the end, no '~')"
            )


def _entities(raw: object, aliases: Mapping[str, tuple[str, ...]]) -> tuple[Entity, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise LexiconError("entities: expected a list of {name, side, sector, reason}")
    result: list[Entity] = []
    for index, row in enumerate(raw):
        where = f"entities[{index}]"
        if not isinstance(row, Mapping):
            raise LexiconError(f"{where}: expected a mapping")
        unknown = set(row) - {"name", "side", "sector", "reason"}
        if unknown:
            raise LexiconError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        name = _check_terms([row.get("name")], f"{where}.name")[0]
        _gate_terms((name,), f"{where}.name")
        side = row.get("side")
        if not isinstance(side, str) or side not in aliases:
            raise LexiconError(f"{where}.side: {side!r} is not an alias set")
        sector = row.get("sector")
        if sector is not None and f"{sector}_strong" not in aliases:
            raise LexiconError(f"{where}.sector: no alias set {sector}_strong for {sector!r}")
        reason = row.get("reason") or ""
        if not isinstance(reason, str):
            raise LexiconError(f"{where}.reason: expected text")
        result.append(Entity(name, side, sector, reason.strip()))
    return tuple(result)


def _with_entities(
    aliases: Mapping[str, tuple[str, ...]], entities: tuple[Entity, ...]
) -> dict[str, tuple[str, ...]]:
    """The alias sets with each entity added to its side's set and its sector's."""
    merged = {name: list(terms) for name, terms in aliases.items()}
    for entity in entities:
        for name in (entity.side, f"{entity.sector}_strong" if entity.sector else None):
            if name and name in merged and entity.name not in merged[name]:
                merged[name].append(entity.name)
    return {name: tuple(terms) for name, terms in merged.items()}


def _weighing(raw: object, lexicon: Lexicon) -> Weighing:
    if raw is None:
        return Weighing()
    if not isinstance(raw, Mapping):
        raise LexiconError("weighing: expected a mapping")
    known = ("incidental", "weak", "carrier", "fallback")
    for key in raw:
        if key not in known:
            raise LexiconError(f"weighing.{key}: unknown key (known: {', '.join(known)})")

    def alias_set(value: object, where: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value not in lexicon.aliases:
            raise LexiconError(f"{where}: {value!r} is not an alias set")
        return value

    weak_raw = raw.get("weak") or {}
    if not isinstance(weak_raw, Mapping):
        raise LexiconError("weighing.weak: expected a mapping of topic slug → alias set")
    weak: dict[str, str] = {}
    for slug, name in weak_raw.items():
        where = f"weighing.weak.{slug}"
        if not isinstance(slug, str) or not slug:
            raise LexiconError(f"{where}: expected a topic slug")
        weak[slug] = alias_set(name, where) or ""
    incidental = alias_set(raw.get("incidental"), "weighing.incidental")
    if incidental is not None:
        _gate_terms(lexicon.aliases[incidental], f"aliases.{incidental}")
    fallback = raw.get("fallback")
    if fallback is not None and (not isinstance(fallback, str) or not fallback):
        raise LexiconError("weighing.fallback: expected a topic slug")
    return Weighing(
        incidental=incidental,
        weak=MappingProxyType(weak),
        carrier=alias_set(raw.get("carrier"), "weighing.carrier"),
        fallback=fallback,
    )


def _relationship(raw: object, lexicon: Lexicon) -> Relationship:
    if not isinstance(raw, Mapping):
        raise LexiconError("relationship: expected a mapping")
    for key in raw:
        if key not in _RELATIONSHIP_KEYS:
            known = ", ".join(_RELATIONSHIP_KEYS)
            raise LexiconError(f"relationship.{key}: unknown key (known: {known})")
    sides: dict[str, str | None] = {}
    for key in _SIDE_KEYS:
        value = raw.get(key, key if key in ("mali", "china") else None)
        if value is None:
            sides[key] = None
            continue
        if not isinstance(value, str) or value not in lexicon.aliases:
            raise LexiconError(f"relationship.{key}: {value!r} is not an alias set")
        _gate_terms(lexicon.aliases[value], f"aliases.{value}")
        sides[key] = value
    exclude = raw.get("exclude") or ""
    if not isinstance(exclude, str):
        raise LexiconError("relationship.exclude: expected a query string")
    if exclude.strip():
        try:
            parse(exclude, lexicon.names, lexicon.phrase_names)
        except RuleSyntaxError as exc:
            raise LexiconError(f"relationship.exclude: {exc}") from None
    countries_raw = raw.get("countries") or {}
    if not isinstance(countries_raw, Mapping):
        raise LexiconError("relationship.countries: expected a mapping of country → terms")
    countries: dict[str, tuple[str, ...]] = {}
    for name, terms in countries_raw.items():
        where = f"relationship.countries.{name}"
        countries[_check_name(name, "relationship.countries")] = _check_terms(terms, where)
        _gate_terms(countries[name], where)
    numbers: dict[str, Any] = {}
    for threshold in THRESHOLDS:
        value = raw.get(threshold.key, threshold.value)
        ok_type = isinstance(value, int) if threshold.integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            kind = "an integer" if threshold.integer else "a number"
            raise LexiconError(f"relationship.{threshold.key}: expected {kind}, got {value!r}")
        if not threshold.low <= value <= threshold.high:
            raise LexiconError(
                f"relationship.{threshold.key}: {value} is outside "
                f"[{threshold.low:g}, {threshold.high:g}]"
            )
        numbers[threshold.key] = int(value) if threshold.integer else float(value)
    return Relationship(
        mali=sides["mali"] or "mali",
        china=sides["china"] or "china",
        joint=sides["joint"],
        neutral=sides["neutral"],
        roundup=sides["roundup"],
        lede_break=sides["lede_break"],
        scene=sides["scene"],
        listing=sides["listing"],
        agent=sides["agent"],
        exclude=exclude.strip(),
        countries=MappingProxyType(countries),
        **numbers,
    )
