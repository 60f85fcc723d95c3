"""The seeded topics document, the lexicon's validation, explanations and evaluation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.errors import RuleSyntaxError
from bot.match import (
    THRESHOLDS,
    Lexicon,
    LexiconError,
    Matcher,
    TopicsDocumentError,
    compile_rules,
    load_topics_document,
    validate_rule,
)
from bot.match.evaluate import LabelledItem, evaluate
from bot.types import MatchInput, TopicRule

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "topics.yaml"
SLUGS = [
    "security",
    "defense",
    "diplomacy",
    "infrastructure",
    "mining",
    "energy",
    "agriculture",
    "health",
    "finance",
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    data = yaml.safe_load(SEEDS.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def seeded(document: dict[str, Any]) -> Matcher:
    lexicon, specs = load_topics_document(document)
    return compile_rules([spec.rule for spec in specs], lexicon)


def test_the_seeded_document_loads_with_the_nine_fixed_slugs(document: dict[str, Any]) -> None:
    lexicon, specs = load_topics_document(document)
    # the nine fixed slugs, then the fallback label for what none of them claims
    assert [spec.slug for spec in specs] == [*SLUGS, "general"]
    assert lexicon.weighing.fallback == "general"
    for spec in specs:
        assert " / " in spec.name, spec.slug  # bilingual display name
        assert spec.description
        validate_rule(spec.query, lexicon)
    assert lexicon.relationship is not None
    assert {"mali", "china", "joint"} <= set(lexicon.aliases)


def test_the_lexicon_round_trips_through_json(document: dict[str, Any]) -> None:
    lexicon, _ = load_topics_document(document)
    stored = json.loads(json.dumps(lexicon.to_mapping()))
    assert Lexicon.from_mapping(stored) == lexicon
    assert {t.key for t in THRESHOLDS} <= set(stored["relationship"])
    assert all(t.reason for t in THRESHOLDS)


def test_an_empty_lexicon_is_valid_and_has_no_gate() -> None:
    lexicon = Lexicon.from_mapping({})
    assert lexicon.relationship is None
    assert compile_rules([TopicRule("t", "chine")], lexicon).match(MatchInput("", "Chine"))


def _broken(document: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(document)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


LEXICON_ERRORS = [
    ("a term that does not parse", ["aliases", "china", 0], "(Chine", "aliases.china[0]"),
    ("an alias set that is not a list", ["aliases", "mali"], "Mali", "aliases.mali"),
    ("a bad alias name", ["aliases", "Bad-Name"], ["x"], "bad name"),
    ("an unknown relationship key", ["relationship", "windw"], 3, "relationship.windw"),
    ("a window that is not a number", ["relationship", "window"], "ten", "relationship.window"),
    ("a window out of bounds", ["relationship", "window"], 0, "relationship.window"),
    ("a gate role naming no set", ["relationship", "joint"], "nope", "relationship.joint"),
    (
        "an exclusion that does not parse",
        ["relationship", "exclude"],
        "sport AND",
        "relationship.exclude",
    ),
    (
        "a proximity term in a gate set",
        ["aliases", "joint", 0],
        '"Mali Chine"~3',
        "aliases.joint[0]",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "named"), [e[1:] for e in LEXICON_ERRORS], ids=[e[0] for e in LEXICON_ERRORS]
)
def test_lexicon_errors_name_the_bad_key(
    document: dict[str, Any], path: list[Any], value: Any, named: str
) -> None:
    with pytest.raises(LexiconError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_topics_document(_broken(document, path, value))


def test_a_bad_query_is_reported_with_its_slug_and_column(document: dict[str, Any]) -> None:
    data = copy.deepcopy(document)
    data["topics"][3]["query"] = "routes OR (ponts"
    with pytest.raises(TopicsDocumentError) as caught:
        load_topics_document(data)
    assert caught.value.slug == "infrastructure"
    assert caught.value.column == 17
    assert "infrastructure" in str(caught.value) and "expected ')'" in str(caught.value)


def test_an_unknown_alias_is_refused_before_matching(document: dict[str, Any]) -> None:
    data = copy.deepcopy(document)
    data["topics"][0]["query"] = "sécurité @nowhere"
    with pytest.raises(TopicsDocumentError, match="unknown alias set @nowhere") as caught:
        load_topics_document(data)
    assert caught.value.column == 10


def test_duplicate_slugs_are_refused(document: dict[str, Any]) -> None:
    data = copy.deepcopy(document)
    data["topics"].append(dict(data["topics"][0]))
    with pytest.raises(TopicsDocumentError, match="duplicate"):
        load_topics_document(data)


def test_compile_rules_names_the_topic_of_a_bad_rule() -> None:
    with pytest.raises(RuleSyntaxError, match="topic 'x'") as caught:
        compile_rules([TopicRule("x", "chine @mali")], Lexicon())
    assert caught.value.column == 7


# Realistic items written for this test, one or more per topic, both languages.
ITEMS = [
    (
        "security",
        "Bamako : la police renforce la protection des travailleurs chinois",
        "Le ministre de la Sécurité a reçu les responsables de la communauté chinoise.",
        "fr",
    ),
    ("security", "Mali : le ministre de la Sécurité rencontre la communauté chinoise", "", "fr"),
    (
        "security",
        "Chinese workers kidnapped near a gold site in western Mali",
        "Gunmen abducted three Chinese employees on Sunday, Malian officials said.",
        "en",
    ),
    (
        "defense",
        "La Chine livre des drones et des blindés aux FAMa",
        "La cérémonie s'est tenue à Kati en présence de l'attaché de défense chinois.",
        "fr",
    ),
    (
        "defense",
        "Malian officers graduate from a Chinese military academy",
        "Twenty Malian officers completed a staff course in Beijing.",
        "en",
    ),
    (
        "diplomacy",
        "Le président Goïta reçoit les lettres de créance du nouvel ambassadeur de Chine",
        "La cérémonie a eu lieu au palais de Koulouba.",
        "fr",
    ),
    ("diplomacy", "Mali reaffirms One-China stance as Wang Yi meets Abdoulaye Diop", "", "en"),
    (
        "infrastructure",
        "Pont de Kayes : une entreprise chinoise lance les travaux",
        "Le chantier de l'ouvrage, long de 400 mètres, durera deux ans.",
        "fr",
    ),
    ("infrastructure", "China Railway to rebuild the Bamako-Dakar railway in Mali", "", "en"),
    (
        "mining",
        "Lithium : Ganfeng augmente la production de Goulamina",
        "Le concentré est exporté vers la Chine.",
        "fr",
    ),
    (
        "mining",
        "Chinese-run dredges seized on the Niger river in Mali",
        "Gold panning by dredges is banned by the mining code.",
        "en",
    ),
    ("energy", "Une centrale solaire chinoise de 50 MW inaugurée à Ségou", "", "fr"),
    ("energy", "Mali's EDM signs power line contract with a Chinese firm", "", "en"),
    ("agriculture", "Riz hybride : des agronomes chinois à l'Office du Niger", "", "fr"),
    ("agriculture", "China donates 3,000 tonnes of rice to Mali", "", "en"),
    ("health", "Une équipe médicale chinoise opère la cataracte à Sikasso", "", "fr"),
    ("health", "Chinese medical team treats malaria patients in Mali", "", "en"),
    (
        "finance",
        "Le Mali et la Chine signent un accord de prêt concessionnel",
        "Le financement de 50 milliards de FCFA vient d'Exim Bank of China.",
        "fr",
    ),
    ("finance", "China grants Mali debt relief", "Beijing will cancel interest-free loans.", "en"),
]


@pytest.mark.parametrize(
    ("slug", "title", "text", "lang"), ITEMS, ids=[f"{i[0]}: {i[1]}" for i in ITEMS]
)
def test_seeded_topics_on_realistic_items(
    seeded: Matcher, slug: str, title: str, text: str, lang: str
) -> None:
    matches = seeded.match(MatchInput(title, text, lang))
    assert slug in [m.slug for m in matches], seeded.explain(MatchInput(title, text, lang))
    match = next(m for m in matches if m.slug == slug)
    assert match.terms and match.evidence


def test_background_words_alone_do_not_make_a_topic(seeded: Matcher) -> None:
    doc = MatchInput(
        "Le Mali et la Chine célèbrent 65 ans d'amitié",
        "Présente dans les mines, l'énergie et les routes, la Chine reste un partenaire clé.",
        "fr",
    )
    assert [m.slug for m in seeded.match(doc)] == ["diplomacy"]


def test_explain_covers_every_topic(seeded: Matcher) -> None:
    doc = MatchInput("Mali-Chine : accord de prêt pour la route de Kita", "", "fr")
    explanation = seeded.explain(doc)
    assert [t.slug for t in explanation.topics] == [*SLUGS, "general"]
    assert explanation.relationship.passed
    by_slug = {t.slug: t for t in explanation.topics}
    assert by_slug["finance"].matched and "accord de prêt" in by_slug["finance"].terms
    assert not by_slug["health"].matched and by_slug["health"].failed
    shape = explanation.to_dict()
    assert set(shape["topics"][0]) >= {"slug", "matched", "terms"}
    assert "✔ finance" in explanation.to_text()


def test_explain_says_why_the_gate_failed(seeded: Matcher) -> None:
    explanation = seeded.explain(
        MatchInput("Sécurité au Niger", "Niamey renforce sa police.", "fr")
    )
    assert not explanation.relationship.passed
    assert "Mali" in explanation.relationship.reason
    security = explanation.topics[0]
    assert security.rule_matched and not security.matched
    assert security.failed[0].startswith("relationship:")


def test_terms_are_in_text_order_and_spelled_as_in_the_item(seeded: Matcher) -> None:
    doc = MatchInput("", "L’ambassadeur de Chine a reçu en audience le ministre malien.", "fr")
    (diplomacy,) = seeded.match(doc)
    # topic words first, then the Mali/China words of the link; elided article left out
    assert diplomacy.terms == ("ambassadeur", "reçu", "audience", "Chine", "malien")


def test_evaluate_scores_topics_and_the_relationship(seeded: Matcher) -> None:
    items = [
        LabelledItem("a", "La Chine livre des drones aux FAMa", "", "fr", frozenset({"defense"})),
        LabelledItem("b", "Le Kenya et la Chine", "", "fr", frozenset(), "neg-china-other"),
        LabelledItem("c", "Mali-Chine : audience", "", "fr", frozenset({"health"})),
    ]
    report = evaluate(seeded, items)
    assert report.relationship.tp == 2 and report.relationship.fp == 0
    assert report.topics["defense"].f1 == 1.0
    assert report.topics["health"].fn == 1
    assert report.topics["diplomacy"].fp == 1
    assert "relationship" in report.to_text()
    assert {m.item_id for m in report.misses} == {"c"}
