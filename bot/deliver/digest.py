"""Daily and weekly digests: when one is due, what it holds, how it reads. Pure.

- Daily (modes ``digest`` and ``both``): due once per local day, at or after the
  subscriber's digest time in their timezone; a day missed while mcwatch was down is
  not replayed: the next digest covers everything since the previous one and is sent
  late, once. A reader's first digest looks back a day (``FIRST_DIGEST_SPAN``).
- Weekly (mode ``weekly``): the same rules a week apart. Due from the subscriber's
  weekday (``subscribers.digest_day``, 0 = Monday) at their digest time, local, until
  one is sent; a daemon down at that moment sends it when it is back, once, dated the
  day it goes out; it covers everything since the previous digest, the first one the
  last week (``FIRST_WEEKLY_SPAN``). A reader's first digest ever comes on the day
  itself; moving the day to one that has passed since the last digest makes it due at
  once, as moving the daily time earlier does.
- ``due_digests`` is the one answer to "whose digest is due now?", for the digest job
  and the CLI's preview alike.
- Stories are grouped by topic (each story under its first topic), topics ordered by
  coverage (sources across their stories), stories by their number of sources.
- One numbered line per story; messages split at story boundaries, within Telegram's
  limit and at most ``DIGEST_LINES_PER_MESSAGE`` stories each (their verdict buttons).
  Its words are the catalogue's (``bot.text``: "1 sujet", "2 stories").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.deliver.render import (
    escape,
    format_date,
    pack_messages,
    safe_href,
    truncate_utf16,
)
from bot.feedback import DIGEST_LINES_PER_MESSAGE
from bot.provenance import mix_line
from bot.text import languages, names, t
from bot.types import DigestStory, Preferences

FIRST_DIGEST_SPAN = timedelta(hours=24)  # a new reader's first digest looks back a day
FIRST_WEEKLY_SPAN = timedelta(days=7)  # a new weekly reader's first one, the last week
WEEKLY = "weekly"  # subscribers.mode of a weekly reader
DAILY_MODES = ("digest", "both")
DIGEST_MODES = (*DAILY_MODES, WEEKLY)  # every mode that receives a digest
DEFAULT_DIGEST_DAY = 0  # Monday, for subscribers.digest_day None (ISO 8601 weeks start then)


@dataclass(frozen=True, slots=True)
class DigestSection:
    topic: str
    stories: tuple[DigestStory, ...]

    @property
    def coverage(self) -> int:
        return sum(story.sources for story in self.stories)


def digest_due(now: datetime, timezone: str, at: time, last_local_date: str | None) -> date | None:
    """The local date a digest is due for now, or None (already sent today, or too early)."""
    local = now.astimezone(ZoneInfo(timezone))
    today = local.date()
    if last_local_date is not None and last_local_date >= today.isoformat():
        return None
    if local.time().replace(tzinfo=None) < at:
        return None
    return today


def weekly_due(
    now: datetime, timezone: str, weekday: int, at: time, last_local_date: str | None
) -> date | None:
    """The local date a weekly digest is due for now (today: it is dated the day it goes
    out, as a late daily one is), or None.

    Due from the last ``weekday`` (0 = Monday) at ``at``, local, until one is sent: a
    digest since then (``last_local_date``, daily or weekly) means none. A reader who
    never had one gets the first on the day itself, from ``at`` on, as a new daily
    reader does: without a digest to go by, a day gone by is not a missed run. The wall
    clock decides, as for the daily digest, so a change of UTC offset (DST) moves
    nothing."""
    local = now.astimezone(ZoneInfo(timezone))
    today = local.date()
    latest = today - timedelta(days=(today.weekday() - weekday) % 7)
    if latest == today and local.time().replace(tzinfo=None) < at:
        latest -= timedelta(days=7)  # today is the day, but not yet the time
    if last_local_date is None:
        return today if latest == today else None
    if last_local_date >= latest.isoformat():
        return None
    return today


def parse_weekday(text: str, language: str) -> int | None:
    """A day of the week as a reader writes it (``/digestday``): 1–7 (1 = Monday, as in
    ISO 8601), or its name in an interface language (the catalogue's ``weekdays``),
    whole or cut after three letters or more ("lundi", "lun", "Monday", "mon", "tues"),
    case- and accent-insensitive; the reader's language is tried first. 0 = Monday …
    6 = Sunday, or None."""
    word = _fold(text).rstrip(".")
    if word.isascii() and word.isdigit():
        number = int(word)
        return number - 1 if 1 <= number <= 7 else None
    if len(word) < 3:
        return None
    for lang in dict.fromkeys((language, *languages())):
        for index, name in enumerate(names(lang, "weekdays")):
            if _fold(name).startswith(word):
                return index
    return None


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass(frozen=True, slots=True)
class DigestReader:
    """A subscriber as the digest sees them (``store.digests.digest_readers``)."""

    preferences: Preferences
    last_digest_at: datetime | None  # the end of the period their last digest covered
    last_local_date: str | None  # YYYY-MM-DD of their last digest, daily or weekly
    digest_day: int = DEFAULT_DIGEST_DAY  # a weekly reader's day: 0 = Monday … 6


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    """What one reader's digest covers: the stories that arrived in [start, end)."""

    reader: Preferences
    day: date  # the local date it is the digest of
    start: datetime
    end: datetime
    weekly: bool = False  # a weekly reader's: "Your week"


def digest_period(reader: DigestReader, now: datetime) -> DigestPeriod:
    """A reader's digest now: everything since their last one, or the last day (the
    last week, for a weekly reader)."""
    prefs = reader.preferences
    weekly = prefs.mode == WEEKLY
    start = reader.last_digest_at or now - (FIRST_WEEKLY_SPAN if weekly else FIRST_DIGEST_SPAN)
    return DigestPeriod(prefs, now.astimezone(prefs.zone).date(), start, now, weekly)


def reader_due(reader: DigestReader, now: datetime) -> date | None:
    """The local date a reader's digest is due for now (daily or weekly by their mode),
    or None."""
    prefs = reader.preferences
    if prefs.mode == WEEKLY:
        return weekly_due(
            now, prefs.timezone, reader.digest_day, prefs.digest_time, reader.last_local_date
        )
    return digest_due(now, prefs.timezone, prefs.digest_time, reader.last_local_date)


def due_digests(readers: Iterable[DigestReader], now: datetime) -> list[DigestPeriod]:
    """The digests due now, daily and weekly, in the readers' order (``reader_due``)."""
    return [digest_period(reader, now) for reader in readers if reader_due(reader, now) is not None]


def build_digest(stories: Sequence[DigestStory], topic_order: Sequence[str]) -> list[DigestSection]:
    rank = {slug: index for index, slug in enumerate(topic_order)}
    by_topic: dict[str, list[DigestStory]] = {}
    for story in stories:
        by_topic.setdefault(story.topic, []).append(story)
    sections = [
        DigestSection(
            topic, tuple(sorted(found, key=lambda s: (-s.sources, -s.published.timestamp())))
        )
        for topic, found in by_topic.items()
    ]
    return sorted(sections, key=lambda s: (-s.coverage, rank.get(s.topic, len(rank))))


def render_digest(
    sections: Sequence[DigestSection],
    *,
    language: str,
    day: date,
    topic_names: dict[str, str] | None = None,
    weekly: bool = False,
) -> list[str]:
    """The digest as Telegram HTML messages, split at story boundaries."""
    parts = render_digest_parts(
        sections, language=language, day=day, topic_names=topic_names, weekly=weekly
    )
    return [text for text, _ in parts]


def render_digest_parts(
    sections: Sequence[DigestSection],
    *,
    language: str,
    day: date,
    topic_names: dict[str, str] | None = None,
    weekly: bool = False,
) -> list[tuple[str, list[tuple[int, DigestStory]]]]:
    """The digest's messages, each with the stories it shows, (number, story) in order
    (its verdict buttons are theirs: ``bot.feedback.digest_keyboard``). Story lines are numbered
    across the digest, at most ``DIGEST_LINES_PER_MESSAGE`` a message."""
    count = sum(len(section.stories) for section in sections)
    title_key = "digest_title_weekly" if weekly else "digest_title"
    title = t(language, title_key, day=format_date(datetime.combine(day, time()), language))
    header = f"🗞 <b>{escape(title)}</b>"
    if not sections:
        return [(f"{header}\n{t(language, 'digest_empty')}", [])]
    header += " — " + t(language, "stories", n=count)
    lines: list[tuple[str, int]] = []
    shown: list[DigestStory] = []
    for section in sections:
        name = (topic_names or {}).get(section.topic, "")
        lines.append(("", 0))
        heading = f"<b>#{escape(section.topic)}</b>" + (f" · {escape(name)}" if name else "")
        lines.append((heading, 0))
        for story in section.stories:
            title = escape(truncate_utf16(" ".join(story.title.split()), 200))
            href = safe_href(story.link)
            if href:
                title = f'<a href="{escape(href)}">{title}</a>'
            # "3 sources: 🇲🇱 2 · 🇨🇳 1" when the store read who reported it (bot.provenance)
            sources = mix_line(story.outlets, language) or t(language, "sources", n=story.sources)
            shown.append(story)
            number = len(shown)
            lines.append(
                (f"{number}. {title} — <i>{escape(story.source[:60])}, {sources}</i>", number)
            )
    packed = pack_messages(header, lines, most=DIGEST_LINES_PER_MESSAGE)
    return [(text, [(n, shown[n - 1]) for n in numbers]) for text, numbers in packed]
