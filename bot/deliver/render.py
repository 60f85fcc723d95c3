"""Alerts → Telegram HTML. Pure.

Guarantees: everything from feeds is escaped (``html.escape``; links only http(s));
a message never exceeds Telegram's 4096 characters, counted as Telegram counts them —
in UTF-16 code units (an emoji outside the BMP is two). We bound the *markup*, which is
never shorter than the visible text Telegram measures, so the bound is safe. Its words
(labels, dates) are the catalogue's (``bot.text``), in the reader's language.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from bot.provenance import flag, mix_line, outlet_label
from bot.text import names, t
from bot.types import Alert

TELEGRAM_LIMIT = 4096
SUMMARY_SENTENCES = 3
SUMMARY_MAX_CHARS = 600  # about three news sentences; keeps alerts readable on a phone
TITLE_MAX_CHARS = 300
# An outlet's name on the alert's first line, and each name "also reported by" lists:
# a feed title or a Google News <source> can be any length; a name is a few words.
SOURCE_MAX_CHARS = 120


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    return html.escape(text, quote=True)


# Longest link we put in an href. 2,048 is the common practical bound (sitemaps.org,
# old browsers); a longer one is a broken or hostile feed, and would make one list line
# (/latest, digests) longer than a whole message. Such a title is shown unlinked.
MAX_HREF_CHARS = 2048


def safe_href(url: str | None) -> str | None:
    """``url`` if it is a reasonable http(s) link, else None (the title goes unlinked)."""
    if not url or len(url) > MAX_HREF_CHARS:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"»”’)]*\s+(?=[\"«“(]?[A-ZÀ-ÖØ-Þ0-9])")


def summarise(
    text: str, *, sentences: int = SUMMARY_SENTENCES, max_chars: int = SUMMARY_MAX_CHARS
) -> str:
    """The first 1–3 sentences of ``text``, cut at a sentence boundary when possible."""
    text = " ".join(text.split())
    if not text:
        return ""
    parts = _SENTENCE_END.split(text)
    summary = ""
    for part in parts[:sentences]:
        candidate = f"{summary} {part}".strip()
        if len(candidate) > max_chars:
            break
        summary = candidate
    if not summary:  # one very long first sentence: cut at a word boundary
        cut = text[:max_chars].rsplit(" ", 1)[0]
        summary = cut.rstrip(",;:") + "…"
    return summary


def format_date(when: datetime, language: str) -> str:
    """The locale's ``date`` with its ``months``: "23 févr. 2026", "23 Feb 2026"."""
    month = names(language, "months")[when.month - 1]
    return t(language, "date", day=when.day, month=month, year=when.year)


def truncate_utf16(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-16 units without splitting a character."""
    if utf16_len(text) <= limit:
        return text
    out: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def render_alert(alert: Alert, *, plain: bool = False) -> str:
    """One alert message: source and date, linked title, summary, topics and terms.

    ``plain`` renders the same content without markup (the retry after a rejected
    HTML message).
    """
    title = truncate_utf16(" ".join(alert.title.split()), TITLE_MAX_CHARS)
    # "Xinhua · 🇨🇳 state media · 3 déc." (bot.provenance): who is speaking, then when.
    source = truncate_utf16(" ".join(alert.source.split()), SOURCE_MAX_CHARS)
    speaker = outlet_label(alert.country, alert.kind, alert.language)
    header = " · ".join(
        part for part in (source, speaker, format_date(alert.published, alert.language)) if part
    )
    tags = " ".join(f"#{slug}" for slug in alert.topics)
    terms = ", ".join(alert.terms[:8])
    also = ", ".join(
        truncate_utf16(" ".join(name.split()), SOURCE_MAX_CHARS)
        for name in alert.also_reported_by[:8]
    )
    sources_mix = mix_line(alert.outlets, alert.language)  # "3 sources: 🇲🇱 2 · 🇨🇳 1"
    # "👁 Your watch: huawei" (bot.watches): why a reader got a story outside their topics
    watched = ", ".join(truncate_utf16(query, 60) for query in alert.watches[:3])
    # "🆕 First mention: Kuntai" (bot.mentions): no earlier Mali–China story named it
    firsts = ", ".join(truncate_utf16(name, 60) for name in alert.first_mentions[:5])
    href = safe_href(alert.link)

    def build(summary: str) -> str:
        if plain:
            lines = [header, title]
            if href:
                lines.append(href)
        else:
            title_html = f"<b>{escape(title)}</b>"
            if href:
                title_html = f'<a href="{escape(href)}">{title_html}</a>'
            lines = [f"📰 <i>{escape(header)}</i>", title_html]
        if summary:
            lines.append("")
            lines.append(summary if plain else escape(summary))
        footer = tags
        if terms:
            shown = terms if plain else f"<i>{escape(terms)}</i>"
            footer += " · " + t(alert.language, "alert_terms", terms=shown)
        lines.append("")
        lines.append(footer.strip())
        if sources_mix:
            lines.append(sources_mix if plain else escape(sources_mix))
        if also:
            lines.append(t(alert.language, "alert_also", sources=also if plain else escape(also)))
        if watched:
            shown = watched if plain else escape(watched)
            key = "alert_watch" if len(alert.watches) == 1 else "alert_watches"
            lines.append(t(alert.language, key, watches=shown))
        if firsts:
            shown = firsts if plain else escape(firsts)
            lines.append(t(alert.language, "alert_first_mention", names=shown))
        return "\n".join(lines)

    summary = summarise(alert.summary)
    message = build(summary)
    while utf16_len(message) > TELEGRAM_LIMIT and summary:
        # Shrink the summary first: the title, link and topics are the alert.
        summary = truncate_utf16(
            summary, max(0, utf16_len(summary) - (utf16_len(message) - TELEGRAM_LIMIT) - 16)
        )
        if utf16_len(summary) < 20:
            summary = ""
        message = build(summary)
    return message


def render_item_line(
    title: str,
    link: str | None,
    source: str,
    published: datetime,
    topics: tuple[str, ...],
    language: str,
    country: str | None = None,
) -> str:
    """One line of a list (/latest, /search, digests): linked title, source (with its
    flag, when its country is known), date, tags."""
    title_html = escape(truncate_utf16(" ".join(title.split()), TITLE_MAX_CHARS))
    href = safe_href(link)
    if href:
        title_html = f'<a href="{escape(href)}">{title_html}</a>'
    tags = " ".join(f"#{slug}" for slug in topics)
    outlet = escape(" ".join(source.split())[:80]) + (f" {flag(country)}" if flag(country) else "")
    meta = f"{outlet}, {format_date(published, language)}"
    return f"• {title_html} — <i>{meta}</i>" + (f" {tags}" if tags else "")


def _fit_line(line: str, budget: int) -> str:
    """``line`` (our HTML) within ``budget`` units. A line that long is pathological (a
    title of quotes with a long link full of ``&``: escaping grows them up to 6×); it
    keeps its words as escaped text, without markup, never cut through a tag or entity."""
    if utf16_len(line) <= budget:
        return line
    text = html_to_console(line)
    size = budget
    while True:
        fitted = escape(truncate_utf16(text, size))
        if utf16_len(fitted) <= budget:
            return fitted
        size = min(size - 1, size * budget // utf16_len(fitted))


def split_messages(header: str, lines: list[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Pack ``lines`` under ``header`` into as few messages as fit, never splitting a line
    (a line longer than a message alone loses its markup and is cut, see ``_fit_line``)."""
    return [text for text, _ in pack_messages(header, [(line, 0) for line in lines], limit)]


def pack_messages(
    header: str,
    lines: Sequence[tuple[str, int]],
    limit: int = TELEGRAM_LIMIT,
    *,
    most: int | None = None,
) -> list[tuple[str, list[int]]]:
    """``split_messages`` for lines that carry a tag (0: none): each message with the
    tags of its lines, at most ``most`` tagged lines a message (a digest message's
    stories, whose buttons Telegram caps)."""
    messages: list[tuple[str, list[int]]] = []
    current, tags = header, list[int]()
    # Telegram counts a message's text after parsing its HTML (tags gone, entities one
    # character): a digest line's link and markup do not count against the 4,096.
    shown = visible_len(header)
    for line, tag in lines:
        line = _fit_line(line, limit - 2)
        size = visible_len(line)
        full = most is not None and tag and len(tags) >= most
        if current and (shown + 1 + size > limit or full):
            messages.append((current, tags))
            current, tags, shown = line, [], size
        elif current:
            current, shown = f"{current}\n{line}", shown + 1 + size
        else:
            current, shown = line, size
        if tag:
            tags.append(tag)
    if current:
        messages.append((current, tags))
    return messages


def visible_len(text: str) -> int:
    """What Telegram counts of our HTML against its limits: the text after entity
    parsing, in UTF-16 code units."""
    return utf16_len(html_to_console(text))


_TAG = re.compile(r"<[^>]+>")


def html_to_console(text: str) -> str:
    """The visible text of our own Telegram HTML (console mode, previews)."""
    return html.unescape(_TAG.sub("", text))
