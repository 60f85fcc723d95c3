"""Read ``seeds/topics.yaml`` and ``seeds/feeds.yaml``, validate, load into the store.

Validation happens before anything is written: a rule that does not parse is refused
with its topic and column, and the database is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from bot.clock import Clock
from bot.errors import McwatchError
from bot.match import LexiconError, TopicsDocumentError, load_topics_document
from bot.resources import data_path
from store.db import transaction
from store.feeds import NewFeed
from store.seed import SeedReport, TopicSeed, apply_seed, is_seeded

LANGUAGES = ("fr", "en")


class SeedError(McwatchError):
    """A seed file is missing or malformed; the message names file and entry."""


# libyaml's safe loader when PyYAML was built with it (about 10x faster on the seed files,
# which every first start and every `db seed` reads); the same safe subset of YAML.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506
    except FileNotFoundError:
        raise SeedError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML: {exc}") from None
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
        if not isinstance(entry, dict) or not str(entry.get("url", "")).startswith(
            ("http://", "https://")
        ):
            raise SeedError(f"{origin}: feed #{index} needs an http(s) url")
        language = entry.get("language")
        if language is not None and language not in LANGUAGES:
            raise SeedError(f"{origin}: feed #{index}: language must be fr or en")
        interval = entry.get("interval")
        result.append(
            NewFeed(
                url=str(entry["url"]).strip(),
                name=str(entry.get("name") or ""),
                language=language,
                interval=int(interval) if interval else None,
            )
        )
    return result


def with_gazetteer(document: dict[str, Any], seeds_dir: Path) -> dict[str, Any]:
    """The topics document with the Malian towns of ``gazetteer.yaml`` (generated from
    GeoNames, see ``bot.gazetteer``) added to its entity table, when the file is there."""
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


def seed(
    engine: Engine,
    clock: Clock,
    *,
    first_start: bool = False,
    with_feeds: bool = True,
    seeds_dir: Path | None = None,
) -> SeedReport | None:
    """Load the seeds. ``first_start``: only into an empty database, never overwriting."""
    if first_start:  # every command starts here: don't parse the YAML to do nothing
        with transaction(engine) as session:
            if is_seeded(session):
                return None
    topic_seeds, lexicon, feed_seeds = load_seed_files(seeds_dir)
    with transaction(engine) as session:
        if first_start and is_seeded(session):  # another process seeded meanwhile
            return None
        return apply_seed(
            session,
            topic_seeds=topic_seeds,
            lexicon=lexicon,
            feed_seeds=feed_seeds if with_feeds else [],
            now=clock.now(),
            update_topics=not first_start,
        )
