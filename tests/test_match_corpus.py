"""Issue 3's acceptance: the seeded rules on the labelled development corpus.

The corpus (tests/data/corpus.yaml, guidelines in CORPUS.md) is hand-written; these
thresholds are the product's promise on it: relationship precision and recall ≥ 0.95,
and F1 ≥ 0.90 for every topic. The held-out file, when present, is scored by the same
code but written without looking at the rules (see CORPUS.md).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.match import Matcher, compile_rules, load_topics_document
from bot.match.evaluate import LabelledItem, Report, evaluate, load_labelled
from bot.types import MatchInput

DATA = Path(__file__).parent / "data"
SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "topics.yaml"
NEGATIVE_KINDS = {
    "neg-substring",  # machine, Somalie, Indochine
    "neg-china-other",  # China–Niger and the like
    "neg-mali-other",  # Mali–Russia and the like
    "neg-sport",  # a Mali–China football match
    "neg-crowd",  # a FOCAC list where Mali is one of many
    "neg-juxtaposed",  # two unrelated briefs in one item
    "neg-mali-only",
    "neg-china-only",
    "neg-other",  # Mali–China, but none of the nine topics
}


@pytest.fixture(scope="module")
def seeded() -> Matcher:
    lexicon, specs = load_topics_document(yaml.safe_load(SEEDS.read_text(encoding="utf-8")))
    return compile_rules([spec.rule for spec in specs], lexicon)


def corpus(name: str, matcher: Matcher) -> list[LabelledItem]:
    entries = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return load_labelled(entries, matcher.slugs)


def scores(report: Report) -> str:
    return report.to_text() + "\n" + "\n".join(
        f"  {m.item_id}: {m.decision} {m.kind} ({m.category})" for m in report.misses
    )


def test_the_corpus_covers_every_topic_and_every_kind_of_negative(seeded: Matcher) -> None:
    items = corpus("corpus.yaml", seeded)
    assert len(items) >= 150
    assert {i.language for i in items} == {"fr", "en"}
    per_topic = Counter(t for i in items for t in i.topics)
    topics = [slug for slug in seeded.slugs if slug != seeded.fallback]
    assert all(per_topic[slug] >= 8 for slug in topics), per_topic
    kinds = Counter(i.category for i in items if not i.topics)
    assert set(kinds) >= NEGATIVE_KINDS, kinds


def test_seeded_rules_meet_the_thresholds_on_the_corpus(seeded: Matcher) -> None:
    report = evaluate(seeded, corpus("corpus.yaml", seeded))
    print(scores(report))
    assert report.relationship.precision >= 0.95, scores(report)
    assert report.relationship.recall >= 0.95, scores(report)
    weak = {slug: round(s.f1, 3) for slug, s in report.topics.items() if s.f1 < 0.90}
    assert weak == {}, scores(report)


# Real-world traps, each a false positive or negative the rules once made or could make.
TRAPS = [
    pytest.param(
        "fr",
        "Bamako : le restaurant Le Dragon d'or fête ses vingt ans",
        "Le plus ancien restaurant chinois de la capitale malienne a fêté l'événement.",
        set(),
        id="the elided 'd'or' of a name is not gold mining",
    ),
    pytest.param(
        "fr",
        "Or, la Chine et le Mali n'ont rien signé",
        "Or, selon nos informations, aucun accord n'a été signé entre Pékin et Bamako.",
        {"general"},  # about the relationship (an accord), no topic: never mining
        id="'Or,' the conjunction is not gold",
    ),
    pytest.param(
        "en",
        "Gold hits a record as Chinese demand surges",
        "Prices rose as Chinese buyers stocked up; separately, Mali's output fell 20 %.",
        set(),
        id="'separately' inside one sentence splits two stories",
    ),
    pytest.param(
        "fr",
        "Coton : les filatures chinoises ralentissent leurs achats",
        "Les cours ont reculé à New York, la demande chinoise faiblissant avant les fêtes. "
        "Au Mali, la CMDT annonce pourtant une récolte record de coton-graine.",
        set(),
        id="a lede sentence opening on 'Au Mali,' sets a new scene",
    ),
    pytest.param(
        "en",
        "Copper climbs on Chinese stimulus; Mali lithium exports stall",
        "Chinese factories raised output in March, lifting metals prices.",
        set(),
        id="a title of two headlines does not link its two sides through the lede",
    ),
    pytest.param(
        "en",
        "China extends zero tariffs to 53 African countries",
        "The scheme covers every country with which Beijing has diplomatic ties, "
        "including Mali, from April.",
        set(),
        id="Mali as one example of a list is not a side of the story",
    ),
    pytest.param(
        "fr",
        "Bamako : le restaurant chinois Le Lotus fête son dixième anniversaire",
        "L'établissement, ouvert au Mali en 2016, a réuni ses clients maliens et chinois.",
        set(),
        id="a company's anniversary is not diplomacy",
    ),
    pytest.param(
        "fr",
        "Mali-Chine : 65 ans d'amitié célébrés à Bamako",
        "",
        {"diplomacy"},
        id="the relationship's anniversary is diplomacy",
    ),
    pytest.param(
        "fr",
        "Défense : une délégation de l'Armée populaire de libération reçue à Koulouba",
        "Les officiers ont évoqué la formation et l'équipement des FAMa.",
        {"defense", "diplomacy"},
        id="the PLA is the China side",
    ),
    pytest.param(
        "en",
        "Mali signs gold deal with Russia's Yadran",
        "BEIJING, March 3 -- Mali's government signed a gold refinery deal with Russia's "
        "Yadran group, a Chinese analyst told reporters.",
        set(),
        id="a wire dateline is where the reporter filed from, not a side of the story",
    ),
    pytest.param(
        "fr",
        "La production d'or industrielle du Mali tirée par la mine chinoise de Kalana",
        "",
        {"mining"},
        id="gold in a French phrase is still mining",
    ),
    pytest.param(
        "fr",
        "Exportations : l'or malien part désormais vers la Chine",
        "Les lingots d'or quittent Bamako pour Shanghai.",
        {"mining"},
        id="'l'or malien' and 'lingots d'or' are gold",
    ),
]


@pytest.mark.parametrize(("lang", "title", "summary", "expected"), TRAPS)
def test_real_world_traps(
    seeded: Matcher, lang: str, title: str, summary: str, expected: set[str]
) -> None:
    assert {m.slug for m in seeded.match(MatchInput(title, summary, lang))} == expected


def test_the_relationship_holds_on_the_independent_corpus(seeded: Matcher) -> None:
    """heldout.yaml was written from CORPUS.md alone, without seeing the rules; it was used
    once to find classes of errors (fixed by general rules, see seeds/topics.yaml), so it
    guards the relationship decision. Topic F1 there is reported, not asserted: topic
    labels are judgement calls of one annotator."""
    report = evaluate(seeded, corpus("heldout.yaml", seeded))
    print(scores(report))
    assert report.relationship.precision >= 0.95, scores(report)
    assert report.relationship.recall >= 0.95, scores(report)


def _all_entries() -> list[dict[str, str]]:
    return [
        entry
        for name in ("corpus.yaml", "heldout.yaml")
        for entry in yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    ]


ENTRIES = _all_entries()
PIECES = [
    piece.strip()
    for entry in ENTRIES
    for text in (entry["title"], entry.get("summary") or "")
    for piece in text.replace("!", ".").replace("?", ".").split(".")
    if piece.strip()
]


def _verdicts(matcher: Matcher, doc: MatchInput) -> tuple[set[str], set[str]]:
    fast = {m.slug for m in matcher.match(doc)}
    full = {t.slug for t in matcher.explain(doc).topics if t.matched}
    # ``matches`` (backtests, searches) decides as ``match`` does, fallback included.
    assert matcher.matches(doc) == bool(fast)
    return fast, full


def test_match_agrees_with_explain_on_every_labelled_item(seeded: Matcher) -> None:
    """``match`` rejects one-sided items early; ``explain`` always judges in full."""
    for entry in ENTRIES:
        doc = MatchInput(entry["title"], entry.get("summary") or "", entry["lang"])
        fast, full = _verdicts(seeded, doc)
        assert fast == full, entry["id"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=2),
    st.lists(st.sampled_from(PIECES), max_size=4),
    st.sampled_from(["fr", "en"]),
)
def test_match_agrees_with_explain_on_spliced_items(
    seeded: Matcher, title: list[str], summary: list[str], lang: str
) -> None:
    doc = MatchInput(". ".join(title), ". ".join(summary), lang)
    fast, full = _verdicts(seeded, doc)
    assert fast == full
