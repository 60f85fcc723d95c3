"""Story grouping: the corpus backtest (issue 6's acceptance) and named cases."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.ingest.dedupe import THRESHOLDS, choose_story, features, fingerprint, why_same_story

CORPUS = Path(__file__).parent / "data" / "corpus.yaml"


def published(entry: dict[str, Any]) -> datetime:
    value = entry["published"]
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def group(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Feed the items in publication order, as the pipeline would; item id → story."""
    known = []
    assigned: dict[str, int] = {}
    for number, entry in enumerate(sorted(entries, key=published), 1):
        probe = fingerprint(
            number, None, entry["title"], entry["summary"], entry["lang"], published(entry)
        )
        story = choose_story(probe, known) or number
        assigned[entry["id"]] = story
        known.append(replace(probe, story_id=story))
    return assigned


def test_story_grouping_on_the_corpus_pairwise() -> None:
    entries = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    predicted = group(entries)
    truth = {e["id"]: e.get("story") or e["id"] for e in entries}
    assert sum(1 for e in entries if e.get("story")) >= 100  # the groups are there
    true_pos = false_pos = false_neg = 0
    for a, b in itertools.combinations(truth, 2):
        same, grouped = truth[a] == truth[b], predicted[a] == predicted[b]
        true_pos += same and grouped
        false_pos += grouped and not same
        false_neg += same and not grouped
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(f"story grouping: pairwise precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.9 and recall >= 0.9


T0 = datetime(2026, 2, 23, 9, tzinfo=UTC)
KIDNAP_FR = (
    "Kéniéba : enlèvement de travailleurs chinois sur un site aurifère",
    "Des hommes armés ont enlevé plusieurs ouvriers chinois près de Kéniéba, "
    "dans l'ouest du Mali, selon des sources sécuritaires.",
)
KIDNAP_EN = (
    "Gunmen abduct Chinese workers at gold mine near Kenieba",
    "Armed men kidnapped several Chinese nationals at a gold mining site in "
    "western Mali's Kenieba area, security sources said.",
)
LOAN_FR = (
    "Route Kati-Kolokani : la Chine accorde un prêt de 40 milliards",
    "Le ministre de l'Économie a signé avec l'Exim Bank of China un accord de prêt "
    "pour la réhabilitation de la route Kati-Kolokani.",
)


def test_french_and_english_coverage_of_one_event_is_one_story() -> None:
    first = fingerprint(1, 1, *KIDNAP_FR, "fr", T0)
    second = fingerprint(2, None, *KIDNAP_EN, "en", T0 + timedelta(hours=5))
    assert choose_story(second, [first]) == 1


def test_the_same_actors_a_week_later_are_a_new_story() -> None:
    first = fingerprint(1, 1, *KIDNAP_FR, "fr", T0)
    later = fingerprint(2, None, *KIDNAP_EN, "en", T0 + timedelta(days=7))
    assert choose_story(later, [first]) is None
    assert THRESHOLDS.window < timedelta(days=7)


def test_different_events_stay_apart() -> None:
    kidnap = fingerprint(1, 1, *KIDNAP_FR, "fr", T0)
    loan = fingerprint(2, None, *LOAN_FR, "fr", T0 + timedelta(hours=1))
    assert choose_story(loan, [kidnap]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("le 18e ambassadeur", {"18"}),
        ("the 18th ambassador", {"18"}),
        ("Mali's Goulamina mine", {"goulami"}),
        ("L’ambassadeur Li Xiang", {"xiang"}),
    ],
)
def test_anchors_are_language_neutral(text: str, expected: set[str]) -> None:
    _, anchors, _ = features("", f"Ce matin, {text} était là.")
    assert expected <= anchors


# Same actors, same week, different events: told apart by what they name in figures,
# dates, objects and kinds of event (a summit week puts dozens of these side by side).
def _one_story(a: tuple[str, str], b: tuple[str, str], hours: float = 2) -> bool:
    first = fingerprint(1, 1, *a, "fr", T0)
    second = fingerprint(2, None, *b, "fr", T0 + timedelta(hours=hours))
    return choose_story(second, [first]) == 1


RICE_5000 = (
    "Sécurité alimentaire : la Chine offre 5 000 tonnes de riz au Mali",
    "L'ambassadeur de Chine a remis au commissaire à la sécurité alimentaire un don "
    "de 5 000 tonnes de riz destiné aux ménages vulnérables de Ségou et Mopti.",
)


def test_different_figures_of_one_kind_are_different_events() -> None:
    other_gift = (
        "Don chinois : 3 000 tonnes de riz pour les ménages vulnérables",
        "Un nouveau lot de 3 000 tonnes de riz offert par la Chine a été remis au "
        "commissaire à la sécurité alimentaire pour les ménages de Ségou et Mopti.",
    )
    assert not _one_story(RICE_5000, other_gift)


def test_a_rounded_figure_meets_the_exact_one() -> None:
    rounded = (
        "La Chine fait don de plus de 5 000 tonnes de riz aux ménages vulnérables",
        "Plus de 5 000 tonnes de riz offertes par la Chine ont été remises au "
        "commissaire à la sécurité alimentaire pour Ségou et Mopti.",
    )
    exact = (RICE_5000[0].replace("5 000", "5 040"), RICE_5000[1].replace("5 000", "5 040"))
    assert _one_story(exact, rounded)


def test_figures_of_other_kinds_do_not_conflict() -> None:
    # 120 km is where the plant is, 100 MW what it makes: one plant, one story
    megawatts = (
        "Énergie : la centrale solaire de 100 MW de Fana mise en service",
        "Construite par un groupe chinois, la centrale de 100 MW injecte sa production "
        "dans le réseau d'EDM-sa.",
    )
    kilometres = (
        "Fana : la centrale solaire chinoise entre en service",
        "La centrale solaire bâtie par un groupe chinois à Fana, à 120 km de Bamako, "
        "injecte sa production dans le réseau d'EDM-sa.",
    )
    assert _one_story(megawatts, kilometres)


def test_different_days_are_different_events() -> None:
    first = (
        "Kangaba : des orpailleurs chinois interpellés le 3 mars",
        "La brigade fluviale a interpellé le 3 mars des ressortissants chinois qui "
        "exploitaient des dragues sur le fleuve Niger près de Kangaba.",
    )
    second = (
        "Kangaba : nouveau coup de filet contre des orpailleurs chinois le 12 mars",
        "La brigade fluviale a interpellé le 12 mars des ressortissants chinois qui "
        "exploitaient des dragues sur le fleuve Niger près de Kangaba.",
    )
    assert not _one_story(first, second)
    # the day of a date is not a figure: "le 3 mars" and "March 3" meet
    english = (
        "Chinese gold dredgers arrested near Kangaba on March 3",
        "Mali's river brigade on March 3 arrested Chinese nationals operating dredges "
        "on the Niger river near Kangaba.",
    )
    assert _one_story(first, english)


def test_different_objects_are_different_events() -> None:
    drones = (
        "Défense : la Chine livre des drones aux FAMa",
        "Le ministre de la Défense a réceptionné à Bamako un lot de drones de "
        "fabrication chinoise destinés aux Forces armées maliennes.",
    )
    trucks = (
        "Défense : des camions chinois livrés aux FAMa",
        "Le ministre de la Défense a réceptionné à Bamako un lot de camions de "
        "fabrication chinoise destinés aux Forces armées maliennes.",
    )
    assert not _one_story(drones, trucks)


def test_what_happened_decides_over_who_met() -> None:
    training = (
        "Défense : des officiers maliens en formation en Chine",
        "Le ministre de la Défense Sadio Camara a annoncé la formation de cinquante "
        "officiers des FAMa dans les écoles militaires chinoises.",
    )
    handover = (
        "Défense : Sadio Camara réceptionne un don de matériel chinois",
        "Le ministre de la Défense Sadio Camara a réceptionné un don de matériel "
        "militaire chinois destiné aux FAMa.",
    )
    assert not _one_story(training, handover)


def test_figures_read_apart_from_separators_and_units() -> None:
    probe = fingerprint(
        1, None, "Une centrale de 100MW pour $55m", "200 000 ménages, le 15 décembre", "fr", T0
    )
    assert {"100:mw", "55:m", "@12-15"} <= probe.figures
    assert "200000" in probe.anchors and "000" not in probe.anchors
    assert "15" not in probe.anchors


def test_different_regions_firms_and_weekdays_are_different_events() -> None:
    def probe(item_id: int, title: str, summary: str) -> Any:
        return fingerprint(item_id, None, title, summary, "fr", T0)

    gouina = probe(1, "Barrage de Gouina : la centrale chinoise tourne à plein", "")
    kenie = probe(2, "Barrage de Kénié : un consortium chinois retenu", "")
    assert gouina.regions == {"Kayes"} and kenie.regions == {"Koulikoro"}
    assert choose_story(kenie, [replace(gouina, story_id=1)]) is None
    # a town of the region and the region itself meet
    town = probe(3, "Kéniéba : trois ressortissants chinois enlevés", "")
    region = probe(4, "Trois Chinois enlevés dans la région de Kayes", "")
    assert town.regions == region.regions == {"Kayes"}
    ganfeng = probe(5, "Lithium : Ganfeng obtient un permis d'exportation", "")
    kodal = probe(6, "Lithium : Kodal et Hainan Mining obtiennent un permis d'exportation", "")
    assert "different firms" in why_same_story(ganfeng, kodal)
    site = "Des Chinois enlevés sur un site aurifère"
    tuesday = probe(7, site, "L'attaque a eu lieu mardi soir.")
    thursday = probe(8, site, "L'attaque a eu lieu jeudi soir.")
    friday = probe(9, "Chinese workers kidnapped at gold site", "Gunmen struck on Friday.")
    assert "different weekdays" in why_same_story(tuesday, thursday)
    assert "weekdays" not in why_same_story(thursday, friday)  # a day apart meets


def test_a_kidnapping_and_an_attack_are_different_events() -> None:
    kidnap = fingerprint(1, None, "Deux employés chinois enlevés sur le chantier", "", "fr", T0)
    attack = fingerprint(2, None, "Attack on convoy of Chinese workers kills soldier", "", "en", T0)
    both = fingerprint(3, None, "Gunmen attack gold site and abduct Chinese workers", "", "en", T0)
    assert "kinds" in why_same_story(kidnap, attack)
    assert "kinds" not in why_same_story(kidnap, both)


def test_a_contract_won_more_time_and_the_works_done_are_different_events() -> None:
    award = fingerprint(
        1, None, "Un groupe chinois décroche le chantier de la route Kayes-Bafoulabé", "", "fr", T0
    )
    delay = fingerprint(
        2,
        None,
        "Route Kayes-Bafoulabé : le groupe chinois obtient un délai de six mois",
        "",
        "fr",
        T0,
    )
    won = fingerprint(3, None, "Chinese group wins the Kayes-Bafoulabe road contract", "", "en", T0)
    late = fingerprint(
        4, None, "Kayes-Bafoulabe road: Chinese contractor granted extension", "", "en", T0
    )
    assert "kinds" in why_same_story(award, delay)
    assert "kinds" in why_same_story(won, late)
    assert "kinds" not in why_same_story(award, won)  # one award, two languages
    assert "kinds" not in why_same_story(delay, late)
    done = fingerprint(
        5, None, "Route Kayes-Bafoulabé : le groupe chinois achève les travaux", "", "fr", T0
    )
    finished = fingerprint(
        6, None, "Chinese contractor completes Kayes-Bafoulabe road", "", "en", T0
    )
    assert "kinds" in why_same_story(award, done) and "kinds" in why_same_story(won, finished)
    assert "kinds" not in why_same_story(done, finished)


def test_taxes_paid_and_a_permit_granted_are_different_events() -> None:
    """The same Chinese miner, the same day: its permit and its tax bill are two stories,
    whatever the firm and the site they share; each in two languages is one."""
    headline = "Sikasso : Wanbao Mining obtient sa licence d'exploitation de lithium"
    permit = fingerprint(1, None, headline, "", "fr", T0)
    granted = fingerprint(
        2, None, "Mali grants Chinese firm Wanbao Mining a lithium licence", "", "en", T0
    )
    taxes = fingerprint(
        3, None, "Wanbao Mining a versé 8 milliards de FCFA d'impôts au Trésor", "", "fr", T0
    )
    royalties = fingerprint(
        4, None, "Wanbao Mining paid 8 billion CFA francs in royalties and taxes", "", "en", T0
    )
    assert "kinds" in why_same_story(permit, taxes)
    assert "kinds" in why_same_story(granted, royalties)
    assert "kinds" not in why_same_story(taxes, royalties)
    assert choose_story(royalties, [replace(taxes, story_id=3)]) == 3


@pytest.mark.parametrize(
    "headline",
    [
        "How Chinese loans built Mali's new road network",
        "Mali's road boom: how Chinese loans paid for it",
        "Routes du Mali : comment les prêts chinois ont tout changé",
        "Analyse — les prêts chinois et les routes maliennes",
    ],
)
def test_an_analysis_is_never_a_copy_of_the_news_it_explains(headline: str) -> None:
    news = fingerprint(1, None, "China lends Mali $120m for the Kati-Kolokani road", "", "en", T0)
    piece = fingerprint(2, None, headline, "", "en", T0)
    assert "an analysis and the news" in why_same_story(news, piece)
