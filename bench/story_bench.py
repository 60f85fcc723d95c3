"""Story grouping benchmark: cost per new item against 1,000 and 50,000 stored stories.

Run by hand: ``python bench/story_bench.py [--probes 300] [--repeat 5]``.

Stored stories are synthetic reports (names, places, sectors, events drawn from word
lists, French and English) arriving at one desk's rate, about 140 a day: 1,000 stories
are a week of history, 50,000 nearly a year. A batch of new items arrives at the end.
Per batch, as ``pipeline.store_items`` does: the stored items published within the
grouping window are read as candidates (by published time, as the indexed query does),
fingerprinted (cached, as ``Deps.fingerprint`` does), indexed in a ``StoryPool``, and each
new item is grouped. Reported: median over repetitions of ms per new item for each
history, and the ratio 50k / 1k (goal: about 1 — the cost depends on the stories in the
window, never on the length of the history).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from bisect import bisect_left
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.ingest import dedupe

PLACES = "Kayes Sikasso Ségou Mopti Kita Kidal Gao Bougouni Kéniéba Koulikoro Tombouctou".split()
ACTORS = "Ganfeng Huawei Sinohydro CGGC Norinco PowerChina Kodal Hainan CRBC Exim".split()
EVENTS_FR = [
    "signe un accord de prêt pour", "livre des équipements à", "inaugure une centrale à",
    "forme des techniciens à", "ouvre un chantier routier à", "enlèvement d'ouvriers à",
    "reçoit une délégation de", "remet un don de riz à",
]
EVENTS_EN = [
    "signs a loan agreement for", "delivers equipment to", "opens a power plant in",
    "trains technicians in", "starts road works in", "workers kidnapped near",
    "receives a delegation from", "hands over a rice donation to",
]


def report(rng: random.Random) -> tuple[str, str, str]:
    lang = rng.choice(("fr", "en"))
    events = EVENTS_FR if lang == "fr" else EVENTS_EN
    actor, place, event = rng.choice(ACTORS), rng.choice(PLACES), rng.choice(events)
    n = rng.randint(2, 900)
    title = f"{actor} {event} {place}"
    summary = (
        f"{actor} {event} {place} ({n} {'millions' if lang == 'fr' else 'million'}), "
        f"{'selon le ministère' if lang == 'fr' else 'the ministry said'} {rng.randint(1, 28)}."
    )
    return title, summary, lang


@cache
def cached(item_id: int, story_id: int, title: str, summary: str, lang: str, at: datetime
           ) -> dedupe.Fingerprint:
    return dedupe.fingerprint(item_id, story_id, title, summary, lang, at)


def run(stored: int, probes: int, days: float, seed: int) -> float:
    rng = random.Random(seed)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    history = [
        (i, i, *report(rng), end - timedelta(days=days) * rng.random()) for i in range(stored)
    ]
    new = [(stored + i, *report(rng), end - timedelta(hours=rng.random() * 12))
           for i in range(probes)]
    window = dedupe.THRESHOLDS.repost_window
    history.sort(key=lambda h: h[-1])
    start = time.perf_counter()
    low = min(at for *_, at in new) - window
    first = bisect_left([h[-1] for h in history], low)  # the index on items.published
    candidates = history[first:]
    pool = dedupe.StoryPool([cached(*c) for c in candidates])
    for item_id, title, summary, lang, at in new:
        probe = dedupe.fingerprint(item_id, None, title, summary, lang, at)
        chosen = pool.choose(probe)
        pool.add(replace(probe, story_id=chosen or -item_id))
    return (time.perf_counter() - start) * 1000 / probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {}
    sizes = (("1k stories (7 days)", 1_000, 7.0), ("50k stories (357 days)", 50_000, 357.0))
    for label, stored, days in sizes:
        run(stored, args.probes, days, 0)  # warm the fingerprint cache, as a running poll has
        times = [run(stored, args.probes, days, 0) for _ in range(args.repeat)]
        results[label] = statistics.median(times)
        print(f"{label:<34} {results[label]:.3f} ms per new item (median of {args.repeat})")
    ratio = results[sizes[1][0]] / results[sizes[0][0]]
    print(f"50k / 1k: {ratio:.2f}×")


if __name__ == "__main__":
    main()
