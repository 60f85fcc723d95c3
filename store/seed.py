"""Load the seed (topics, lexicon, feeds of ``seeds/``) without undoing the admin's work.

The admin edits, removes and adds topics and feeds after the first start; ``db seed``
must bring what is new in the seed and leave every one of those changes alone. So the
store remembers, in ``seed_records``, the digest of what the seed last wrote of each
topic (by slug), feed (by URL) and of the lexicon. Then, for one seeded thing — S what
the seed has now, R the row in the database, D the record — ``decide`` says:

=========  ==========  ==================================  ====================
row R      record D    ``db seed``                         ``db seed --reset``
=========  ==========  ==================================  ====================
none       none        add (new in the seed)               add
none       any         skip: removed by you                add (comes back)
R = S      any         nothing (D becomes S)               nothing
R ≠ S      D = R       update (changed in the seed)        update
R ≠ S      D ≠ R       skip: edited by you                 update (restored)
R ≠ S      none        skip: differs from the seed         update (restored)
=========  ==========  ==================================  ====================

Why records of what the seed wrote, and not tombstones written by ``topics remove`` or
a soft-delete flag: one small table answers both questions ("removed?": a record and no
row; "edited?": a row whose digest is not the record's) whatever changed the row — the
CLI, the bot, a feed's permanent redirect, SQL typed by hand — and no other query of
``topics`` or ``feeds`` changes (a soft-deleted row would have to be filtered out by
every one of them, and would keep its slug or URL taken). Digests, not copies: the
lexicon with its entity table is 50 kB, and the seed's current content is in ``seeds/``.

The last row of the table covers a topic the admin added under a slug the seed later
ships, and a database seeded before the records existed (migration 0003): what the seed
wrote then is unknown, so a row that differs is kept as the admin's; a seeded topic or
feed removed before then is added again once, and remembered from then on.

Not content, so neither digested nor reset: whether a topic or feed is enabled (a
switch the admin flips back with ``enable``), a feed's health and schedule, the
position of a topic in listings.

The lexicon (alias sets, gate, weighing, entities) is one seeded thing, with one
addition: alias sets are never taken away. What the seed writes keeps the stored alias
sets it does not have (an admin's topic may use one), and a lexicon the admin edited
is kept but given the seed's alias sets it lacks, so that the seed's topics still
compile against it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session, col, select

from store import feeds, topics
from store.feeds import NewFeed
from store.models import Feed, SeedRecord, Topic

Kind = Literal["topic", "feed", "lexicon", "alias set"]
Action = Literal["add", "update", "skip"]

LEXICON_KEY = "lexicon"  # the key of the lexicon's record

# Why a step is planned (the words `db seed` prints).
NEW = "new in the seed"
CHANGED = "changed in the seed"
REMOVED = "removed by you"
EDITED = "edited by you"
UNKNOWN = "differs from the seed"


@dataclass(frozen=True, slots=True)
class TopicSeed:
    slug: str
    name: str
    query: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class SeedData:
    """What ``seeds/`` holds, validated: topics, the lexicon mapping, feeds."""

    topics: tuple[TopicSeed, ...]
    lexicon: Mapping[str, Any]
    feeds: tuple[NewFeed, ...] = ()


@dataclass(frozen=True, slots=True)
class Difference:
    """One field of a row that the seed has otherwise."""

    field: str
    yours: str
    seed: str


@dataclass(frozen=True, slots=True)
class Step:
    """One seeded thing and what seeding does with it."""

    kind: Kind
    key: str  # slug, URL, alias-set name; ``lexicon`` for the lexicon
    action: Action
    reason: str
    differences: tuple[Difference, ...] = ()

    @property
    def label(self) -> str:
        if self.kind == "lexicon":
            return "alias sets and gate"
        if self.kind == "alias set":
            return f"alias set @{self.key}"
        return f"{self.kind} {self.key}"


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database holds of the seeded things (rows as the seed would write them)."""

    topics: Mapping[str, TopicSeed]
    feeds: Mapping[str, NewFeed]
    lexicon: Mapping[str, Any] | None
    records: Mapping[tuple[str, str], str]


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """What seeding will do: ``steps`` in seed order (topics, lexicon, feeds), the
    lexicon to store (None: unchanged) and the records to write as (kind, key, digest)."""

    reset: bool
    steps: tuple[Step, ...]
    lexicon: Mapping[str, Any] | None = None
    records: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action != "skip")

    @property
    def skipped(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action == "skip")


@dataclass(frozen=True, slots=True)
class SeedReport:
    plan: SeedPlan

    def _count(self, kind: Kind, action: Action) -> int:
        return sum(1 for s in self.plan.steps if (s.kind, s.action) == (kind, action))

    @property
    def topics_added(self) -> int:
        return self._count("topic", "add")

    @property
    def topics_updated(self) -> int:
        return self._count("topic", "update")

    @property
    def feeds_added(self) -> int:
        return self._count("feed", "add")

    @property
    def feeds_updated(self) -> int:
        return self._count("feed", "update")

    @property
    def skipped(self) -> tuple[Step, ...]:
        return self.plan.skipped


@dataclass(frozen=True, slots=True)
class ImportReport:
    topics_added: int
    topics_updated: int


def digest(*values: Any) -> str:
    """sha256 of the values as canonical JSON (key order does not count)."""
    text = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def topic_digest(topic: TopicSeed) -> str:
    return digest(topic.name, topic.query, topic.description)


def as_written(feed: NewFeed) -> NewFeed:
    """The feed as ``feeds.add_feed`` writes it (a feed without a name is named by URL)."""
    return NewFeed(
        url=feed.url,
        name=feed.name or feed.url,
        language=feed.language,
        interval=feed.interval,
        country=feed.country,
        kind=feed.kind,
    )


def feed_digest(feed: NewFeed) -> str:
    """Who is speaking (country, kind: migration 0008) counts only once said: a feed
    without them has the digest it had before, so a database seeded earlier finds its
    untouched feeds as the seed wrote them, and ``db seed`` fills their provenance in
    ("changed in the seed") instead of taking every feed for an admin's edit."""
    written = as_written(feed)
    if written.country is None and written.kind is None:
        return digest(written.name, written.language, written.interval)
    return digest(written.name, written.language, written.interval, written.country, written.kind)


Decision = tuple[Action, str] | None  # (what to do, why); None: nothing to do


def decide(seed: str, row: str | None, record: str | None, *, reset: bool) -> Decision:
    """The table of the module docstring, on digests; None: the row is the seed's."""
    if row is None:
        if record is None:
            return "add", NEW
        return ("add" if reset else "skip"), REMOVED
    if row == seed:
        return None
    if record == row:
        return "update", CHANGED
    reason = UNKNOWN if record is None else EDITED
    return ("update" if reset else "skip"), reason


def with_aliases_kept(lexicon: Mapping[str, Any], kept: Mapping[str, Any] | None) -> dict[str, Any]:
    """``lexicon`` plus the alias sets of ``kept`` it does not have (never taken away)."""
    aliases = dict((kept or {}).get("aliases") or {})
    aliases.update(lexicon.get("aliases") or {})
    return {**lexicon, "aliases": aliases}


Consider = Callable[[Kind, str, str, "str | None"], "Decision"]


def plan_seed(stored: Stored, data: SeedData, *, reset: bool = False) -> SeedPlan:
    """What ``db seed`` (or ``db seed --reset``) does to ``stored``: a pure decision."""
    steps: list[Step] = []
    records: list[tuple[str, str, str]] = []

    def consider(kind: Kind, key: str, seed: str, row: str | None) -> Decision:
        """Decide, and record the seed's digest when the row will be the seed's."""
        record = stored.records.get((kind, key))
        decision = decide(seed, row, record, reset=reset)
        if (decision is None or decision[0] != "skip") and record != seed:
            records.append((kind, key, seed))
        return decision

    for topic in data.topics:
        row = stored.topics.get(topic.slug)
        decision = consider(
            "topic", topic.slug, topic_digest(topic), None if row is None else topic_digest(row)
        )
        if decision is not None:
            steps.append(Step("topic", topic.slug, *decision, _topic_differences(row, topic)))
    lexicon = _plan_lexicon(stored.lexicon, data.lexicon, consider, steps)
    for new in data.feeds:
        written, present = as_written(new), stored.feeds.get(new.url)
        decision = consider(
            "feed", new.url, feed_digest(written), None if present is None else feed_digest(present)
        )
        if decision is not None:
            steps.append(Step("feed", new.url, *decision, _feed_differences(present, written)))
    return SeedPlan(reset=reset, steps=tuple(steps), lexicon=lexicon, records=tuple(records))


def _plan_lexicon(
    current: Mapping[str, Any] | None,
    seeded: Mapping[str, Any],
    consider: Consider,
    steps: list[Step],
) -> dict[str, Any] | None:
    """The lexicon to store (None: unchanged); appends its steps."""
    written = with_aliases_kept(seeded, current)
    decision = consider(
        "lexicon", LEXICON_KEY, digest(written), None if current is None else digest(current)
    )
    if decision is None:
        return None
    steps.append(Step("lexicon", LEXICON_KEY, *decision, _lexicon_differences(current, written)))
    if decision[0] != "skip":
        return written
    assert current is not None  # skipped: the admin's lexicon is there, and kept
    mine = dict(current.get("aliases") or {})
    missing = {k: v for k, v in (seeded.get("aliases") or {}).items() if k not in mine}
    if not missing:
        return None
    steps.extend(Step("alias set", name, "add", NEW) for name in sorted(missing))
    return {**current, "aliases": {**mine, **missing}}


def _topic_differences(row: TopicSeed | None, seed: TopicSeed) -> tuple[Difference, ...]:
    if row is None:
        return ()
    fields = ("name", "query", "description")
    return tuple(
        Difference(f, getattr(row, f), getattr(seed, f))
        for f in fields
        if getattr(row, f) != getattr(seed, f)
    )


def _feed_differences(row: NewFeed | None, seed: NewFeed) -> tuple[Difference, ...]:
    if row is None:
        return ()
    fields = ("name", "language", "interval", "country", "kind")
    return tuple(
        Difference(f, _shown(getattr(row, f)), _shown(getattr(seed, f)))
        for f in fields
        if getattr(row, f) != getattr(seed, f)
    )


def _lexicon_differences(
    row: Mapping[str, Any] | None, seed: Mapping[str, Any]
) -> tuple[Difference, ...]:
    if row is None:
        return ()
    result: list[Difference] = []
    mine, theirs = row.get("aliases") or {}, seed.get("aliases") or {}
    for name in sorted(set(mine) | set(theirs)):
        if mine.get(name) != theirs.get(name):
            result.append(Difference(f"@{name}", _shown(mine.get(name)), _shown(theirs.get(name))))
    for key in sorted((set(row) | set(seed)) - {"aliases"}):
        if row.get(key) != seed.get(key):
            result.append(Difference(key, _shown(row.get(key)), _shown(seed.get(key))))
    return tuple(result)


def _shown(value: Any) -> str:
    """A field's value in one short line (alias sets and tables by their size)."""
    if value is None:
        return "(none)"
    if isinstance(value, (list, tuple)):
        return f"{len(value)} entries"
    if isinstance(value, Mapping):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        return text if len(text) <= 60 else f"{len(value)} settings"
    return str(value)


def read_stored(session: Session, data: SeedData) -> Stored:
    """The rows and records of the things ``data`` seeds: four small queries."""
    slugs = [t.slug for t in data.topics]
    urls = [f.url for f in data.feeds]
    topic_rows = (
        session.exec(select(Topic).where(col(Topic.slug).in_(slugs))).all() if slugs else []
    )
    feed_rows = session.exec(select(Feed).where(col(Feed.url).in_(urls))).all() if urls else []
    records = {(r.kind, r.key): r.digest for r in session.exec(select(SeedRecord))}
    return Stored(
        topics={t.slug: TopicSeed(t.slug, t.name, t.query, t.description) for t in topic_rows},
        feeds={
            f.url: NewFeed(
                url=f.url,
                name=f.name,
                language=f.language,
                interval=f.interval,
                country=f.country,
                kind=f.kind,
            )
            for f in feed_rows
        },
        lexicon=topics.load_lexicon(session),
        records=records,
    )


def apply_plan(session: Session, plan: SeedPlan, data: SeedData, now: datetime) -> None:
    """Write what ``plan`` decided (``data`` is the seed it was planned from)."""
    seeded_topics = {t.slug: t for t in data.topics}
    seeded_feeds = {f.url: f for f in data.feeds}
    for step in plan.changes:
        if step.kind == "topic":
            topic = seeded_topics[step.key]
            topics.upsert_topic(
                session,
                topic.slug,
                name=topic.name,
                query=topic.query,
                description=topic.description,
            )
        elif step.kind == "feed" and step.action == "add":
            feeds.add_feed(session, seeded_feeds[step.key], now)
        elif step.kind == "feed":
            written = as_written(seeded_feeds[step.key])
            row = feeds.find_feed_by_url(session, step.key)
            assert row is not None  # planned in this transaction
            row.name, row.language, row.interval = written.name, written.language, written.interval
            row.country, row.kind = written.country, written.kind
            session.add(row)
    if plan.lexicon is not None:
        topics.save_lexicon(session, plan.lexicon)
    for kind, key, value in plan.records:
        record = session.get(SeedRecord, (kind, key))
        if record is None:
            record = SeedRecord(kind=kind, key=key, digest=value, recorded_at=now)
        else:
            record.digest, record.recorded_at = value, now
        session.add(record)
    session.flush()


def import_topics(
    session: Session, topic_seeds: Sequence[TopicSeed], lexicon: Mapping[str, Any]
) -> ImportReport:
    """`topics import`: the admin's file wins. Upsert its topics by slug and store its
    lexicon, keeping the stored alias sets it lacks (other topics may use them). Seed
    records are left as they are: what the file wrote is the admin's, not the seed's."""
    added = updated = 0
    for seed in topic_seeds:
        existing = topics.find_topic(session, seed.slug)
        if existing is not None and (existing.name, existing.query, existing.description) == (
            seed.name,
            seed.query,
            seed.description,
        ):
            continue
        _, created = topics.upsert_topic(
            session, seed.slug, name=seed.name, query=seed.query, description=seed.description
        )
        added += created
        updated += not created
    topics.save_lexicon(session, with_aliases_kept(lexicon, topics.load_lexicon(session)))
    return ImportReport(added, updated)


def is_seeded(session: Session) -> bool:
    """The seed was loaded once (it recorded something), or topics exist (a database
    seeded before the records): first start must not seed it again."""
    if session.exec(select(SeedRecord.kind).limit(1)).first() is not None:
        return True
    return session.exec(select(Topic.id).limit(1)).first() is not None
