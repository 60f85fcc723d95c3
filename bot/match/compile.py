"""Compile all topics' rules (and the relationship gate) into one multi-pattern matcher.

Every word, prefix and phrase of every enabled rule, of the alias sets they use and of
the gate becomes one key of ONE Aho-Corasick automaton (``nodes.py`` explains the keys).
An item is normalised once (``text.analyse_field``), scanned once per field, and every
rule is then decided from the hits: adding terms to rules adds keys, not passes.

Guarantees:

- ``Matcher.match`` returns the topics whose rule is true AND whose relationship gate
  passes (when the lexicon configures one), in rule order, each with the item's matched
  words (topic words first, then the Mali/China words of the link; deduplicated, in text
  order, spelled as in the item) and the evidence sentence (≤ 300 characters).
- The result equals ``reference.evaluate`` on every rule (property-tested).
- ``compile_rules`` and ``validate_rule`` raise ``RuleSyntaxError`` for a rule that does
  not parse or names an unknown alias set; nothing fails at match time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from itertools import accumulate

import ahocorasick  # type: ignore[import-not-found]  # C extension without stubs

from bot.errors import RuleSyntaxError
from bot.match import forms, syntax
from bot.match.explain import Explanation, RelationshipExplanation, TopicExplanation
from bot.match.gate import (
    AGENT,
    CHINA,
    COUNTRY,
    JOINT,
    LEDE_BREAK,
    LISTING,
    MALI,
    NEUTRAL,
    ROUNDUP,
    SCENE,
    Gate,
    GateVerdict,
)
from bot.match.lexicon import Lexicon
from bot.match.nodes import (
    AndNode,
    AnyOf,
    Const,
    Hits,
    LangIs,
    Near,
    Node,
    NotNode,
    Occurrence,
    OrNode,
    Scan,
    Seq,
)
from bot.match.syntax import Leaf, Phrase, Term
from bot.match.text import (
    FIELD_NAMES,
    SUMMARY,
    TITLE,
    FieldText,
    analyse_field,
    prepare,
    strip_html,
    tokenize,
    without_dateline,
    words,
)
from bot.types import Match, MatchInput, TopicRule


class Patterns:
    """The automaton's keys: one pattern id per distinct normalised word/prefix/phrase."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.lengths: list[int] = []

    def pid(self, terms: tuple[Term, ...]) -> int:
        """The id of a run of words (prefix allowed on the last one only)."""
        key = " " + " ".join(t.text for t in terms) + ("" if terms[-1].prefix else " ")
        pid = self.ids.get(key)
        if pid is None:
            pid = self.ids[key] = len(self.lengths)
            self.lengths.append(len(terms))
        return pid

    def automaton(self, only: Collection[int] | None = None) -> ahocorasick.Automaton | None:
        """Every pattern (or those of ``only``) in one Aho–Corasick automaton."""
        keys = [(k, p) for k, p in self.ids.items() if only is None or p in only]
        if not keys:
            return None
        automaton = ahocorasick.Automaton()
        for key, pid in keys:
            automaton.add_word(key, (pid, len(key)))
        automaton.make_automaton()
        return automaton


class _Compiler:
    def __init__(self, lexicon: Lexicon, patterns: Patterns) -> None:
        self.lexicon = lexicon
        self.patterns = patterns

    def label(self, node: syntax.Node, scope: int | None) -> str:
        text = syntax.render(node)
        if scope is None:
            return text
        return f"{FIELD_NAMES[scope]}:{text if isinstance(node, Term | Phrase) else f'({text})'}"

    def slot(self, term: Term | syntax.Alias) -> frozenset[int]:
        """The pattern ids that may fill one word of a phrase."""
        if isinstance(term, Term):
            return frozenset({self.patterns.pid((term,))})
        members = self.lexicon.expansion(term.name)
        if not all(isinstance(member, Term) for member in members):  # parse() refuses this
            raise RuleSyntaxError(f"alias set @{term.name} holds phrases", 1)
        return frozenset(self.patterns.pid((m,)) for m in members if isinstance(m, Term))

    def leaf(self, leaf: Leaf, scope: int | None, label: str) -> Node:
        lengths = self.patterns.lengths
        if isinstance(leaf, Term):
            return AnyOf(label, frozenset({self.patterns.pid((leaf,))}), scope, lengths)
        if leaf.slop is not None:
            return Near(label, tuple(self.slot(term) for term in leaf.terms), leaf.slop, scope)
        terms = [term for term in leaf.terms if isinstance(term, Term)]
        if len(terms) < len(leaf.terms) or any(term.prefix for term in terms[:-1]):
            return Seq(label, tuple(self.slot(term) for term in leaf.terms), scope)
        return AnyOf(label, frozenset({self.patterns.pid(tuple(terms))}), scope, lengths)

    def build(self, node: syntax.Node, scope: int | None = None) -> Node:
        label = self.label(node, scope)
        if isinstance(node, Term | Phrase):
            return self.leaf(node, scope, label)
        if isinstance(node, syntax.Alias):
            members = [self.leaf(x, scope, label) for x in self.lexicon.expansion(node.name)]
            return _any(label, members)
        if isinstance(node, syntax.Lang):
            return LangIs(label, node.code)
        if isinstance(node, syntax.Field):
            return self.build(node.child, FIELD_NAMES.index(node.name))
        if isinstance(node, syntax.Not):
            return NotNode(label, self.build(node.child, scope))
        children = tuple(self.build(child, scope) for child in node.children)
        if isinstance(node, syntax.And):
            return AndNode(label, children)
        return _any(label, list(children))


def _any(label: str, children: list[Node]) -> Node:
    """OR, with single-key alternatives of one scope merged into one set test."""
    merged: dict[int | None, AnyOf] = {}
    rest: list[Node] = []
    for child in children:
        if isinstance(child, AnyOf):
            seen = merged.get(child.scope)
            if seen is None:
                merged[child.scope] = AnyOf(label, child.pids, child.scope, child.lengths)
            else:
                seen.pids = seen.pids | child.pids
        else:
            rest.append(child)
    nodes: list[Node] = [*merged.values(), *rest]
    if not nodes:
        return Const(label, False)
    return nodes[0] if len(nodes) == 1 else OrNode(label, tuple(nodes))


@dataclass(frozen=True, slots=True)
class _Topic:
    slug: str
    name: str
    node: Node


def _parse_rule(query: str, lexicon: Lexicon) -> syntax.Node:
    return syntax.parse(query, lexicon.names, lexicon.phrase_names)


def validate_rule(query: str, lexicon: Lexicon | None = None) -> None:
    """Raise ``RuleSyntaxError`` (with its column) unless ``query`` compiles and asks for
    something (a rule that only excludes is refused)."""
    lexicon = lexicon or Lexicon()
    node = _parse_rule(query, lexicon)
    syntax.check_finds_something(node, query)
    _Compiler(lexicon, Patterns()).build(node)


def compile_rules(rules: Sequence[TopicRule], lexicon: Lexicon | None = None) -> Matcher:
    """One matcher for all ``rules`` (in order) and the lexicon's gate.

    Raises ``RuleSyntaxError`` naming the topic when a rule does not compile.
    """
    lexicon = lexicon or Lexicon()
    patterns = Patterns()
    compiler = _Compiler(lexicon, patterns)
    topics: list[_Topic] = []
    for rule in rules:
        try:
            node = compiler.build(_parse_rule(rule.query, lexicon))
        except RuleSyntaxError as exc:
            raise RuleSyntaxError(
                f"topic {rule.slug!r}: {exc.message}", exc.column, exc.query
            ) from None
        topics.append(_Topic(rule.slug, rule.name or rule.slug, node))
    gate = _compile_gate(lexicon, compiler, patterns)
    weighing = _compile_weighing(lexicon, patterns)
    return Matcher(tuple(topics), patterns, gate, weighing)


def _node_pids(node: Node) -> set[int]:
    """Every pattern id a compiled rule tests."""
    if isinstance(node, AnyOf):
        return set(node.pids)
    if isinstance(node, Near | Seq):
        return {pid for slot in node.slots for pid in slot}
    if isinstance(node, NotNode):
        return _node_pids(node.child)
    if isinstance(node, AndNode | OrNode):
        return {pid for child in node.children for pid in _node_pids(child)}
    return set()


def _word_forms(patterns: Patterns, exact: set[int]) -> dict[tuple[str, str], tuple[int, ...]]:
    """(language, stem) → the single-word patterns of that stem (see ``forms.py``):
    words, not prefixes, and none of the gate's (``exact``)."""
    table: dict[tuple[str, str], list[int]] = {}
    for key, pid in patterns.ids.items():
        word = key.strip()
        if pid in exact or not key.endswith(" ") or " " in word:
            continue
        for code in forms.LANGUAGES:
            root = forms.stem(word, code)
            if root is not None:
                table.setdefault((code, root), []).append(pid)
    return {k: tuple(v) for k, v in table.items()}


def _set_pids(lexicon: Lexicon, patterns: Patterns, name: str | None) -> frozenset[int]:
    """Pattern ids of an alias set's words and exact phrases (its other forms, such as
    proximity phrases, are not single patterns and are left out)."""
    if not name:
        return frozenset()
    pids: set[int] = set()
    for leaf in lexicon.expansion(name):
        terms = (leaf,) if isinstance(leaf, Term) else leaf.terms
        words = tuple(term for term in terms if isinstance(term, Term))
        if len(words) == len(terms) and not any(t.prefix for t in words[:-1]):
            pids.add(patterns.pid(words))
    return frozenset(pids)


def _compile_weighing(lexicon: Lexicon, patterns: Patterns) -> _Weighing:
    weighing = lexicon.weighing
    return _Weighing(
        incidental=_set_pids(lexicon, patterns, weighing.incidental),
        weak={slug: _set_pids(lexicon, patterns, name) for slug, name in weighing.weak.items()},
        carrier=_set_pids(lexicon, patterns, weighing.carrier),
        fallback=weighing.fallback,
    )


@dataclass(frozen=True, slots=True)
class _Weighing:
    incidental: frozenset[int] = frozenset()
    weak: dict[str, frozenset[int]] = dataclass_field(default_factory=dict)
    carrier: frozenset[int] = frozenset()
    fallback: str | None = None


def _compile_gate(lexicon: Lexicon, compiler: _Compiler, patterns: Patterns) -> Gate | None:
    rel = lexicon.relationship
    if rel is None:
        return None
    roles: dict[int, set[str]] = {}

    def add(leaf: Leaf, role: str) -> None:
        terms = (leaf,) if isinstance(leaf, Term) else leaf.terms
        words = tuple(term for term in terms if isinstance(term, Term))
        roles.setdefault(patterns.pid(words), set()).add(role)

    sets = rel.sets()
    for role in (MALI, CHINA, JOINT, NEUTRAL, ROUNDUP, LEDE_BREAK, SCENE, LISTING, AGENT):
        if role in sets:
            for leaf in lexicon.expansion(sets[role]):
                add(leaf, role)
    for country, terms in rel.countries.items():
        for term in terms:
            add(syntax.parse_term(term), COUNTRY + country)
    exclude = compiler.build(_parse_rule(rel.exclude, lexicon)) if rel.exclude else None
    frozen = {pid: tuple(sorted(r)) for pid, r in roles.items()}
    return Gate(rel, frozen, patterns.lengths, exclude)


class Matcher:
    """All enabled topics compiled together. Immutable after construction but for one
    cache of values that depend on the rules alone; thread-safe for matching
    (pyahocorasick iteration does not mutate the automaton)."""

    def __init__(
        self,
        topics: tuple[_Topic, ...],
        patterns: Patterns,
        gate: Gate | None,
        weighing: _Weighing | None = None,
    ):
        self._topics = topics
        self._lengths = patterns.lengths
        self._automaton = patterns.automaton()
        # The pre-check needs only the words that name a side: most items name neither,
        # and iterating every topic word they contain was half its cost.
        self._side_automaton = (
            patterns.automaton(gate.side_pids()) if gate is not None else self._automaton
        )
        self._gate = gate
        self._weighing = weighing or _Weighing()
        slugs = {topic.slug for topic in topics}
        # The fallback labels what no topic claims; it is decided last, never by its rule
        # alone, and only where a gate judged the item to be about the relationship.
        self._fallback = self._weighing.fallback if self._weighing.fallback in slugs else None
        self._fallback_node = next((t.node for t in topics if t.slug == self._fallback), None)
        self._words = {pid: key.strip() for key, pid in patterns.ids.items()}
        # Inflected forms never stand for the gate's words (the lexicon decides what names
        # Mali and China), the carrier words (verbs listed with their forms: "signé",
        # "signés"; "accord" must not find "according") nor the fallback's.
        exact = set(gate.roles) if gate is not None else set()
        exact |= self._weighing.carrier
        if self._fallback_node is not None:
            exact |= _node_pids(self._fallback_node)
        self._forms = _word_forms(patterns, exact)
        self._topic_pids = {t.slug: frozenset(_node_pids(t.node)) for t in topics}
        self._empty: dict[tuple[str, str], bool] = {}  # (topic, language): rule on no words

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(topic.slug for topic in self._topics)

    @property
    def fallback(self) -> str | None:
        """The slug that labels a Mali–China item no topic claims (None: none)."""
        return self._fallback

    @property
    def has_gate(self) -> bool:
        return self._gate is not None

    def scan(self, doc: MatchInput) -> Scan:
        """Normalise both fields and collect every pattern hit (one pass per field)."""
        text = without_dateline(doc.text)
        fields = (analyse_field(doc.title, TITLE), analyse_field(text, SUMMARY))
        hits = (self._hits(fields[0], doc.language), self._hits(fields[1], doc.language))
        return Scan(fields, doc.language, hits)

    def _hits(self, field: FieldText, language: str) -> dict[int, list[int]]:
        hits: dict[int, list[int]] = {}
        if self._automaton is None or not field.words:
            return hits
        line = " " + " ".join(field.words) + " "
        # Character offset of each word's leading space → its position, by bisection
        # (counting spaces before each hit made long summaries quadratic).
        offsets = list(accumulate((len(w) + 1 for w in field.words[:-1]), initial=0))
        lengths = self._lengths
        single = len(field.starts) <= 1
        for end, (pid, size) in self._automaton.iter(line):
            position = bisect_right(offsets, end - size + 1) - 1
            span = lengths[pid]
            if span > 1 and not single and not field.same_sentence(position, position + span - 1):
                continue  # a phrase never spans two sentences
            positions = hits.get(pid)
            if positions is None:
                hits[pid] = [position]
            else:
                positions.append(position)
        if self._forms:
            self._add_forms(field, language, hits)
        return hits

    def _add_forms(self, field: FieldText, language: str, hits: dict[int, list[int]]) -> None:
        """Hits of a rule's word by an inflected form of it ("ressortissants")."""
        extra: dict[int, set[int]] = {}
        codes = forms.languages_of(language)
        for position, word in enumerate(field.words):
            if len(word) <= forms.MIN_FORM:
                continue
            for code in codes:
                root = forms.stem(word, code)
                for pid in self._forms.get((code, root), ()) if root is not None else ():
                    if forms.same_form(self._words[pid], word, language):
                        extra.setdefault(pid, set()).add(position)
        for pid, positions in extra.items():
            hits[pid] = sorted(positions.union(hits.get(pid, ())))

    def _item_pids(self, doc: MatchInput) -> set[int]:
        """Every pattern anywhere in the item, without sentences or positions: one fold
        and one automaton pass. Most items of a news feed name neither Mali nor China,
        and this rejects them at about half the cost of a full scan."""
        if self._side_automaton is None:
            return set()
        # strip_html, not prepare: fold applies NFKC itself and spacing changes no word.
        title = words(strip_html(doc.title))
        text = words(strip_html(without_dateline(doc.text)))
        line = f" {' '.join(title)} {' '.join(text)} "
        return {pid for _, (pid, _) in self._side_automaton.iter(line)}

    def relationship(self, doc: MatchInput | Scan) -> GateVerdict | None:
        """The gate's verdict (None when the lexicon configures no gate)."""
        if self._gate is None:
            return None
        scan = doc if isinstance(doc, Scan) else self.scan(doc)
        return self._gate.judge(scan)

    def match(self, doc: MatchInput) -> tuple[Match, ...]:
        """The topics ``doc`` belongs to, in rule order (see the module's guarantees)."""
        decided = self._decide(doc)
        if decided is None:
            return ()
        scan, verdict, topic_scan, kept, fallback = decided
        spelling = _Spelling(scan)
        evidence = verdict.evidence if verdict is not None else ""
        matches = [
            Match(topic.slug, self._terms(topic_scan, topic.node, verdict, spelling), evidence)
            for topic in kept
        ]
        if fallback:
            assert self._fallback is not None and verdict is not None
            link = spelling.terms(sorted(set(verdict.link)))
            matches.append(Match(self._fallback, link, evidence))
        return tuple(matches)

    def matches(self, doc: MatchInput) -> bool:
        """``bool(match(doc))`` without spelling out the matched terms, a third of the
        cost: what a backtest or a search asks of each of thousands of candidates."""
        decided = self._decide(doc)
        return decided is not None and (bool(decided[3]) or decided[4])

    def _decide(
        self, doc: MatchInput
    ) -> tuple[Scan, GateVerdict | None, Scan, list[_Topic], bool] | None:
        """(scan, the gate's verdict, the topics' scan, the topics kept, whether the
        fallback claims it), or None when the gate turns ``doc`` away."""
        if self._gate is not None and not self._gate.sides_possible(self._item_pids(doc)):
            return None
        scan = self.scan(doc)
        verdict: GateVerdict | None = None
        if self._gate is not None:
            if not self._gate.may_pass(scan):
                return None
            verdict = self._gate.judge(scan)
            if not verdict.passed:
                return None
        topic_scan = self._topic_scan(scan)
        kept, _ = self._weigh(topic_scan)
        fallback = (
            not kept and verdict is not None and self._claims_fallback(topic_scan, verdict)
        )
        return scan, verdict, topic_scan, kept, fallback

    def _claims_fallback(self, scan: Scan, verdict: GateVerdict) -> bool:
        """The fallback's own rule (its words of cooperation) holds in the title or in
        the summary sentence where Mali and China meet: a Mali–China item no topic claims
        is labelled with it; without such words near the link it is no story for us (a
        roundup, a festival, a restaurant)."""
        if self._fallback_node is None:
            return False
        summary = scan.fields[SUMMARY]
        linked = {summary.sentence_index(p) for f, p, _ in verdict.link if f == SUMMARY}
        allowed = {
            p for p in range(len(summary.words)) if summary.sentence_index(p) in linked
        }
        return self._fallback_node.test(_within(scan, {SUMMARY: allowed}))

    def _topic_scan(self, scan: Scan) -> Scan:
        """``scan`` without the topic words that lie inside a longer incidental phrase
        ("the army said", "la Ceinture et la Route"); the gate still sees every word."""
        incidental = self._weighing.incidental
        if not incidental:
            return scan
        lengths = self._lengths
        fields: list[Hits] = []
        for hits in scan.hits:
            spans = [
                (p, p + lengths[pid] - 1, lengths[pid])
                for pid in incidental.intersection(hits)
                for p in hits[pid]
            ]
            if not spans:
                fields.append(hits)
                continue
            masked: Hits = {}
            for pid, positions in hits.items():
                n = lengths[pid]
                kept = [
                    p
                    for p in positions
                    if not any(n < k and low <= p and p + n <= high + 1 for low, high, k in spans)
                ]
                if kept:
                    masked[pid] = kept
            fields.append(masked)
        return Scan(scan.fields, scan.language, (fields[0], fields[1]))

    def _weigh(self, scan: Scan) -> tuple[list[_Topic], dict[str, str]]:
        """The topics whose rule is true, less those outweighed: a topic whose rule holds
        only through its weak terms (false once they are taken away) yields to any topic
        whose rule holds without them. Returns the kept topics (rule order) and, for each
        outweighed one, why."""
        true = [t for t in self._topics if t.slug != self._fallback and self._holds(t, scan)]
        weak = self._weighing.weak
        if len(true) < 2 or not weak:
            return true, {}
        only_weak: dict[str, str] = {}
        for topic in true:
            pids = weak.get(topic.slug)
            if pids and not topic.node.test(self._without(scan, pids)):
                found: list[Occurrence] = []
                topic.node.collect(scan, found)
                soft = self._occurrences(scan, pids)
                terms = _Spelling(scan).terms(sorted(o for o in set(found) if o in soft))
                only_weak[topic.slug] = ", ".join(terms[:4])
        strong = [t.slug for t in true if t.slug not in only_weak]
        if not strong:
            return true, {}
        reasons = {
            slug: f"outweighed by {', '.join(strong)}: holds only through weak terms ({terms})"
            for slug, terms in only_weak.items()
        }
        return [t for t in true if t.slug not in only_weak], reasons

    def _holds(self, topic: _Topic, scan: Scan) -> bool:
        """``topic.node.test(scan)``, without walking the rule where the item has none of
        its words: a rule reads only its own words' hits (and the language), so it then
        says what it says of an empty item in that language, computed once."""
        pids = self._topic_pids[topic.slug]
        if not (pids.isdisjoint(scan.hits[0]) and pids.isdisjoint(scan.hits[1])):
            return topic.node.test(scan)
        key = (topic.slug, scan.language)
        empty = self._empty.get(key)
        if empty is None:
            empty = self._empty[key] = topic.node.test(Scan(scan.fields, scan.language, ({}, {})))
        return empty

    def _without(self, scan: Scan, pids: frozenset[int]) -> Scan:
        """``scan`` without the words that ``pids`` found: every pattern of the same
        length at the same place goes too (``building*`` where ``building`` is weak)."""
        weak = self._occurrences(scan, pids)
        lengths = self._lengths
        fields = tuple(
            {
                pid: kept
                for pid, positions in hits.items()
                if (kept := [p for p in positions if (field, p, lengths[pid]) not in weak])
            }
            for field, hits in enumerate(scan.hits)
        )
        return Scan(scan.fields, scan.language, (fields[0], fields[1]))

    def _occurrences(self, scan: Scan, pids: frozenset[int]) -> set[Occurrence]:
        lengths = self._lengths
        return {
            (field, p, lengths[pid])
            for field, hits in enumerate(scan.hits)
            for pid in pids.intersection(hits)
            for p in hits[pid]
        }

    def _terms(
        self, scan: Scan, node: Node, verdict: GateVerdict | None, spelling: _Spelling
    ) -> tuple[str, ...]:
        found: list[Occurrence] = []
        node.collect(scan, found)
        ordered = sorted(set(found)) + sorted(set(verdict.link if verdict else ()))
        return spelling.terms(ordered)

    def explain(self, doc: MatchInput) -> Explanation:
        """Every topic, matched or not, with terms, failing parts and the gate's verdict."""
        scan = self.scan(doc)
        spelling = _Spelling(scan)
        verdict = self._gate.judge(scan) if self._gate is not None else None
        if verdict is None:
            relationship = RelationshipExplanation(False, True, "no relationship gate")
        else:
            relationship = RelationshipExplanation(
                True,
                verdict.passed,
                verdict.reason,
                verdict.evidence,
                spelling.terms(sorted(set(verdict.link))),
            )
        gate_ok = verdict is None or verdict.passed
        topic_scan = self._topic_scan(scan)
        kept, outweighed = self._weigh(topic_scan)
        kept_slugs = {t.slug for t in kept}
        topics: list[TopicExplanation] = []
        for topic in self._topics:
            if topic.slug == self._fallback:
                topics.append(
                    self._explain_fallback(topic, topic_scan, verdict, bool(kept), relationship)
                )
                continue
            rule_ok = topic.node.test(topic_scan)
            terms: tuple[str, ...] = ()
            failed: tuple[str, ...] = ()
            if rule_ok:
                terms = self._terms(topic_scan, topic.node, verdict if gate_ok else None, spelling)
                if not gate_ok:
                    failed = (f"relationship: {relationship.reason}",)
                elif topic.slug in outweighed:
                    failed = (outweighed[topic.slug],)
            else:
                failed = tuple(topic.node.failures(topic_scan))
            matched = rule_ok and gate_ok and topic.slug in kept_slugs
            topics.append(TopicExplanation(topic.slug, topic.name, matched, rule_ok, terms, failed))
        return Explanation(doc.language, relationship, tuple(topics))

    def _explain_fallback(
        self,
        topic: _Topic,
        scan: Scan,
        verdict: GateVerdict | None,
        claimed_elsewhere: bool,
        relationship: RelationshipExplanation,
    ) -> TopicExplanation:
        if verdict is None or not verdict.passed:
            why = f"relationship: {relationship.reason}"
            return TopicExplanation(topic.slug, topic.name, False, False, (), (why,))
        if claimed_elsewhere:
            why = "a topic claims the item"
            return TopicExplanation(topic.slug, topic.name, False, False, (), (why,))
        if not self._claims_fallback(scan, verdict):
            failed = tuple(topic.node.failures(scan))
            return TopicExplanation(topic.slug, topic.name, False, False, (), failed)
        terms = relationship.terms
        return TopicExplanation(topic.slug, topic.name, True, True, terms, ())


def _within(scan: Scan, keep: dict[int, set[int]]) -> Scan:
    """``scan`` with only the hits at positions ``keep[field]`` (all of a field absent
    from ``keep``)."""
    fields: list[Hits] = []
    for field, hits in enumerate(scan.hits):
        if field not in keep:
            fields.append(hits)
            continue
        allowed = keep[field]
        fields.append(
            {pid: kept for pid, ps in hits.items() if (kept := [p for p in ps if p in allowed])}
        )
    return Scan(scan.fields, scan.language, (fields[0], fields[1]))


class _Spelling:
    """Matched words as the item spells them (``Sécurité`` for ``securite``), computed
    only for items that matched, by the slow tokenizer on the sentences concerned."""

    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self._sentences: dict[tuple[int, int], tuple[str, list[tuple[int, int]]] | None] = {}

    def _spans(self, field: int, index: int) -> tuple[str, list[tuple[int, int]]] | None:
        key = (field, index)
        if key not in self._sentences:
            text = self.scan.fields[field]
            sentence = text.sentences[index]
            tokens = tokenize(sentence.text, field)
            words = text.words[sentence.first : sentence.stop]
            aligned = len(tokens) == len(words) and all(
                t.text == w for t, w in zip(tokens, words, strict=True)
            )
            spans = [(t.start, t.end) for t in tokens]
            self._sentences[key] = (prepare(sentence.text), spans) if aligned else None
        return self._sentences[key]

    def terms(self, occurrences: Sequence[Occurrence]) -> tuple[str, ...]:
        """Distinct spellings in the given order; a word inside a longer matched phrase
        ("sécuritaire" in "coopération sécuritaire") is not repeated."""
        seen: set[str] = set()
        result: list[str] = []
        covered = {
            (field, p)
            for field, start, size in occurrences
            if size > 1
            for p in range(start, start + size)
        }
        for field, position, size in occurrences:
            if size == 1 and (field, position) in covered:
                continue
            text = self.scan.fields[field]
            key = " ".join(text.words[position : position + size])
            if key in seen:
                continue
            seen.add(key)
            index = text.sentence_index(position)
            found = self._spans(field, index)
            last = position + size - 1
            if found is None or not text.same_sentence(position, last):
                result.append(key)
                continue
            display, spans = found
            first = text.sentences[index].first
            result.append(display[spans[position - first][0] : spans[last - first][1]])
        return tuple(result)
