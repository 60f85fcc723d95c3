"""The relationship gate: is this item about Mali AND China, *related*?

Every topic (seeded or added by an admin) requires it; it is configured in the lexicon
(``relationship:`` in ``seeds/topics.yaml``), its numbers in ``lexicon.THRESHOLDS``.

Decision, in this order (the first failing step is the reason shown by ``rules test``):

1. **Sides present.** A Mali-side and a China-side term (alias sets ``mali``/``china``),
   or a joint term (``sino-malien``, ``Chine-Mali``…) which counts as both.
   *Masking*: a gate hit inside a longer gate hit of another role is dropped, so
   ``Journal du Mali`` or ``encre de Chine`` (neutral set), ``Office du Niger`` (Mali side)
   or ``Guinée-Bissau`` (one country) hide the shorter names they contain.
2. **A link.** In one sentence (the title is one or more sentences; ``|`` cuts off a
   site name): a joint term, or a Mali-side and a China-side mention at most ``window``
   words apart. Otherwise, one side named in the title and the other in one of the
   first ``lede`` sentences of the summary (the lede develops the title; a
   ``lede_break`` word such as "Separately" ends it earlier). Two summary
   sentences never link each other (briefs, roundups). A sentence naming ``crowd`` or
   more OTHER countries is a list (summit, vote, tariff list) and links nothing, and so is
   one naming another country beside a ``listing`` word ("… and many other"); a title
   with a ``roundup`` word ("En bref", "Africa Daily") is a list of headlines and links
   nothing either.
3. **Dominance.** Each side's mention score (title mentions weigh ``title_weight``;
   hits of one side at most one word apart are one mention: "le chinois Ganfeng")
   must reach ``dominance`` × the score of the most-mentioned other country: a Mali–Russia
   story mentioning China in passing, or a China–Niger story with Mali as geography,
   fails even if one sentence joins the two.
4. **Exclusion.** The ``exclude`` query (sport: matches between the two countries) is
   false.

Guarantee: whole words only (see ``text.py``), so ``machine``, ``Somalie``, ``Indochine``,
``Malibu`` are never Mali- or China-side mentions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.match.lexicon import Relationship
from bot.match.nodes import Node, Occurrence, Scan
from bot.match.text import SUMMARY, TITLE, Sentence, tokenize

MALI, CHINA, JOINT, NEUTRAL, ROUNDUP = "mali", "china", "joint", "neutral", "roundup"
LEDE_BREAK = "lede_break"
SCENE = "scene"
LISTING = "listing"
AGENT = "agent"
_MARKERS = (NEUTRAL, ROUNDUP, LEDE_BREAK, SCENE, LISTING, AGENT)  # roles that mark text
AGENT_REACH = 3  # "financé par la Chine": the agent word at most 3 words before the side
DEEP_LEDE = 5  # an agent-marked side links the title down to the lede's 5th sentence
OPENING = 3  # a scene word counts within a sentence's first 3 words ("Elsewhere, in Mali")
COUNTRY = "country:"  # role prefix of other countries: "country:niger"
EVIDENCE_CHARS = 300


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The gate's decision on one item, with the sentence where the two sides meet."""

    passed: bool
    reason: str
    evidence: str = ""
    link: tuple[Occurrence, ...] = ()  # the Mali- and China-side words of the link


@dataclass(frozen=True, slots=True)
class _Hit:
    field: int
    start: int
    end: int  # last position, inclusive
    role: str

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def occurrence(self) -> Occurrence:
        return (self.field, self.start, self.end - self.start + 1)


class Gate:
    """The compiled gate: pattern id → gate roles, the relationship numbers, the exclusion."""

    def __init__(
        self,
        relationship: Relationship,
        roles: dict[int, tuple[str, ...]],
        lengths: list[int],
        exclude: Node | None,
    ) -> None:
        self.relationship = relationship
        self.roles = roles
        self.lengths = lengths
        self.exclude = exclude
        self._sides = {MALI: {MALI, JOINT}, CHINA: {CHINA, JOINT}}

    def _hits(self, scan: Scan) -> list[_Hit]:
        hits: list[_Hit] = []
        for field in (TITLE, SUMMARY):
            for pid, positions in scan.hits[field].items():
                roles = self.roles.get(pid)
                if roles:
                    last = self.lengths[pid] - 1
                    hits.extend(_Hit(field, p, p + last, r) for p in positions for r in roles)
        return hits

    def side_pids(self) -> frozenset[int]:
        """The patterns that name either side (what ``sides_possible`` looks at)."""
        sides = self._sides[MALI] | self._sides[CHINA]
        return frozenset(pid for pid, roles in self.roles.items() if sides.intersection(roles))

    def sides_possible(self, pids: Iterable[int]) -> bool:
        """Cheapest pre-check, on pattern ids found anywhere in the item: both sides have
        a term. Hits within sentences are a subset of these, so False is final."""
        found = {r for pid in pids for r in self.roles.get(pid, ())}
        return bool(found & self._sides[MALI]) and bool(found & self._sides[CHINA])

    def may_pass(self, scan: Scan) -> bool:
        """Cheap pre-check: both sides have at least one term (before masking)."""
        roles = {r for pid in self._pids(scan) for r in self.roles[pid]}
        return bool(roles & self._sides[MALI]) and bool(roles & self._sides[CHINA])

    def _pids(self, scan: Scan) -> set[int]:
        return {pid for hits in scan.hits for pid in hits if pid in self.roles}

    def judge(self, scan: Scan) -> GateVerdict:
        rel = self.relationship
        hits = _unmasked(self._hits(scan))  # phrases never span sentences (see compile)
        roundup = any(h.role == ROUNDUP and h.field == TITLE for h in hits)
        summary = scan.fields[SUMMARY]
        breaks = [
            summary.sentence_index(h.start)
            for h in hits
            if h.field == SUMMARY
            and (
                h.role == LEDE_BREAK
                or (h.role == SCENE and h.start - summary.sentence_at(h.start).first < OPENING)
            )
        ]
        lede = min([self.relationship.lede, *breaks])
        deep = min([DEEP_LEDE, *breaks]) if self.relationship.lede else 0
        agents = {
            (h.field, h.start) for h in hits if h.role == AGENT and h.field == SUMMARY
        }
        # "…Chinese buyers stocked up; separately, Mali's output fell": a break word between
        # the two sides of one sentence starts another story there, as it ends the lede.
        cut_at: dict[tuple[int, int], list[int]] = {}
        for h in hits:
            if h.role == LEDE_BREAK:
                key = (h.field, scan.fields[h.field].sentence_index(h.start))
                cut_at.setdefault(key, []).append(h.start)
        listed = {
            (h.field, scan.fields[h.field].sentence_index(h.start))
            for h in hits
            if h.role == LISTING
        }
        hits = [h for h in hits if h.role not in _MARKERS]
        roles = {hit.role for hit in hits}
        if not roles & self._sides[MALI]:
            return GateVerdict(False, "no Mali-side term")
        if not roles & self._sides[CHINA]:
            return GateVerdict(False, "no China-side term")
        by_sentence: dict[tuple[int, int], list[_Hit]] = {}
        sentences: dict[tuple[int, int], Sentence] = {}
        for hit in hits:
            sentence = scan.fields[hit.field].sentence_at(hit.start)
            key = (hit.field, sentence.index)
            by_sentence.setdefault(key, []).append(hit)
            sentences[key] = sentence
        # A list marker ("and many other", "entre autres") makes a list of even two
        # countries: "Kenya, Mali and many other African presidents" links nothing.
        crowded = {
            key: n
            for key, group in by_sentence.items()
            if (n := len({h.role for h in group if h.role.startswith(COUNTRY)})) >= rel.crowd
            or (n >= 1 and key in listed)
        }
        links: list[tuple[tuple[int, int], tuple[_Hit, ...], str]] = []
        for key in sorted(by_sentence, key=lambda k: (k[0] != SUMMARY, k)):
            if key in crowded or (roundup and key[0] == TITLE):
                continue
            link = self._link(by_sentence[key], cut_at.get(key, ()))
            if link is not None:
                kind = "joint term" if link[0].role == JOINT else "same sentence"
                links.append((key, link, kind))
        if not links and not roundup:
            links += self._title_lede(by_sentence, crowded, lede, deep, agents)
        if not links:
            return GateVerdict(False, self._no_link_reason(by_sentence, crowded, roundup))
        marginal = self._marginal(hits, roundup)
        if marginal:
            return GateVerdict(False, marginal)
        if self.exclude is not None and self.exclude.test(scan):
            found: list[Occurrence] = []
            self.exclude.collect(scan, found)
            shown = sorted({" ".join(scan.fields[f].words[p : p + n]) for f, p, n in found})
            detail = f" (found: {', '.join(shown[:6])})" if shown else ""
            return GateVerdict(False, f"excluded by the gate's exclude rule{detail}")
        key, link, kind = links[0]
        sentence = sentences[key]
        where = "title" if key[0] == TITLE else "summary"
        occurrences = tuple(h.occurrence for h in link)
        spans = [(h.start, h.end) for h in link if h.field == key[0]]
        evidence = trim_evidence(sentence, spans)
        return GateVerdict(True, f"{kind} in the {where}", evidence, occurrences)

    def _title_lede(
        self,
        by_sentence: dict[tuple[int, int], list[_Hit]],
        crowded: dict[tuple[int, int], int],
        lede: int,
        deep: int = 0,
        agents: set[tuple[int, int]] | None = None,
    ) -> list[tuple[tuple[int, int], tuple[_Hit, ...], str]]:
        """A side named in the title, the other in one of the lede's first sentences, or
        deeper in the lede (up to ``deep`` sentences) as the agent of what the title
        reports: "Route Kayes–Kita : les travaux lancés / … / Le chantier est financé
        par la Chine" (an ``agent`` word at most ``AGENT_REACH`` words before it).

        Only when the title names one side: a title naming both without linking them
        ("Gold rallies on Chinese buying; Mali output slumps") is two headlines already.
        """
        agents = agents or set()
        title = [h for k, g in by_sentence.items() if k[0] == TITLE and k not in crowded for h in g]
        title_roles = {h.role for h in title}
        if title_roles & self._sides[MALI] and title_roles & self._sides[CHINA]:
            return []
        reach = max(lede, deep)
        for key in sorted(k for k in by_sentence if k[0] == SUMMARY and k[1] < reach):
            if key in crowded:
                continue
            for side, other in ((MALI, CHINA), (CHINA, MALI)):
                mine = [h for h in title if h.role == side]
                theirs = [h for h in by_sentence[key] if h.role == other]
                if key[1] >= lede:  # deeper than the lede: only as the agent
                    theirs = [
                        h
                        for h in theirs
                        if any((SUMMARY, h.start - d) in agents for d in range(1, AGENT_REACH + 1))
                    ]
                if mine and theirs:
                    return [(key, (mine[0], theirs[0]), "title and lede")]
        return []

    def _no_link_reason(
        self,
        by_sentence: dict[tuple[int, int], list[_Hit]],
        crowded: dict[tuple[int, int], int],
        roundup: bool,
    ) -> str:
        rel = self.relationship
        if any(self._link(by_sentence[key]) is not None for key in crowded):
            return (
                f"Mali and China only meet in a list of {max(crowded.values())} other "
                f"countries (crowd ≥ {rel.crowd})"
            )
        if roundup:
            return "the title is a roundup of headlines and no sentence links Mali and China"
        return f"Mali and China are never in one sentence within {rel.window} words"

    def _link(self, group: list[_Hit], cuts: Sequence[int] = ()) -> tuple[_Hit, ...] | None:
        """The joint hit, or the closest Mali/China pair within the window and with no
        break word (``cuts``, word positions) between them, if any."""
        for hit in group:
            if hit.role == JOINT:
                return (hit,)
        mali = [h for h in group if h.role == MALI]
        china = [h for h in group if h.role == CHINA]
        best: tuple[int, _Hit, _Hit] | None = None
        for m in mali:
            for c in china:
                gap = max(c.start - m.end, m.start - c.end, 0)
                low, high = min(m.end, c.end), max(m.start, c.start)
                if any(low < cut < high for cut in cuts):
                    continue
                if gap <= self.relationship.window and (best is None or gap < best[0]):
                    best = (gap, m, c)
        if best is None:
            return None
        first, second = sorted((best[1], best[2]), key=lambda h: h.start)
        return (first, second)

    def _marginal(self, hits: list[_Hit], roundup: bool) -> str:
        """Why one side is marginal next to another country, or '' if neither is."""
        rel = self.relationship
        scores: Counter[str] = Counter()
        last_end: dict[tuple[int, str], int] = {}
        for hit in sorted(hits, key=lambda h: (h.field, h.start)):
            # adjacent hits of one side are one mention: "le chinois Ganfeng", and a
            # joint name counts for each side unless that side was just named
            # ("Chinese-owned Goulamina" is one China-side mention)
            sides = (MALI, CHINA) if hit.role == JOINT else (hit.role,)
            weight = rel.title_weight if hit.field == TITLE and not roundup else 1
            for side in sides:
                key = (hit.field, side)
                adjacent = key in last_end and hit.start - last_end[key] <= 2
                last_end[key] = max(hit.end, last_end.get(key, hit.end))
                if not adjacent:
                    scores[side] += weight
        others = [(score, role) for role, score in scores.items() if role.startswith(COUNTRY)]
        if not others:
            return ""
        top, role = max(others)
        for side, name in ((CHINA, "China"), (MALI, "Mali")):
            if scores[side] < rel.dominance * top:
                return (
                    f"{name} is marginal: {role[len(COUNTRY) :]} scores {top}, "
                    f"{name} {scores[side]} (dominance {rel.dominance:g})"
                )
        return ""


def _unmasked(hits: list[_Hit]) -> list[_Hit]:
    """Drop each hit lying inside a longer hit of another role in the same field."""
    if len(hits) < 2:
        return hits
    kept: list[_Hit] = []
    for hit in hits:
        masked = any(
            other.field == hit.field
            and other.role != hit.role
            and other.role != SCENE  # "Au Mali, …" still names Mali
            and other.size > hit.size
            and other.start <= hit.start
            and hit.end <= other.end
            for other in hits
        )
        if not masked:
            kept.append(hit)
    return kept


def trim_evidence(sentence: Sentence, spans: list[tuple[int, int]]) -> str:
    """The sentence, cut to ≤ 300 characters around the linked words when longer."""
    text = sentence.text.strip()
    if len(text) <= EVIDENCE_CHARS:
        return text
    tokens = tokenize(text)
    first = min(start for start, _ in spans) - sentence.first
    last = max(end for _, end in spans) - sentence.first
    if not (0 <= first < len(tokens) and 0 <= last < len(tokens)):
        return text[: EVIDENCE_CHARS - 1].rstrip() + "…"
    low, high = tokens[first].start, tokens[last].end
    budget = EVIDENCE_CHARS - 2 - (high - low)
    if budget < 0:
        return text[low : low + EVIDENCE_CHARS - 2].rstrip() + "…"
    begin = max(0, low - budget // 2)
    end = min(len(text), begin + EVIDENCE_CHARS - 2)
    begin = max(0, min(begin, end - (EVIDENCE_CHARS - 2)))
    head = "…" if begin > 0 else ""
    tail = "…" if end < len(text) else ""
    return head + text[begin:end].strip() + tail
