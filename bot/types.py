"""Frozen records passed between the pipeline's stages.

fetch → ``FetchResult`` → parse → ``ParsedFeed`` (of ``RawEntry``) → normalise → ``Item``
→ match (``MatchInput`` → ``Match``) → store → ``DeliveryIntent`` → render → deliver.
No stage hands another a dict or an ORM row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class FeedRef:
    """What the fetcher needs to know about a feed."""

    id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None
    language: str | None = None
    name: str = ""  # how messages and logs name the feed


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one HTTP fetch. Failures are data (``error``), not exceptions."""

    feed_id: int
    url: str  # the URL finally fetched (after redirects)
    status: int  # HTTP status, 0 when no response arrived
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    permanent_url: str | None = None  # set when a 301/308 moved the feed
    retry_after: float | None = None  # seconds, from Retry-After
    max_age: float | None = None  # seconds, from Cache-Control
    error: str | None = None  # a bot.text.failure (key, arguments); describe() renders it

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry as the feed gives it (HTML still in place)."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str
    published: datetime | None
    language: str | None = None
    author: str | None = None
    outlet: str | None = None  # <source> of an aggregator's item (Google News): the outlet


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    language: str | None
    entries: tuple[RawEntry, ...]
    ttl_minutes: int | None = None  # RSS <ttl>
    update_period_seconds: int | None = None  # sy:updatePeriod / sy:updateFrequency
    bozo: str | None = None  # feedparser's complaint, if it recovered from one


@dataclass(frozen=True, slots=True)
class Item:
    """A normalised item: plain text, canonical link, stable identity, aware date."""

    identity: str
    title: str
    link: str | None
    summary: str  # plain text, HTML stripped
    published: datetime  # timezone-aware UTC
    language: str  # "fr" | "en" | "other"
    author: str | None = None
    outlet: str | None = None  # the outlet that published it, when not the feed itself
    # The words the search index keeps (bot.match.prefilter.search_text): computed by
    # ``prepare``, in the worker processes; None: the writer computes them.
    words: str | None = None


@dataclass(frozen=True, slots=True)
class TopicRule:
    """A topic as the matcher sees it."""

    slug: str
    query: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class MatchInput:
    """What the matcher reads of an item."""

    title: str
    text: str  # plain text, HTML already stripped
    language: str = "other"  # "fr" | "en" | "other"


@dataclass(frozen=True, slots=True)
class Match:
    """One topic an item matched, and why."""

    slug: str
    terms: tuple[str, ...]  # the words of the item that made the rule true
    evidence: str = ""  # the sentence where Mali and China meet


@dataclass(frozen=True, slots=True)
class DeliveryIntent:
    """Send ``item_id`` to ``subscriber_id`` (planned by bot.deliver.plan, queued by store)."""

    subscriber_id: int
    item_id: int
    topics: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A subscriber as delivery planning sees it."""

    subscriber_id: int
    chat_id: int
    mode: str  # instant | digest | both
    topics: frozenset[str]


class PreferenceDefaults(Protocol):
    """What a subscriber who chose nothing gets (``bot.settings.Settings`` is one)."""

    @property
    def timezone(self) -> str: ...

    @property
    def digest_time(self) -> time: ...


@dataclass(frozen=True, slots=True)
class Preferences:
    """A subscriber's choices with the settings' defaults applied: built once, by the
    store (``store.subscribers.preferences``), and read as is everywhere else."""

    subscriber_id: int
    chat_id: int
    language: str  # interface language: "fr" | "en"
    mode: str  # instant | digest | both
    timezone: str  # IANA name: theirs, else MCWATCH_TIMEZONE
    digest_time: time  # local; theirs, else MCWATCH_DIGEST_TIME
    quiet: tuple[time, time] | None  # local (start, end), may span midnight; None: off
    topics: tuple[str, ...]  # subscribed slugs, in topic order
    paused: bool = False
    active: bool = True  # False once the chat blocked the bot

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Outlet:
    """Who published an item: its name, and the country (ISO 3166 alpha-2) and kind
    (``bot.provenance.KINDS``) of its feed, when known."""

    name: str
    country: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A leased delivery with everything the renderer needs; nothing else."""

    delivery_id: int
    subscriber_id: int
    chat_id: int
    language: str  # interface language of the subscriber
    title: str
    link: str | None
    source: str
    published: datetime
    summary: str
    topics: tuple[str, ...]
    terms: tuple[str, ...]
    also_reported_by: tuple[str, ...] = ()
    attempts: int = 0
    timezone: str | None = None  # the subscriber's; None → MCWATCH_TIMEZONE
    quiet_start: str | None = None  # "HH:MM" local
    quiet_end: str | None = None
    message_id: int | None = None  # set when this is an edit of an alert already sent
    country: str | None = None  # who is speaking (``source``'s feed), bot.provenance
    kind: str | None = None
    outlets: tuple[Outlet, ...] = ()  # the story's outlets, first reporter first
    watches: tuple[str, ...] = ()  # the reader's watches (/watch) that found the story
    first_mentions: tuple[str, ...] = ()  # entities no earlier story named, bot.mentions


@dataclass(frozen=True, slots=True)
class SendReceipt:
    message_id: int | None


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item read back from the store, with its topics (the CLI's JSON row)."""

    id: int
    feed_id: int | None
    source: str
    title: str
    link: str | None
    summary: str
    published: datetime
    language: str
    topics: tuple[str, ...]
    story_id: int | None
    country: str | None = None  # who is speaking (bot.provenance), when known
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class DigestStory:
    story_id: int
    title: str
    link: str | None
    source: str
    sources: int  # distinct outlets that reported it
    topic: str  # the first of its topics, in topic order
    published: datetime
    outlets: tuple[Outlet, ...] = ()  # who reported it (bot.provenance.mix_line), if read
    item_id: int = 0  # its first item in the period: what a verdict on its line is about
