"""Matching benchmark: the compiled matcher vs one regex per term, side by side.

Run by hand: ``python bench/match_bench.py [--items 3000] [--repeat 5]``.

Builds a few thousand synthetic FR/EN feed items (generated from templates: mostly news
unrelated to Mali–China, some about one side only, some about both), compiles the seeded
topics of ``seeds/topics.yaml`` and reports, in one run:

- the compiled matcher: median over repetitions of the mean ms per item (everything:
  normalisation, one automaton pass per field, gate, every topic, terms and evidence);
- the baseline: one pre-compiled, word-bounded regex per distinct term of the same rules
  and gate, searched over the folded text. It only FINDS which terms occur (no rule
  logic at all), so the ratio understates the real gap;
- the same two again after adding 5,000 synthetic words OR'd into one topic.

Goals: compiled ≤ 0.2 ms per item; ≥ 30× faster than the baseline.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.match import (  # noqa: E402
    Lexicon,
    Matcher,
    compile_rules,
    load_topics_document,
    syntax,
)
from bot.match.text import fold  # noqa: E402
from bot.types import MatchInput, TopicRule  # noqa: E402

# --------------------------------------------------------------------------- items
MALI_FR = ["le Mali", "Bamako", "les autorités maliennes", "le gouvernement malien", "Kayes"]
MALI_EN = ["Mali", "Bamako", "Malian authorities", "the Malian government", "Sikasso"]
CHINA_FR = ["la Chine", "Pékin", "une entreprise chinoise", "l'ambassade de Chine", "Huawei"]
CHINA_EN = ["China", "Beijing", "a Chinese company", "the Chinese embassy", "Ganfeng"]
OTHER_FR = ["le Sénégal", "la Côte d'Ivoire", "le Ghana", "la France", "le Maroc", "le Kenya"]
OTHER_EN = ["Senegal", "Ghana", "Kenya", "Brazil", "Indonesia", "the European Union"]
TOPIC_FR = [
    "la construction d'une route",
    "un prêt concessionnel",
    "la sécurité des travailleurs",
    "une centrale solaire",
    "la mine de lithium",
    "des semences de riz hybride",
    "une équipe médicale",
    "la formation d'officiers",
    "une audience officielle",
]
TOPIC_EN = [
    "a new road",
    "a concessional loan",
    "the safety of workers",
    "a solar power plant",
    "the lithium mine",
    "hybrid rice seeds",
    "a medical team",
    "officer training",
    "an official visit",
]
VERB_FR = ["a signé avec", "a discuté avec", "annonce un accord avec", "a reçu"]
VERB_EN = ["signed a deal with", "held talks with", "announced an agreement with", "received"]
FILLER_FR = [
    "Les prix du carburant ont augmenté de 3 % ce mois-ci.",
    "Le match de football a été reporté à cause de la pluie.",
    "La saison des pluies s'annonce précoce selon la météo.",
    "Le festival de musique a réuni des milliers de spectateurs.",
    "Les enseignants ont entamé une grève de 72 heures.",
    "La banque centrale a maintenu son taux directeur.",
]
FILLER_EN = [
    "Fuel prices rose by 3% this month.",
    "The football match was postponed because of the rain.",
    "The rainy season is expected to start early this year.",
    "The music festival drew thousands of fans.",
    "Teachers began a 72-hour strike on Monday.",
    "The central bank kept its key rate unchanged.",
]


def make_items(count: int, seed: int = 7) -> list[MatchInput]:
    """Synthetic items: 70 % unrelated, 15 % one side only, 15 % Mali and China."""
    rng = random.Random(seed)
    items: list[MatchInput] = []
    for index in range(count):
        fr = index % 2 == 0
        mali, china, other = (MALI_FR, CHINA_FR, OTHER_FR) if fr else (MALI_EN, CHINA_EN, OTHER_EN)
        topic, verb = (TOPIC_FR, VERB_FR) if fr else (TOPIC_EN, VERB_EN)
        filler = FILLER_FR if fr else FILLER_EN
        kind = rng.random()
        if kind < 0.70:
            a, b = rng.sample(other, 2)
        elif kind < 0.85:
            a, b = rng.choice(mali + china), rng.choice(other)
        else:
            a, b = rng.choice(mali), rng.choice(china)
        subject = rng.choice(topic)
        title = f"{a.capitalize()} {rng.choice(verb)} {b} : {subject}"
        body = [f"{a.capitalize()} {rng.choice(verb)} {b} au sujet de {subject}."]
        if not fr:
            body = [f"{a.capitalize()} {rng.choice(verb)} {b} on {subject}."]
        body += rng.sample(filler, 3)
        rng.shuffle(body)
        items.append(MatchInput(title, " ".join(body), "fr" if fr else "en"))
    return items


# ------------------------------------------------------------------------ baseline
def _leaf_regex(leaf: syntax.Term | syntax.Phrase) -> str:
    terms = [leaf] if isinstance(leaf, syntax.Term) else list(leaf.terms)
    parts = []
    for term in terms:
        if isinstance(term, syntax.Alias):
            parts.append(r"\w+")
        else:
            parts.append(re.escape(term.text) + (r"\w*" if term.prefix else ""))
    return r"(?<!\w)" + r"\W+".join(parts) + r"(?!\w)"


def baseline_patterns(rules: Sequence[TopicRule], lexicon: Lexicon) -> list[re.Pattern[str]]:
    """One compiled regex per distinct term of the rules, their alias sets and the gate."""
    leaves: set[syntax.Term | syntax.Phrase] = set()
    for rule in rules:
        for leaf in syntax.leaves(syntax.parse(rule.query, lexicon.names, lexicon.phrase_names)):
            if isinstance(leaf, syntax.Alias):
                leaves.update(lexicon.expansion(leaf.name))
            else:
                leaves.add(leaf)
    for name in lexicon.aliases:
        leaves.update(lexicon.expansion(name))
    if lexicon.relationship is not None:
        for terms in lexicon.relationship.countries.values():
            leaves.update(syntax.parse_term(term) for term in terms)
    return [re.compile(_leaf_regex(leaf)) for leaf in leaves]


def baseline_match(patterns: list[re.Pattern[str]], doc: MatchInput) -> int:
    text = fold(doc.title) + "\n" + fold(doc.text)
    return sum(1 for pattern in patterns if pattern.search(text))


# ----------------------------------------------------------------------- measuring
def ms_per_item(run: Callable[[MatchInput], object], items: list[MatchInput], repeat: int) -> float:
    """Median over ``repeat`` passes of the mean milliseconds per item."""
    means = []
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            run(item)
        means.append((time.perf_counter() - start) * 1000 / len(items))
    return statistics.median(means)


def extra_words(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "zu", "ten", "bar", "qui", "vor", "xe", "dra", "pol", "nym"]
    result: set[str] = set()
    while len(result) < count:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(3, 5)))
        result.add(word + ("*" if rng.random() < 0.1 else ""))
    return sorted(result)


def run_case(
    label: str,
    rules: list[TopicRule],
    lexicon: Lexicon,
    items: list[MatchInput],
    repeat: int,
    baseline_items: int,
) -> None:
    start = time.perf_counter()
    matcher: Matcher = compile_rules(rules, lexicon)
    compile_ms = (time.perf_counter() - start) * 1000
    patterns = baseline_patterns(rules, lexicon)
    matched = sum(1 for item in items if matcher.match(item))
    fast = ms_per_item(matcher.match, items, repeat)
    subset = items[:baseline_items]
    slow = ms_per_item(lambda doc: baseline_match(patterns, doc), subset, max(1, repeat // 2))
    print(
        f"{label:<28} terms={len(patterns):>5}  compile={compile_ms:7.1f} ms  "
        f"matched={matched}/{len(items)}\n"
        f"{'':<28} compiled={fast:.4f} ms/item   regex-per-term={slow:.4f} ms/item   "
        f"ratio={slow / fast:,.1f}×   goal ≤ 0.2 ms: {'ok' if fast <= 0.2 else 'MISSED'}"
        f"   goal ≥ 30×: {'ok' if slow / fast >= 30 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-items", type=int, default=400)
    args = parser.parse_args()

    document = yaml.safe_load((ROOT / "seeds" / "topics.yaml").read_text(encoding="utf-8"))
    lexicon, specs = load_topics_document(document)
    rules = [spec.rule for spec in specs]
    items = make_items(args.items)
    print(f"{len(items)} synthetic items, {args.repeat} repetitions (median shown)")
    run_case("seeded topics", rules, lexicon, items, args.repeat, args.baseline_items)

    words = extra_words(5000)
    finance = next(rule for rule in rules if rule.slug == "finance")
    grown = [
        TopicRule(r.slug, f"({r.query}) OR ({' OR '.join(words)})", r.name) if r is finance else r
        for r in rules
    ]
    run_case("seeded + 5,000 extra terms", grown, lexicon, items, args.repeat, args.baseline_items)


if __name__ == "__main__":
    main()
