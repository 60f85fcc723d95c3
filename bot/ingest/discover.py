"""What a user gives as a feed: is it a URL mcwatch can poll, and which feed does a web
page announce? Pure: strings and bytes in, values out.

- ``feed_url_problem(url)``: why ``url`` is not an http(s) URL with a host and a valid
  port, or None. The one check behind ``feeds add``, ``feeds check``, OPML import and the
  seed feeds, so all four accept and refuse the same URLs.
- ``announced_feeds(body, page_url)``: the feeds an HTML page announces with
  ``<link rel="alternate" type="application/rss+xml" href="…">`` (or Atom, RSS 1.0, JSON Feed),
  resolved against the page's URL (or its ``<base href>``), in document order — what
  Feedly and miniflux subscribe to when given a site's address instead of its feed.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

SCHEMES = ("http", "https")
# RFC 9110 §4.1 asks senders and recipients to support URIs of at least 8,000 octets;
# longer ones are refused by many servers, and no feed URL needs them.
MAX_URL_LENGTH = 8000
# The media types of the feeds bot.ingest.parse reads. Plain application/json is left out:
# WordPress announces its REST API with rel="alternate" type="application/json".
FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json"}
)

# A DNS label (RFC 1123 §2.1 letters, digits, hyphens; underscores occur in real host
# names and every HTTP client accepts them).
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_IPV4ISH = re.compile(r"^[0-9.]+$")


def feed_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a feed's URL, in a user's words; None when it can be.

    Accepted: ``http``/``https``, a host (a DNS name, an IDN, an IPv4 address or a
    bracketed IPv6 one), an optional port from 1 to 65535, no whitespace or control
    character anywhere. Surrounding whitespace is the caller's to strip.
    """
    if not url:
        return "the URL is empty"
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": an unbalanced or malformed [ ] host
        return "not a valid host name"
    if parts.scheme.lower() not in SCHEMES:
        return "not an http(s) URL"
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in url):
        return "a URL cannot contain spaces or control characters"
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    try:
        port = parts.port  # None when absent or empty ("host:/"), the scheme's default
    except ValueError:  # "Port out of range 0-65535", "Port could not be cast to integer"
        port = 0
    if port == 0:
        return "the port must be a number from 1 to 65535"
    host = parts.hostname or ""
    if not host:
        return "the URL has no host"
    if not _valid_host(host, bracketed="[" in parts.netloc):
        return f"not a valid host name: {host}"
    return None


def _valid_host(host: str, *, bracketed: bool) -> bool:
    if bracketed:  # urlsplit checks that a bracketed host is an IPv6 (or IPvFuture) literal
        return ":" in host
    if _IPV4ISH.match(host):
        numbers = host.split(".")
        return len(numbers) == 4 and all(n.isdigit() and int(n) <= 255 for n in numbers)
    name = host[:-1] if host.endswith(".") else host  # a trailing dot: the DNS root
    if not name or len(name) > 253:
        return False
    for label in name.split("."):
        if label.isascii():
            if not _LABEL.match(label):
                return False
            continue
        try:  # an internationalised label: what its IDNA form would be (RFC 3490)
            ascii_label = codecs.encode(label, "idna").decode("ascii")
        except UnicodeError:
            return False
        if not _LABEL.match(ascii_label):
            return False
    return True


class _LinkCollector(HTMLParser):
    """The ``<base href>`` and the feed ``<link>`` elements of one HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "base"):
            return
        values = {name: (value or "") for name, value in attrs}
        href = values.get("href", "").strip()
        if not href:
            return
        if tag == "base":
            if self.base is None:  # the first <base href> is the document's (HTML §4.2.3)
                self.base = href
            return
        rel = values.get("rel", "").lower().split()  # a set of tokens: "alternate feed"
        media_type = values.get("type", "").split(";", 1)[0].strip().lower()
        if "alternate" in rel and media_type in FEED_TYPES:
            self.hrefs.append(href)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)


def _decode(body: bytes, content_type: str | None) -> str:
    """The page as text: the charset the server names, else the page's own
    ``<meta charset>`` (looked for in the first 2 KB, as browsers do within 1,024
    bytes), else UTF-8. Undecodable bytes become U+FFFD: only the links matter here."""
    found = _HEADER_CHARSET.search(content_type or "")
    names = [found.group(1)] if found else []
    meta = _META_CHARSET.search(body[:2048])
    if meta:
        names.append(meta.group(1).decode("ascii"))
    for name in names:
        try:
            codecs.lookup(name)
        except LookupError:
            continue
        return body.decode(name, errors="replace")
    return body.decode("utf-8", errors="replace")


def announced_feeds(body: bytes, page_url: str, content_type: str | None = None) -> list[str]:
    """The feed URLs an HTML page announces, absolute, valid, first one first, each once.

    ``page_url`` is where the page was found (after redirects): relative hrefs resolve
    against it, or against the page's ``<base href>`` when it has one. A link back to
    the page itself, or to something that is not an http(s) URL, is left out.
    """
    collector = _LinkCollector()
    collector.feed(_decode(body, content_type))
    collector.close()
    base = urljoin(page_url, collector.base) if collector.base else page_url
    page = page_url.split("#", 1)[0]
    found: list[str] = []
    for href in collector.hrefs:
        url = urljoin(base, href).split("#", 1)[0]  # a fragment is never sent to a server
        if url != page and url not in found and feed_url_problem(url) is None:
            found.append(url)
    return found
