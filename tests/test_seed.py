"""`db seed` never undoes the admin's work; `db seed --reset` shows the difference and
restores the seed; a topics file that is not UTF-8 (or not a file, or not YAML) is one
line. Through the real CLI on a real database (SQLite, and PostgreSQL when named), and
the decision table of ``store.seed`` on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.clock import FixedClock
from bot.errors import SeedError
from bot.seed_files import load_seed_data, preview, seed
from store import feeds, topics
from store.db import transaction
from store.feeds import NewFeed
from store.seed import (
    CHANGED,
    EDITED,
    NEW,
    REMOVED,
    UNKNOWN,
    SeedData,
    Stored,
    TopicSeed,
    decide,
    plan_seed,
)

ROOT = Path(__file__).resolve().parent.parent
SEEDED_QUERY_OF = {t.slug: t.query for t in load_seed_data(with_feeds=False).topics}
MY_RULE = "@mali AND @china AND (armée OR army)"

Invoke = Callable[..., Result]


@pytest.fixture
def mcwatch(env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """`mcwatch ARGS…` on a fresh database (first start seeds it); fails on a non-zero exit
    unless ``code=`` says which to expect."""
    monkeypatch.setenv("MCWATCH_DATABASE_URL", database_url)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    return invoke


def listed(mcwatch: Invoke, what: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(mcwatch(what, "list", "--json").stdout)
    return rows


def the_admins_work(mcwatch: Invoke) -> str:
    """Edit `defense`, remove `mining` and the first seeded feed; returns that feed's URL."""
    mcwatch("topics", "edit", "defense", "--query", MY_RULE)
    mcwatch("topics", "remove", "mining")
    feed = listed(mcwatch, "feeds")[0]
    mcwatch("feeds", "remove", str(feed["id"]))
    return str(feed["url"])


def test_db_seed_leaves_edits_and_removals_alone_and_says_so(mcwatch: Invoke) -> None:
    feeds_before = len(listed(mcwatch, "feeds"))
    url = the_admins_work(mcwatch)

    result = mcwatch("db", "seed")

    assert result.stdout.splitlines() == [
        "topics added: 0, updated: 0; feeds added: 0, updated: 0",
        "skipped topic defense (edited by you)",
        "skipped topic mining (removed by you)",
        f"skipped feed {url} (removed by you)",
        "(`mcwatch db seed --reset` shows the difference and restores the seed's)",
    ]
    by_slug = {t["slug"]: t for t in listed(mcwatch, "topics")}
    assert by_slug["defense"]["query"] == MY_RULE
    assert "mining" not in by_slug
    urls = [f["url"] for f in listed(mcwatch, "feeds")]
    assert url not in urls and len(urls) == feeds_before - 1
    assert mcwatch("db", "seed").stdout == result.stdout  # and again: still left alone


def test_db_seed_reset_shows_the_difference_then_restores_the_seed(mcwatch: Invoke) -> None:
    feeds_before = listed(mcwatch, "feeds")
    url = the_admins_work(mcwatch)

    result = mcwatch("db", "seed", "--reset")

    assert result.stdout.splitlines() == [
        "db seed --reset changes:",
        "  topic defense: restored (edited by you)",
        "    query",
        f"      yours: {MY_RULE}",
        f"      seed:  {SEEDED_QUERY_OF['defense']}",
        "  topic mining: comes back (removed by you)",
        f"  feed {url}: comes back (removed by you)",
        "topics added: 1, updated: 1; feeds added: 1, updated: 0",
    ]
    by_slug = {t["slug"]: t for t in listed(mcwatch, "topics")}
    assert by_slug["defense"]["query"] == SEEDED_QUERY_OF["defense"]
    assert by_slug["mining"]["query"] == SEEDED_QUERY_OF["mining"]
    assert sorted(f["url"] for f in listed(mcwatch, "feeds")) == sorted(
        f["url"] for f in feeds_before
    )
    # The seed's again: a plain seed has nothing to skip, a reset nothing to change.
    assert mcwatch("db", "seed").stdout.splitlines() == [
        "topics added: 0, updated: 0; feeds added: 0, updated: 0"
    ]
    assert mcwatch("db", "seed", "--reset").stdout.splitlines()[0].startswith("nothing to reset")


def test_on_a_terminal_reset_asks_first_and_yes_skips_the_question(
    mcwatch: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.cli.db

    mcwatch("topics", "edit", "defense", "--query", MY_RULE)
    monkeypatch.setattr(bot.cli.db, "_on_a_terminal", lambda: True)
    declined = CliRunner().invoke(app, ["db", "seed", "--reset"], input="n\n")
    assert declined.exit_code == 1, declined.stderr
    assert "topic defense: restored (edited by you)" in declined.stdout
    assert "Apply these changes? [y/N]" in declined.stdout
    assert declined.stderr == "mcwatch: error: nothing changed\n"
    assert {t["slug"]: t["query"] for t in listed(mcwatch, "topics")}["defense"] == MY_RULE
    applied = mcwatch("db", "seed", "--reset", "--yes")
    assert "Apply these changes?" not in applied.stdout
    assert {t["slug"]: t["query"] for t in listed(mcwatch, "topics")}["defense"] == (
        SEEDED_QUERY_OF["defense"]
    )


def test_a_topic_the_admin_added_survives_seed_and_reset(mcwatch: Invoke) -> None:
    mcwatch("topics", "add", "railway", "--name", "Rail", "--query", "@mali @china rail*")
    mcwatch("db", "seed", "--reset")
    assert "railway" in [t["slug"] for t in listed(mcwatch, "topics")]


def test_removing_every_topic_does_not_seed_them_again(mcwatch: Invoke) -> None:
    """A database is seeded once: the next command does not mistake an admin who
    removed every topic for a first start."""
    slugs = [t["slug"] for t in listed(mcwatch, "topics")]
    for slug in slugs:
        mcwatch("topics", "remove", slug)
    assert listed(mcwatch, "topics") == []
    skipped = mcwatch("db", "seed").stdout.splitlines()[1:-1]
    assert skipped == [f"skipped topic {slug} (removed by you)" for slug in slugs]
    assert listed(mcwatch, "topics") == []


def test_disabling_a_topic_is_not_an_edit(mcwatch: Invoke) -> None:
    mcwatch("topics", "disable", "health")
    assert "skipped" not in mcwatch("db", "seed", "--reset").stdout
    assert [t["enabled"] for t in listed(mcwatch, "topics") if t["slug"] == "health"] == [False]


# --- a new release of the seed -------------------------------------------------------

CLOCK = FixedClock()


def write_seeds(folder: Path, queries: dict[str, str], interval: int = 900) -> Path:
    """A small seeds/ folder: two alias sets, the topics of ``queries``, one feed."""
    folder.mkdir(exist_ok=True)
    document = {
        "version": 1,
        "aliases": {"mali": ["Mali", "Bamako"], "china": ["Chine", "China"]},
        "topics": [
            {"slug": slug, "name": slug.title(), "description": f"About {slug}.", "query": query}
            for slug, query in queries.items()
        ],
    }
    (folder / "topics.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    feed = {"url": "https://news.example.org/rss", "name": "News", "interval": interval}
    (folder / "feeds.yaml").write_text(yaml.safe_dump({"feeds": [feed]}), encoding="utf-8")
    return folder


def stored_queries(engine: Engine) -> dict[str, str]:
    with transaction(engine) as session:
        return {t.slug: t.query for t in topics.list_topics(session)}


def test_the_seed_updates_what_the_admin_never_touched(engine: Engine, tmp_path: Path) -> None:
    v1 = write_seeds(tmp_path / "v1", {"mine": "@mali @china or*", "road": "@mali @china route"})
    seed(engine, CLOCK, seeds_dir=v1)
    with transaction(engine) as session:
        topics.upsert_topic(
            session, "road", name="Road", query="@mali @china autoroute", description="About road."
        )

    v2 = write_seeds(
        tmp_path / "v2",
        {"mine": "@mali @china mine*", "road": "@mali @china pont", "dam": "@mali @china barrage"},
        interval=1800,
    )
    report = seed(engine, CLOCK, seeds_dir=v2)

    assert report is not None
    assert [(s.label, s.action, s.reason) for s in report.plan.steps] == [
        ("topic mine", "update", CHANGED),
        ("topic road", "skip", EDITED),
        ("topic dam", "add", NEW),
        ("feed https://news.example.org/rss", "update", CHANGED),
    ]
    assert stored_queries(engine) == {
        "mine": "@mali @china mine*",
        "road": "@mali @china autoroute",
        "dam": "@mali @china barrage",
    }
    with transaction(engine) as session:
        feed = feeds.find_feed_by_url(session, "https://news.example.org/rss")
        assert feed is not None and feed.interval == 1800


def test_reset_writes_nothing_when_the_database_changed_after_the_preview(
    engine: Engine, tmp_path: Path
) -> None:
    folder = write_seeds(tmp_path / "seeds", {"mine": "@mali @china or*"})
    seed(engine, CLOCK, seeds_dir=folder)
    with transaction(engine) as session:
        topics.upsert_topic(session, "mine", name="Mine", query="@mali @china gold")
    data = load_seed_data(folder)
    shown = preview(engine, data, reset=True)
    with transaction(engine) as session:  # meanwhile, another admin
        topics.upsert_topic(session, "mine", name="Mine", query="@mali @china uranium")
    with pytest.raises(SeedError, match="changed while the difference was shown"):
        seed(engine, CLOCK, reset=True, data=data, expected=shown)
    assert stored_queries(engine) == {"mine": "@mali @china uranium"}


def test_a_database_seeded_before_the_records_keeps_what_differs(
    engine: Engine, tmp_path: Path
) -> None:
    """Migration 0003 starts with no records: what the seed wrote before is unknown, so
    a row that differs is kept, and a removed topic comes back once (then remembered)."""
    folder = write_seeds(tmp_path / "seeds", {"mine": "@mali @china or*", "road": "@mali route"})
    seed(engine, CLOCK, seeds_dir=folder)
    with transaction(engine) as session:
        topics.upsert_topic(session, "mine", name="Mine", query="@mali @china gold")
        topics.remove_topic(session, "road")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM seed_records"))

    report = seed(engine, CLOCK, seeds_dir=folder)

    assert report is not None
    assert [(s.key, s.action, s.reason) for s in report.plan.steps if s.kind == "topic"] == [
        ("mine", "skip", UNKNOWN),
        ("road", "add", NEW),
    ]
    with transaction(engine) as session:
        topics.remove_topic(session, "road")
    again = seed(engine, CLOCK, seeds_dir=folder)
    assert again is not None
    assert [(s.key, s.reason) for s in again.skipped] == [("mine", UNKNOWN), ("road", REMOVED)]


# --- the decision, as a table ----------------------------------------------------------

S, R, D = "seed", "row", "record"  # digests: the seed's content, the row's, the record's

DECISIONS = [
    pytest.param(S, None, None, False, ("add", NEW), id="a thing new in the seed is added"),
    pytest.param(S, None, S, False, ("skip", REMOVED), id="a removed thing stays removed"),
    pytest.param(S, None, D, True, ("add", REMOVED), id="reset brings a removed thing back"),
    pytest.param(S, S, D, False, None, id="a row that is the seed's is left as it is"),
    pytest.param(S, R, R, False, ("update", CHANGED), id="an untouched row follows the seed"),
    pytest.param(S, R, D, False, ("skip", EDITED), id="an edited row is kept"),
    pytest.param(S, R, D, True, ("update", EDITED), id="reset restores an edited row"),
    pytest.param(S, R, None, False, ("skip", UNKNOWN), id="a row the seed never wrote is kept"),
    pytest.param(S, R, None, True, ("update", UNKNOWN), id="reset restores it too"),
]


@pytest.mark.parametrize(("seed_", "row", "record", "reset", "expected"), DECISIONS)
def test_decide(
    seed_: str, row: str | None, record: str | None, reset: bool, expected: object
) -> None:
    assert decide(seed_, row, record, reset=reset) == expected


SEED_LEXICON = {"aliases": {"mali": ["Mali"], "china": ["Chine"], "gold": ["or"]}}
NOTHING_STORED = Stored(topics={}, feeds={}, lexicon=None, records={})


def test_the_seed_never_takes_an_alias_set_away() -> None:
    stored = Stored(
        topics={},
        feeds={},
        lexicon={"aliases": {"mali": ["Mali"], "rail": ["rail*"]}},
        records={},
    )
    plan = plan_seed(stored, SeedData((), SEED_LEXICON), reset=True)
    assert plan.lexicon is not None
    assert plan.lexicon["aliases"] == {**SEED_LEXICON["aliases"], "rail": ["rail*"]}


def test_an_edited_lexicon_is_kept_and_given_the_alias_sets_it_lacks() -> None:
    mine = {"aliases": {"mali": ["Mali", "Bamako"]}, "weighing": {"fallback": None}}
    stored = Stored(topics={}, feeds={}, lexicon=mine, records={})
    plan = plan_seed(stored, SeedData((), SEED_LEXICON))
    assert [(s.label, s.action) for s in plan.steps] == [
        ("alias sets and gate", "skip"),
        ("alias set @china", "add"),
        ("alias set @gold", "add"),
    ]
    assert plan.lexicon == {
        "aliases": {"mali": ["Mali", "Bamako"], "china": ["Chine"], "gold": ["or"]},
        "weighing": {"fallback": None},
    }


def test_a_first_seed_adds_everything_and_records_it() -> None:
    data = SeedData(
        (TopicSeed("mine", "Mine", "@mali @china or"),),
        SEED_LEXICON,
        (NewFeed(url="https://a.example/rss"),),
    )
    plan = plan_seed(NOTHING_STORED, data)
    assert [(s.kind, s.action) for s in plan.steps] == [
        ("topic", "add"),
        ("lexicon", "add"),
        ("feed", "add"),
    ]
    assert [(kind, key) for kind, key, _ in plan.records] == [
        ("topic", "mine"),
        ("lexicon", "lexicon"),
        ("feed", "https://a.example/rss"),
    ]


# --- files a user gives ------------------------------------------------------------------

LATIN_1 = "version: 1\ntopics:\n- slug: security\n  name: Sécurité\n".encode("latin-1")


def test_a_latin_1_topics_file_is_one_line_and_exit_1(env: Path) -> None:
    (env / "topics-latin1.yaml").write_bytes(LATIN_1)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "topics", "import", "topics-latin1.yaml"],
        cwd=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "mcwatch: error: topics-latin1.yaml: not UTF-8 text (save it as UTF-8)\n",
    )
    assert not (env / "data").exists()  # refused before the database is opened


def unreadable(path: Path) -> Path:
    if os.geteuid() == 0:  # root reads a file whatever its mode
        pytest.skip("running as root: no file is unreadable")
    path.write_text("topics: []\n", encoding="utf-8")
    path.chmod(0)
    return path


BAD_FILES = [
    pytest.param(lambda d: d / "nosuch.yaml", "no such file", id="a missing file"),
    pytest.param(lambda d: d, "is a directory, not a file", id="a directory"),
    pytest.param(unreadable, "not readable (permission denied)", id="an unreadable file"),
    pytest.param(
        lambda d: d / "broken.yaml",
        "not valid YAML at line 3, column 1: did not find expected node content",
        id="broken YAML says where",
    ),
    pytest.param(
        lambda d: d / "list.yaml", "expected a mapping at the top level", id="not a mapping"
    ),
]


@pytest.mark.parametrize(("make", "message"), BAD_FILES)
def test_a_bad_topics_file_is_one_line_naming_it(
    env: Path, make: Callable[[Path], Path], message: str
) -> None:
    (env / "broken.yaml").write_text("version: 1\ntopics: [\n", encoding="utf-8")
    (env / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    path = make(env / "unreadable.yaml") if make is unreadable else make(env)
    result = CliRunner().invoke(app, ["topics", "import", str(path)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"mcwatch: error: {path}: {message}\n"


def test_a_yaml_alias_bomb_is_refused_before_it_is_built(env: Path) -> None:
    """Nine levels of nine aliases: 9**9 strings once walked (the issue saw 3 GB and a
    MemoryError). A file with an alias is refused in one line; a rule's '*' is not one."""
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 9):
        levels.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]")
    (env / "bomb.yaml").write_text("\n".join([*levels, "topics: *a8", ""]), encoding="utf-8")
    result = CliRunner().invoke(app, ["topics", "import", "bomb.yaml"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "mcwatch: error: bomb.yaml: YAML aliases (*name) are not supported: write the values out\n"
    )


def test_a_utf_8_file_with_a_byte_order_mark_is_read(env: Path) -> None:
    document = yaml.safe_dump(
        {
            "version": 1,
            "aliases": {"mali": ["Mali"], "china": ["Chine"]},
            "topics": [
                {"slug": "rail", "name": "Réseau", "description": "Rail.", "query": "@mali rail"}
            ],
        },
        allow_unicode=True,
    )
    (env / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + document.encode("utf-8"))
    result = CliRunner().invoke(app, ["topics", "import", "bom.yaml"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "topics added: 1, updated: 0\n"
