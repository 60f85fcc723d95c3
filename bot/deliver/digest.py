"""Daily digests: when one is due, what it holds, how it reads. Pure.

- Due once per local day, at or after the subscriber's digest time in their timezone;
  a day missed while mcwatch was down is not replayed: the next digest covers
  everything since the previous one and is sent late, once. A reader's first digest
  looks back a day (``FIRST_DIGEST_SPAN``). ``due_digests`` is the one answer to "whose
  digest is due now?", for the digest job and the CLI's preview alike.
- Stories are grouped by topic (each story under its first topic), topics ordered by
  coverage (sources across their stories), stories by their number of sources.
- One line per story; messages split at story boundaries, within Telegram's limit.
  Its words are the catalogue's (``bot.text``: "1 sujet", "2 stories").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.deliver.render import (
    escape,
    format_date,
    safe_href,
    split_messages,
    truncate_utf16,
)
from bot.text import t
from bot.types import DigestStory, Preferences

FIRST_DIGEST_SPAN = timedelta(hours=24)  # a new reader's first digest looks back a day


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


@dataclass(frozen=True, slots=True)
class DigestReader:
    """A subscriber as the digest sees them (``store.digests.digest_readers``)."""

    preferences: Preferences
    last_digest_at: datetime | None  # the end of the period their last digest covered
    last_local_date: str | None  # YYYY-MM-DD of their last daily digest


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    """What one reader's digest covers: the stories that arrived in [start, end)."""

    reader: Preferences
    day: date  # the local date it is the digest of
    start: datetime
    end: datetime


def digest_period(reader: DigestReader, now: datetime) -> DigestPeriod:
    """A reader's digest now: everything since their last one, or the last day."""
    prefs = reader.preferences
    start = reader.last_digest_at or now - FIRST_DIGEST_SPAN
    return DigestPeriod(prefs, now.astimezone(prefs.zone).date(), start, now)


def due_digests(readers: Iterable[DigestReader], now: datetime) -> list[DigestPeriod]:
    """The daily digests due now, in the readers' order (see ``digest_due``)."""
    due = []
    for reader in readers:
        prefs = reader.preferences
        if digest_due(now, prefs.timezone, prefs.digest_time, reader.last_local_date) is not None:
            due.append(digest_period(reader, now))
    return due


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
) -> list[str]:
    """The digest as Telegram HTML messages, split at story boundaries."""
    count = sum(len(section.stories) for section in sections)
    title = t(language, "digest_title", day=format_date(datetime.combine(day, time()), language))
    header = f"🗞 <b>{escape(title)}</b>"
    if not sections:
        return [f"{header}\n{t(language, 'digest_empty')}"]
    header += " — " + t(language, "stories", n=count)
    lines: list[str] = []
    for section in sections:
        name = (topic_names or {}).get(section.topic, "")
        lines.append("")
        lines.append(f"<b>#{escape(section.topic)}</b>" + (f" · {escape(name)}" if name else ""))
        for story in section.stories:
            title = escape(truncate_utf16(" ".join(story.title.split()), 200))
            href = safe_href(story.link)
            if href:
                title = f'<a href="{escape(href)}">{title}</a>'
            sources = t(language, "sources", n=story.sources)
            lines.append(f"• {title} — <i>{escape(story.source[:60])}, {sources}</i>")
    return split_messages(header, lines)
