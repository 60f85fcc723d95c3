"""Unusual volume (issue 15): a topic's day well above its 14-day baseline. Pure.

A topic's volume is the number of distinct stories whose first item of that topic was
published on a day (a UTC day: Mali's time is UTC all year). Today so far is compared
with the 14 full days before it; a day that is ``unusual`` sends the topic's subscribers
one short note with its stories, once a day per topic (``bot.jobs.volume_tick`` sends,
``store.volume`` keeps who has been told).

The rule, and why:

| part                    | value                  | why                                    |
|-------------------------|------------------------|----------------------------------------|
| centre                  | median of the 14 days  | one earlier spike does not lift it     |
| spread                  | 1.4826 × MAD           | the MAD scaled to a standard deviation |
|                         |                        | on normal data; robust like the median |
| spread floor            | √median, and 1         | counts are Poisson-like: a flat        |
|                         |                        | history (MAD 0) still varies by √n; at |
|                         |                        | least one story of slack on a quiet    |
|                         |                        | topic                                  |
| unusual                 | today > centre + 3 ×   | the usual "three sigma" of a control   |
|                         | spread                 | chart, on robust estimates             |
| MIN_STORIES             | 4                      | a quiet topic going from 0 to 2 or 3   |
|                         |                        | stories is chance, not news            |

So a topic with a steady 2 stories a day needs 7 in a day (2 + 3 × √2 = 6.2), one with
none needs 4, one with 10 needs 20.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from bot.deliver.render import TELEGRAM_LIMIT, escape, safe_href, truncate_utf16, utf16_len
from bot.text import t

BASELINE_DAYS = 14
MIN_STORIES = 4
SIGMAS = 3.0
MAD_TO_SIGMA = 1.4826
MAX_LISTED = 10  # stories named in the note; the rest "… and N more"


@dataclass(frozen=True, slots=True)
class Baseline:
    centre: float
    spread: float

    @property
    def limit(self) -> float:
        """Today is unusual above this (and at ``MIN_STORIES`` or more)."""
        return self.centre + SIGMAS * self.spread


def baseline(days: Sequence[int]) -> Baseline:
    """The robust centre and spread of the baseline days' counts."""
    if not days:
        return Baseline(0.0, 1.0)
    centre = float(median(days))
    mad = float(median(abs(count - centre) for count in days))
    return Baseline(centre, max(MAD_TO_SIGMA * mad, math.sqrt(centre), 1.0))


def unusual(days: Sequence[int], today: int) -> bool:
    """Whether ``today``'s count is well above the ``days`` before it."""
    return today >= MIN_STORIES and today > baseline(days).limit


@dataclass(frozen=True, slots=True)
class NoteStory:
    title: str
    link: str | None
    source: str


def render_note(
    language: str, topic: str, name: str, stories: Sequence[NoteStory], days: Sequence[int]
) -> str:
    """The note: "📈 Unusual day for #mining: 8 stories today, usually 2 a day", and the
    stories, one Telegram message."""
    usual = f"{baseline(days).centre:g}"
    head = t(
        language,
        "volume_note",
        topic=escape(f"#{topic}" + (f" · {name}" if name else "")),
        n=len(stories),
        usual=usual.replace(".", ",") if language == "fr" else usual,
    )
    lines = [f"📈 <b>{head}</b>"]
    for index, story in enumerate(stories[:MAX_LISTED]):
        title = escape(truncate_utf16(" ".join(story.title.split()), 160))
        href = safe_href(story.link)
        if href:
            title = f'<a href="{escape(href)}">{title}</a>'
        line = f"• {title} — <i>{escape(story.source[:60])}</i>"
        rest = len(stories) - index
        tail = t(language, "volume_more", n=rest)
        if utf16_len("\n".join([*lines, line, tail])) > TELEGRAM_LIMIT:
            lines.append(tail)
            break
        lines.append(line)
    else:
        if len(stories) > MAX_LISTED:
            lines.append(t(language, "volume_more", n=len(stories) - MAX_LISTED))
    return "\n".join(lines)
