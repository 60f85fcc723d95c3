"""Fetch one feed over HTTP: conditional GET, bounded, failures returned as data.

The bounds are one table, ``FetchLimits``, so they are reviewed together. A failure is
``FetchResult.error`` in the catalogue's machine form (``bot.text.failure``: a key and
its arguments), which ``/health`` shows in the admin's language and the CLI in English.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from bot import __version__
from bot.errors import BodyTooLarge
from bot.text import failure
from bot.types import FeedRef, FetchResult

log = logging.getLogger(__name__)

USER_AGENT = f"mcwatch/{__version__} (+https://github.com/mcwatch/mcwatch; Mali-China news alerts)"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout: float = 20.0  # whole fetch, seconds: a slow feed must not hold a poll up
    max_bytes: int = 5 * 1024 * 1024  # decoded body; counted while streaming
    max_redirects: int = 5  # browsers allow ~20; feeds never need more than a couple
    allow_private: bool = False  # True only when the feed itself is on a private host


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After is seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


def _max_age(value: str | None) -> float | None:
    if not value:
        return None
    match = _MAX_AGE.search(value)
    return float(match.group(1)) if match else None


def _private_address(text: str) -> bool | None:
    """True/False for an IP literal, None for a name that needs resolving."""
    try:
        return not ipaddress.ip_address(text.strip("[]")).is_global
    except ValueError:
        return None


async def is_private_host(host: str) -> bool:
    """True for loopback, private, link-local and other non-public addresses.

    A name counts as private when any address it resolves to is (DNS asked through the
    event loop, never blocking it). A name that does not resolve is left to the fetch.
    """
    literal = _private_address(host)
    if literal is not None:
        return literal
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return False
    return any(_private_address(str(info[4][0])) for info in infos)


async def fetch_feed(
    client: httpx.AsyncClient,
    feed: FeedRef,
    *,
    now: datetime,
    limits: FetchLimits | None = None,
) -> FetchResult:
    """GET ``feed.url`` with its validators; never raises for the world's failures."""
    limits = limits or FetchLimits()
    # Only encodings BoundedDecoder inflates within the bound (not br or zstd).
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
    # Conditional GET: If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2).
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified

    url = feed.url
    permanent_url: str | None = None
    start_private = await is_private_host(urlsplit(url).hostname or "")

    def failed(reason: str, status: int = 0, **extra: float | None) -> FetchResult:
        """``reason``: a ``bot.text.failure``."""
        return FetchResult(
            feed_id=feed.id,
            url=url,
            status=status,
            error=reason,
            permanent_url=permanent_url,
            **extra,  # type: ignore[arg-type]
        )

    try:
        async with asyncio.timeout(limits.timeout):
            for _hop in range(limits.max_redirects + 1):
                request = client.build_request("GET", url, headers=headers)
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    if response.status_code in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location")
                        if not location:
                            return failed(
                                failure("fetch_no_location", status=response.status_code),
                                response.status_code,
                            )
                        target = urljoin(url, location)
                        host = urlsplit(target).hostname or ""
                        if urlsplit(target).scheme not in ("http", "https"):
                            return failed(failure("fetch_redirect_scheme", target=target))
                        if not (start_private or limits.allow_private) and await is_private_host(
                            host
                        ):
                            return failed(failure("fetch_redirect_private", host=host))
                        # Only an unbroken chain of permanent redirects moves the feed.
                        if response.status_code in (301, 308) and (
                            permanent_url is not None or _hop == 0
                        ):
                            permanent_url = target
                        elif response.status_code not in (301, 308):
                            permanent_url = None
                        url = target
                        continue
                    return await _read(response, feed, url, permanent_url, now, limits)
                finally:
                    await response.aclose()
            return failed(failure("fetch_too_many_redirects", limit=limits.max_redirects))
    except (TimeoutError, httpx.TimeoutException):
        return failed(failure("fetch_timeout", seconds=float(limits.timeout)))
    except httpx.TooManyRedirects:
        return failed(failure("fetch_too_many_redirects", limit=limits.max_redirects))
    except httpx.HTTPError as exc:
        kind = type(exc).__name__
        if str(exc):
            return failed(failure("fetch_network", kind=kind, detail=str(exc)))
        return failed(failure("fetch_network_bare", kind=kind))


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


async def _read(
    response: httpx.Response,
    feed: FeedRef,
    url: str,
    permanent_url: str | None,
    now: datetime,
    limits: FetchLimits,
) -> FetchResult:
    common = {
        "feed_id": feed.id,
        "url": url,
        "status": response.status_code,
        "permanent_url": permanent_url,
        "retry_after": _retry_after(response.headers.get("Retry-After"), now),
        "max_age": _max_age(response.headers.get("Cache-Control")),
        "content_type": response.headers.get("Content-Type"),
    }
    if response.status_code == 304:
        return FetchResult(etag=feed.etag, last_modified=feed.last_modified, **common)  # type: ignore[arg-type]
    if response.status_code >= 400:
        error = failure(
            "fetch_http_status", status=response.status_code, reason=response.reason_phrase or ""
        )
        return FetchResult(error=error, **common)  # type: ignore[arg-type]
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        return FetchResult(error=_too_large(limits), **common)  # type: ignore[arg-type]
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in _DECODERS:
        error = failure("fetch_bad_encoding", encoding=encoding[:40])
        return FetchResult(error=error, **common)  # type: ignore[arg-type]
    decoder = BoundedDecoder(encoding, limits.max_bytes)
    try:
        async for raw in response.aiter_raw():
            decoder.feed(raw)
        body = decoder.finish()
    except BodyTooLarge:
        return FetchResult(error=_too_large(limits), **common)  # type: ignore[arg-type]
    except zlib.error:
        return FetchResult(error=failure("fetch_broken_body", encoding=encoding), **common)  # type: ignore[arg-type]
    return FetchResult(
        body=body,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        **common,  # type: ignore[arg-type]
    )


# Content-Encoding → zlib window bits (gzip header; zlib header for "deflate", which
# some servers send raw, without it: tried on the first failure).
_DECODERS = {"identity": None, "gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
             "deflate": zlib.MAX_WBITS}


class BoundedDecoder:
    """Decode a body as it streams in, never holding more than ``limit`` decoded bytes.

    httpx's own decoder inflates each network chunk whole: 64 KB of a gzip bomb become
    64 MiB in one call before any bound can look at them. Here zlib is asked for at most
    the room left, so a bomb costs ``limit`` bytes of work and memory, then stops.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        wbits = _DECODERS[encoding]
        self._inflate = zlib.decompressobj(wbits) if wbits is not None else None
        self._started = False
        self._done = False

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge
        if data:
            self.parts.append(data)

    def feed(self, raw: bytes) -> None:
        if self._inflate is None:
            self._keep(raw)
            return
        if self._done:
            return
        data = raw
        while data:
            try:
                piece = self._inflate.decompress(data, self.limit - self.size + 1)
            except zlib.error:
                if self._started or self.encoding != "deflate":
                    raise
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
                piece = self._inflate.decompress(data, self.limit - self.size + 1)
            self._started = True
            self._keep(piece)
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:
                rest = self._inflate.unused_data
                if not rest.startswith(b"\x1f\x8b"):  # padding after the end: ignored
                    self._inflate = zlib.decompressobj()
                    self._done = True
                    return
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # another member
                data = rest

    def finish(self) -> bytes:
        if self._inflate is not None and not self._done:
            self._keep(self._inflate.flush())
        return b"".join(self.parts)


def _too_large(limits: FetchLimits) -> str:
    return failure("fetch_too_large", mib=limits.max_bytes // (1024 * 1024))


def make_client(*, timeout: float = 20.0, max_connections: int = 20) -> httpx.AsyncClient:
    """The one HTTP client for feeds (built once, in deps)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=10),
        headers={"User-Agent": USER_AGENT},
        trust_env=False,  # never route through a proxy picked up from the environment
    )
