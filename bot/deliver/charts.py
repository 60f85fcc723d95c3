"""The trend picture: stories per topic over the last 14 days, as a small PNG. Pure.

matplotlib is imported inside the function (it costs ~0.5 s and is needed only when a
digest or /trend is drawn), with the Agg backend: no display, no GUI toolkit. The title
and the day labels are the catalogue's (``bot.text``), in the reader's language.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

from bot.text import t

# One colour per seeded topic, stable across charts (colour-blind-safe Tableau 10).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def trend_png(
    days: Sequence[date],
    counts: Mapping[str, Sequence[int]],
    *,
    language: str,
    topic_order: Sequence[str] = (),
) -> bytes:
    """A stacked bar chart (one bar a day, one colour a topic) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    order = [slug for slug in topic_order if slug in counts]
    order += sorted(slug for slug in counts if slug not in order)
    figure, axes = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    try:
        bottoms = [0] * len(days)
        labels = [t(language, "trend_day", day=day.day, month=day.month) for day in days]
        for index, slug in enumerate(order):
            values = list(counts[slug])
            axes.bar(
                labels,
                values,
                bottom=bottoms,
                label=f"#{slug}",
                color=PALETTE[index % len(PALETTE)],
                width=0.8,
            )
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        axes.set_title(t(language, "trend_caption"), fontsize=11)
        axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        axes.tick_params(axis="y", labelsize=8)
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.spines[["top", "right"]].set_visible(False)
        if order:
            axes.legend(fontsize=7, ncol=3, frameon=False, loc="upper left")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


_BLOCKS = "▁▂▃▄▅▆▇█"


def trend_text(days: Sequence[date], counts: Mapping[str, Sequence[int]], *, language: str) -> str:
    """The same trend for a terminal (console mode): stories a day as one line of blocks,
    oldest first, with the busiest day's count. No PNG to render, no matplotlib."""
    totals = [sum(values[i] for values in counts.values()) for i in range(len(days))]
    peak = max(totals, default=0)
    line = "".join(
        "·" if n == 0 else _BLOCKS[min(len(_BLOCKS) - 1, (n * len(_BLOCKS) - 1) // peak)]
        for n in totals
    )
    return t(language, "trend_line", title=t(language, "trend_caption"), blocks=line, peak=peak)
