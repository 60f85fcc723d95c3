"""Normalise raw entries: plain text, canonical link, stable identity, aware date, language.

Pure: takes values, returns values. ``normalize_entry`` is idempotent on its output's
text fields (tested by property).
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.types import Item, RawEntry

# Query parameters that only track the reader, never select the article.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "ref_src",
        "cmpid",
        "xtor",
        "at_medium",
        "at_campaign",
        "ocid",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
# A publication date more than this far ahead is a publisher's clock or timezone bug.
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_TITLE = 500
MAX_SUMMARY = 20_000

_BLOCK_TAGS = frozenset(
    {
        "p",
        "br",
        "div",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "blockquote",
        "section",
        "article",
        "figure",
        "figcaption",
        "table",
        "hr",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "head"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_LINES = re.compile(r"\s*\n\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, space folded."""
    if "<" not in markup and "&" not in markup:
        text = markup
    else:
        parser = _TextExtractor()
        try:
            parser.feed(markup)
            parser.close()
            text = "".join(parser.parts)
        except AssertionError:  # HTMLParser on pathological markup
            text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    text = _SPACES.sub(" ", text)
    text = _LINES.sub("\n", text)
    return text.strip()


def one_line(text: str) -> str:
    return " ".join(text.split())


def canonical_url(url: str | None) -> str | None:
    """Drop tracking parameters and the fragment; lower-case scheme and host."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https"):
        return url
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMS and not key.lower().startswith(TRACKING_PREFIXES)
    ]
    netloc = parts.netloc.lower()
    if netloc.endswith(":80") and parts.scheme.lower() == "http":
        netloc = netloc[:-3]
    if netloc.endswith(":443") and parts.scheme.lower() == "https":
        netloc = netloc[:-4]
    return urlunsplit(
        (parts.scheme.lower(), netloc, parts.path or "/", urlencode(query, doseq=True), "")
    )


def item_identity(raw: RawEntry, link: str | None) -> str:
    """guid, else canonical link, else a hash of title and date (stable across polls)."""
    if raw.guid:
        return "guid:" + raw.guid[:1000]
    if link:
        return "link:" + link[:1000]
    basis = f"{one_line(html_to_text(raw.title)).casefold()}|"
    basis += raw.published.isoformat() if raw.published else ""
    return "hash:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()


_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# The most frequent short function words of each language; they barely overlap.
_FRENCH = frozenset(
    [
        "le",
        "la",
        "les",
        "des",
        "du",
        "de",
        "et",
        "est",
        "une",
        "un",
        "pour",
        "dans",
        "sur",
        "avec",
        "par",
        "qui",
        "que",
        "au",
        "aux",
        "ce",
        "cette",
        "ces",
        "son",
        "sa",
        "ses",
        "il",
        "elle",
        "ont",
        "sont",
        "été",
        "entre",
        "plus",
        "selon",
        "lors",
        "après",
        "depuis",
        "mais",
        "ou",
        "leur",
        "leurs",
        "nous",
        "vous",
        "lui",
        "se",
        "ne",
        "pas",
        "a",
        "à",
        "l",
        "d",
        "qu",
    ]
)
_ENGLISH = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "for",
        "on",
        "with",
        "by",
        "that",
        "an",
        "was",
        "were",
        "from",
        "has",
        "have",
        "as",
        "at",
        "its",
        "it",
        "this",
        "be",
        "are",
        "been",
        "which",
        "after",
        "their",
        "will",
        "who",
        "said",
        "between",
        "into",
        "over",
    ]
)


def detect_language(text: str, hint: str | None = None) -> str:
    """'fr', 'en' or 'other' from function-word counts; ``hint`` breaks weak evidence."""
    words = [w.casefold() for w in _WORD.findall(text[:4000])]
    french = sum(1 for w in words if w in _FRENCH)
    english = sum(1 for w in words if w in _ENGLISH)
    hint = (hint or "")[:2].lower()
    if french + english >= 3:
        if french >= 1.5 * english:
            return "fr"
        if english >= 1.5 * french:
            return "en"
    if hint in ("fr", "en"):
        return hint
    if french > english:
        return "fr"
    if english > french:
        return "en"
    return "other"


def normalize_entry(
    raw: RawEntry,
    *,
    now: datetime,
    feed_language: str | None = None,
    outlet_in_title: bool = False,
) -> Item:
    """RawEntry → Item. ``now`` stands in for a missing date and caps future ones.
    ``outlet_in_title``: an aggregator that ends its titles with the outlet's name
    (``names_outlet_in_title``) credits an entry without ``<source>`` to that name."""
    title = one_line(html_to_text(raw.title))[:MAX_TITLE]
    summary = html_to_text(raw.summary_html)[:MAX_SUMMARY]
    if html_to_text(title) != title:  # double-escaped titles ("&amp;lt;b&amp;gt;")
        title = one_line(html_to_text(title))
    outlet = raw.outlet or (title_outlet(title) if outlet_in_title else None)
    if outlet:
        title = strip_outlet(title, outlet)
        summary = strip_outlet(summary, outlet, after_space=True)
    link = canonical_url(raw.link)
    published = raw.published or now
    if published > now + FUTURE_TOLERANCE:
        published = now
    language = detect_language(f"{title}\n{summary}", hint=raw.language or feed_language)
    return Item(
        identity=item_identity(raw, link),
        title=title or (summary[:80] + "…" if len(summary) > 80 else summary) or "(untitled)",
        link=link,
        summary=summary,
        published=published,
        language=language,
        author=raw.author,
        outlet=outlet,
    )


# Aggregators whose item titles end with " - Outlet" (Google News: "Titre - Journal du
# Mali", with the outlet also in <source> when the feed has it).
OUTLET_IN_TITLE_HOSTS = frozenset({"news.google.com"})
MAX_OUTLET = 80  # an outlet's name is a few words; a longer tail is part of the title


def names_outlet_in_title(feed_url: str) -> bool:
    """Whether the feed at ``feed_url`` ends its titles with the outlet's name."""
    try:
        host = (urlsplit(feed_url).hostname or "").lower()
    except ValueError:
        return False
    return host in OUTLET_IN_TITLE_HOSTS


def title_outlet(title: str) -> str | None:
    """The outlet named after a title's last " - " ("… - Journal du Mali"), or None."""
    head, separator, tail = title.rstrip().rpartition(" - ")
    tail = tail.strip()
    if not separator or not head.strip() or not tail or len(tail) > MAX_OUTLET:
        return None
    return tail


_OUTLET_SEPARATORS = (" - ", " – ", " — ", " | ")


def strip_outlet(text: str, outlet: str, *, after_space: bool = False) -> str:
    """``text`` without the outlet name an aggregator appends ("… - Bamako.com" in Google
    News titles; after mere spaces at the end of its descriptions, ``after_space``). The
    outlet is who wrote it, not what it is about: "Bamako.com" would otherwise be the
    Mali side of a China–Niger story.
    """
    stripped = text.rstrip()
    if not stripped.casefold().endswith(outlet.casefold()) or len(stripped) == len(outlet):
        return text
    head = stripped[: -len(outlet)]
    for separator in _OUTLET_SEPARATORS:
        if head.endswith(separator):
            return head[: -len(separator)].rstrip()
    if after_space and head[-1:].isspace():
        return head.rstrip()
    return text

