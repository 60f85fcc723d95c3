"""The relationship gate with the seeded lexicon: related, not merely co-present.

Every text here is written for this test (facts of the seeds, never their sentences).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.match import Lexicon, Matcher, compile_rules, load_topics_document
from bot.types import MatchInput, TopicRule

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "topics.yaml"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    lexicon, _ = load_topics_document(yaml.safe_load(SEEDS.read_text(encoding="utf-8")))
    return lexicon


@pytest.fixture(scope="module")
def gate(lexicon: Lexicon) -> Matcher:
    """The gate alone: one topic whose rule is always true for non-empty text."""
    return compile_rules([TopicRule("any", "NOT zzzzqqq")], lexicon)


PASS = [
    ("fr: both sides in the title", "Mali-Chine : nouvel accord à Bamako", "", "fr"),
    ("en: both sides in the title", "Mali and China sign accord", "", "en"),
    (
        "fr: same sentence in the lede",
        "Accord signé",
        "Le gouvernement malien et la Chine ont signé mardi un accord de prêt.",
        "fr",
    ),
    (
        "en: same sentence in the lede",
        "Loan signed",
        "Malian officials and a Chinese bank signed the loan on Tuesday.",
        "en",
    ),
    ("fr: the joint adjective alone", "Un partenariat sino-malien renforcé", "", "fr"),
    ("en: the joint adjective alone", "Sino-Malian ties deepen", "", "en"),
    ("fr: joint term with a non-breaking hyphen", "Relations sino‑maliennes", "", "fr"),
    (
        "en: Bamako and Beijing",
        "Talks in Bamako",
        "Bamako and Beijing agreed to widen their cooperation.",
        "en",
    ),
    ("fr: Bamako and a Chinese firm", "Ganfeng ouvre un bureau à Bamako", "", "fr"),
    ("en: a Chinese firm at a Malian mine", "Ganfeng ships first lithium from Goulamina", "", "en"),
    (
        "fr: ambassador spelled Li Xiang",
        "Audience",
        "Le ministre Abdoulaye Diop a reçu M. Li Xiang jeudi.",
        "fr",
    ),
    (
        "en: ambassador spelled Xi Xiang",
        "Courtesy call",
        "Prime Minister Abdoulaye Maiga received Xi Xiang on Monday.",
        "en",
    ),
    ("fr: Goïta spelled without diaeresis", "Goita reçoit une délégation de Pékin", "", "fr"),
    ("fr: Koulouba stands for the presidency", "Koulouba accueille l'envoyé de Pekin", "", "fr"),
    ("en: PRC and a Malian minister", "Sadio Camara in talks with the PRC", "", "en"),
    (
        "fr: title names Mali, the lede names a Chinese builder",
        "Route Kayes-Kita : les travaux débutent",
        "Le chantier est confié à une société chinoise. Il durera deux ans.",
        "fr",
    ),
    (
        "en: title names China, the lede names Bamako",
        "Chinese-built water plant expands",
        "The plant now serves the right bank of Bamako.",
        "en",
    ),
    (
        "fr: a meeting on the margins of FOCAC",
        "En marge du FOCAC",
        "Abdoulaye Diop s'est entretenu avec Wang Yi à Changsha.",
        "fr",
    ),
    ("en: curly apostrophe in the possessive", "Mali’s premier meets China’s envoy", "", "en"),
    (
        "fr: technology transfer is not a sports transfer",
        "Transfert de technologies",
        "La Chine, joueur clé, forme des techniciens maliens à Bamako.",
        "fr",
    ),
]


@pytest.mark.parametrize(("title", "text", "lang"), [p[1:] for p in PASS], ids=[p[0] for p in PASS])
def test_related_items_pass(gate: Matcher, title: str, text: str, lang: str) -> None:
    verdict = gate.relationship(MatchInput(title, text, lang))
    assert verdict is not None
    assert verdict.passed, verdict.reason
    assert verdict.evidence


FAIL = [
    # substrings
    ("fr: machine is not Chine", "Une machine à coudre pour le Mali", "", "fr"),
    ("fr: Somalie is not Mali", "La Chine et la Somalie signent un accord", "", "fr"),
    ("en: Indochina is not China", "Mali veterans of the Indochina war", "", "en"),
    ("en: Malibu is not Mali", "Chinese investors buy in Malibu", "", "en"),
    (
        "fr: encre de Chine is not China",
        "Exposition à Bamako",
        "Un peintre malien expose ses lavis à l'encre de Chine.",
        "fr",
    ),
    # China with another country, Mali as geography or elsewhere
    (
        "fr: China-Niger with Mali as the border",
        "Niger : un ingénieur chinois enlevé",
        "L'homme travaillait sur un chantier à Tillabéri, près de la frontière avec le Mali.",
        "fr",
    ),
    (
        "en: China-Senegal, Mali in another paragraph",
        "Senegal and China open a new port",
        "Dakar and Beijing inaugurated the terminal on Monday.\n"
        "Separately, Mali announced new rainfall figures.",
        "en",
    ),
    (
        "en: China-Niger deal dominated by Niger",
        "Niger, China sign oil pipeline deal",
        "Niamey and Beijing agreed on the pipeline. Niger expects revenue to double. "
        "Nigerien officials said Mali could one day buy Chinese-refined fuel from Niger.",
        "en",
    ),
    # Mali with another partner, China in passing
    (
        "fr: Mali-Russia, China in passing",
        "Le Mali et la Russie signent un accord nucléaire",
        "Moscou et Bamako ont paraphé le texte au Kremlin. Rosatom construira la centrale. "
        "La Russie devient le premier partenaire énergétique du pays, devant la Chine.",
        "fr",
    ),
    (
        "en: Mali-Turkey drones, China in passing",
        "Mali buys more Turkish drones",
        "Bamako received new Bayraktar aircraft from Turkey on Friday, its third Turkish "
        "order after earlier Chinese purchases. Ankara also trains Malian pilots.",
        "en",
    ),
    # juxtaposed briefs
    (
        "fr: two unrelated briefs",
        "L'actualité du jour",
        "Au Mali, la transition annonce un remaniement. En Chine, les exportations "
        "ont progressé de 4 %.",
        "fr",
    ),
    (
        "en: a roundup title",
        "Africa Daily: Mali's gold, Kenya's bonds, China's loans",
        "Mali's gold output fell. Kenya issued a bond. Chinese lending slowed.",
        "en",
    ),
    (
        "en: a second story after 'Separately'",
        "China's exports rise 5%",
        "Beijing reported strong trade figures. Separately, Mali announced rainfall data.",
        "en",
    ),
    (
        "fr: two briefs on separate lines",
        "Brèves",
        "Mali : la saison des pluies commence.\nChine : un nouveau record de production.",
        "fr",
    ),
    # crowd
    (
        "en: FOCAC list of many countries",
        "FOCAC ministers meet",
        "Ministers from Mali, Niger, Chad, Senegal and Togo met their Chinese counterpart.",
        "en",
    ),
    (
        "fr: zero-tariff list",
        "Tarif zéro",
        "La Chine accorde le tarif zéro au Mali, au Bénin, au Togo, au Niger et au Burkina Faso.",
        "fr",
    ),
    # sport
    (
        "fr: basketball match",
        "Basket : le Mali bat la Chine en quart de finale",
        "Les Maliennes se sont imposées face aux Chinoises au tournoi de Budapest.",
        "fr",
    ),
    (
        "en: football friendly",
        "Mali's Eagles face China in a friendly match",
        "The national team meets China in Shanghai on Tuesday.",
        "en",
    ),
    # history, homonyms
    (
        "fr: medieval history",
        "Mansa Moussa et Zheng He",
        "Une conférence à Bamako compare l'empire du Mali et la Chine des Ming.",
        "fr",
    ),
    ("en: Mali Losinj is in Croatia", "Chinese tourists flock to Mali Lošinj", "", "en"),
    ("fr: site name in the title", "La Chine relève ses tarifs | Journal du Mali", "", "fr"),
    (
        "en: Xinhua dateline on a Mali-Russia story",
        "Mali receives Russian wheat",
        "BAMAKO, March 3 (Xinhua) -- Mali received 25,000 tonnes of Russian wheat.",
        "en",
    ),
    ("en: one side only", "Mali's transition extended", "Bamako announced the change.", "en"),
]


@pytest.mark.parametrize(("title", "text", "lang"), [f[1:] for f in FAIL], ids=[f[0] for f in FAIL])
def test_co_presence_is_not_enough(gate: Matcher, title: str, text: str, lang: str) -> None:
    verdict = gate.relationship(MatchInput(title, text, lang))
    assert verdict is not None
    assert not verdict.passed
    assert verdict.reason


def test_a_failed_gate_matches_no_topic(gate: Matcher) -> None:
    doc = MatchInput("Le Mali et la Russie", "Moscou arme Bamako. La Chine observe.", "fr")
    assert gate.match(doc) == ()


def test_evidence_is_the_sentence_where_they_meet(gate: Matcher) -> None:
    doc = MatchInput(
        "Coopération",
        "La saison des pluies commence. Le ministre malien a reçu l’ambassadeur de Chine. "
        "Rien d'autre.",
        "fr",
    )
    (match,) = gate.match(doc)
    assert match.evidence == "Le ministre malien a reçu l’ambassadeur de Chine."
    assert "malien" in match.terms and "Chine" in match.terms


def test_long_evidence_is_trimmed_around_the_link(gate: Matcher) -> None:
    filler = " ".join(f"mot{i}" for i in range(120))
    doc = MatchInput("", f"{filler} le Mali et la Chine {filler}.", "fr")
    (match,) = gate.match(doc)
    assert len(match.evidence) <= 300
    assert "le Mali et la Chine" in match.evidence


def test_the_window_applies_inside_one_sentence(lexicon: Lexicon) -> None:
    gap = " ".join(["mot"] * 40)
    doc = MatchInput("", f"Le Mali {gap} la Chine.", "fr")
    assert not _gate(lexicon).relationship(doc).passed  # type: ignore[union-attr]


def _gate(lexicon: Lexicon) -> Matcher:
    return compile_rules([TopicRule("any", "NOT zzzzqqq")], lexicon)


def test_thresholds_are_configurable(lexicon: Lexicon) -> None:
    mapping = lexicon.to_mapping()
    mapping["relationship"]["window"] = 50
    gap = " ".join(["mot"] * 40)
    doc = MatchInput("", f"Le Mali {gap} la Chine.", "fr")
    assert _gate(Lexicon.from_mapping(mapping)).relationship(doc).passed  # type: ignore[union-attr]


def test_without_a_gate_rules_alone_decide() -> None:
    matcher = compile_rules([TopicRule("s", "sécurité")], Lexicon())
    assert matcher.relationship(MatchInput("", "la sécurité")) is None
    assert matcher.match(MatchInput("", "la sécurité au Kenya"))
