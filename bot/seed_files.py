"""Read ``seeds/topics.yaml`` and ``seeds/feeds.yaml``, validate, load into the store.

Validation happens before anything is written: a rule that does not parse is refused
with its topic and column, and the database is left as it was. Loading adds what is
missing and leaves alone what the admin edited or removed (``store.seed``).

``read_yaml_document`` is the one reader of YAML files, the seed's and the user's: a
file that is missing, a directory, unreadable, not UTF-8 or not YAML is one SeedError
line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from bot.clock import Clock
from bot.errors import LexiconError, SeedError, TopicsDocumentError
from bot.ingest.discover import feed_url_problem
from bot.match import load_topics_document
from bot.provenance import parse_country, parse_kind
from bot.resources import data_path
from store.db import transaction
from store.feeds import NewFeed
from store.seed import (
    SeedData,
    SeedPlan,
    SeedReport,
    TopicSeed,
    apply_plan,
    is_seeded,
    plan_seed,
    read_stored,
)

LANGUAGES = ("fr", "en")


# libyaml's safe loader when PyYAML was built with it (about 10x faster on the seed files,
# which every first start and every `db seed` reads); the same safe subset of YAML.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_document(path: Path) -> Any:
    """The YAML document of a file a user names, or SeedError in one line naming the file
    and what to do: missing, a directory, not readable, not UTF-8 text, not YAML.

    Every reader of a user's YAML file goes through here (``topics import``, the seed
    files; ``rules eval`` should): a Latin-1 file is a message, not a traceback. A UTF-8
    byte-order mark (Windows editors write one) is accepted."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SeedError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SeedError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise SeedError(f"{path}: not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise SeedError(f"{path}: not UTF-8 text (save it as UTF-8)") from None
    except OSError as exc:
        raise SeedError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        if "*" in text and _has_alias(text):
            raise SeedError(
                f"{path}: YAML aliases (*name) are not supported: write the values out"
            )
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader, see _LOADER)
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML{_where(exc)}") from None


def _has_alias(text: str) -> bool:
    """Whether the document refers to an anchor (``*name``). Refused: aliases are how a
    "billion laughs" file of a few hundred bytes becomes gigabytes once walked, and no
    topics or feeds file needs them. Found by the parser's events (libyaml's, fast), not
    by a pattern: a ``*`` in a rule (``coopér*``) is text, not an alias."""
    return any(
        isinstance(event, yaml.AliasEvent)
        for event in yaml.parse(text, Loader=_LOADER)  # events only: nothing is built
    )


def _where(exc: yaml.YAMLError) -> str:
    """' at line L, column C: problem' for a parser error, in one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:  # e.g. a control character (ReaderError)
        return f": {' '.join(str(exc).splitlines()[0].split())}" if str(exc) else ""
    return f" at line {mark.line + 1}, column {mark.column + 1}: {' '.join(problem.split())}"


def read_yaml(path: Path) -> dict[str, Any]:
    """``read_yaml_document`` for a document whose top level is a mapping."""
    data = read_yaml_document(path)
    if not isinstance(data, dict):
        raise SeedError(f"{path}: expected a mapping at the top level")
    return data


def parse_topics_document(
    data: dict[str, Any], origin: str = "topics"
) -> tuple[list[TopicSeed], dict[str, Any]]:
    """Validate a topics document → (topics, lexicon mapping). Raises SeedError naming
    the file, the topic and, for a rule, the column."""
    try:
        lexicon, specs = load_topics_document(data)
    except (TopicsDocumentError, LexiconError) as exc:
        raise SeedError(f"{origin}: {exc}") from None
    seeds = [TopicSeed(s.slug, s.name, s.query, s.description) for s in specs]
    return seeds, lexicon.to_mapping()


def parse_feeds_document(data: dict[str, Any], origin: str = "feeds") -> list[NewFeed]:
    entries = data.get("feeds")
    if not isinstance(entries, list):
        raise SeedError(f"{origin}: 'feeds' must be a list")
    result: list[NewFeed] = []
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("url"):
            raise SeedError(f"{origin}: feed #{index} needs an http(s) url")
        url = str(entry["url"]).strip()
        if problem := feed_url_problem(url):
            raise SeedError(f"{origin}: feed #{index}: {problem}: {url!r}")
        language = entry.get("language")
        if language is not None and language not in LANGUAGES:
            raise SeedError(f"{origin}: feed #{index}: language must be fr or en")
        interval = entry.get("interval")
        if isinstance(entry.get("country"), bool):  # YAML 1.1 reads NO (Norway) as false
            raise SeedError(f"{origin}: feed #{index}: quote the country code ('NO')")
        try:  # who is speaking (bot.provenance); null: not said
            country = None if entry.get("country") is None else parse_country(str(entry["country"]))
            kind = None if entry.get("kind") is None else parse_kind(str(entry["kind"]))
        except ValueError as exc:
            raise SeedError(f"{origin}: feed #{index}: {exc}") from None
        result.append(
            NewFeed(
                url=url,
                name=str(entry.get("name") or ""),
                language=language,
                interval=int(interval) if interval else None,
                country=country,
                kind=kind,
            )
        )
    return result


def with_gazetteer(document: dict[str, Any], seeds_dir: Path) -> dict[str, Any]:
    """The topics document with the Malian towns of ``gazetteer.yaml`` (generated from
    GeoNames, see ``bot.ingest.gazetteer``) added to its entity table, when the file is there."""
    path = seeds_dir / "gazetteer.yaml"
    if not path.exists():
        return document
    rows = read_yaml(path).get("entities") or []
    if not isinstance(rows, list):
        raise SeedError(f"{path}: 'entities' must be a list")
    return {**document, "entities": [*(document.get("entities") or []), *rows]}


def load_seed_files(
    seeds_dir: Path | None = None,
) -> tuple[list[TopicSeed], dict[str, Any], list[NewFeed]]:
    seeds_dir = seeds_dir or data_path("seeds")
    document = with_gazetteer(read_yaml(seeds_dir / "topics.yaml"), seeds_dir)
    topic_seeds, lexicon = parse_topics_document(document, str(seeds_dir / "topics.yaml"))
    feed_seeds = parse_feeds_document(
        read_yaml(seeds_dir / "feeds.yaml"), str(seeds_dir / "feeds.yaml")
    )
    return topic_seeds, lexicon, feed_seeds


def load_seed_data(seeds_dir: Path | None = None, *, with_feeds: bool = True) -> SeedData:
    """The seed files, validated, as the store takes them (``with_feeds=False``: no
    feeds at all, so none is added nor reported)."""
    topic_seeds, lexicon, feed_seeds = load_seed_files(seeds_dir)
    return SeedData(tuple(topic_seeds), lexicon, tuple(feed_seeds) if with_feeds else ())


def preview(engine: Engine, data: SeedData, *, reset: bool = False) -> SeedPlan:
    """What ``seed`` would do now, without writing anything (``db seed --reset`` shows
    it before applying)."""
    with transaction(engine) as session:
        return plan_seed(read_stored(session, data), data, reset=reset)


def seed(
    engine: Engine,
    clock: Clock,
    *,
    first_start: bool = False,
    reset: bool = False,
    with_feeds: bool = True,
    seeds_dir: Path | None = None,
    data: SeedData | None = None,
    expected: SeedPlan | None = None,
) -> SeedReport | None:
    """Load the seeds, leaving alone what the admin edited or removed (``store.seed``
    says how that is known); ``reset``: the seed's version wins everywhere.

    ``first_start``: only into a database never seeded (None otherwise). ``expected``:
    the plan the admin was shown; if the database changed since, nothing is written
    (SeedError). Topics the admin added are never touched, in either mode."""
    if first_start:  # every command starts here: don't parse the YAML to do nothing
        with transaction(engine) as session:
            if is_seeded(session):
                return None
    if data is None:
        data = load_seed_data(seeds_dir, with_feeds=with_feeds)
    with transaction(engine) as session:
        if first_start and is_seeded(session):  # another process seeded meanwhile
            return None
        plan = plan_seed(read_stored(session, data), data, reset=reset)
        if expected is not None and plan != expected:
            raise SeedError("the database changed while the difference was shown; run it again")
        apply_plan(session, plan, data, clock.now())
        return SeedReport(plan)
