"""Start-up: each command imports only what it needs (issue 11, point 5).

`mcwatch --help` needs the command functions, not the libraries behind them; a command
reading the database never loads Telegram, matplotlib or Alembic; and a database whose
schema is current and which is seeded is opened without Alembic nor the seed files.
Checked in fresh interpreters (``sys.modules`` after the command), never by timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.cli.runtime import prepare
from bot.clock import FixedClock
from store.db import make_engine
from store.migrate import HEAD_REVISION, head_revision, is_current, is_ready, upgrade

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("telegram", "sqlalchemy", "sqlmodel", "alembic", "matplotlib", "prometheus_client")
NEVER_FOR_A_READ = ("telegram", "matplotlib", "alembic", "bot.seed_files", "prometheus_client")
TEXT = "La Chine et le Mali signent un accord"

# Runs the console script's main in a fresh interpreter, then prints, as its last line,
# the exit status and which of the named modules were loaded.
PROBE = """\
import json, sys
from bot.__main__ import main
names = json.loads(sys.argv.pop(1))
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print(json.dumps({"code": code, "loaded": [n for n in names if n in sys.modules]}))
"""


def environment(database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if database_url is not None:
        env["MCWATCH_DATABASE_URL"] = database_url
    return env


def probe(
    argv: list[str], names: tuple[str, ...], cwd: Path, database_url: str | None = None
) -> tuple[int, list[str], str]:
    """(exit status, which of ``names`` were imported, what it printed before)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(names), *argv],
        cwd=cwd,
        env=environment(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.splitlines()
    report = json.loads(last)
    return report["code"], report["loaded"], "\n".join(printed)


def test_importing_the_cli_loads_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    code = (
        "import json, sys, bot.cli\n"
        f"print(json.dumps([n for n in {LIBRARIES!r} if n in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_console_mode_loads_no_telegram_nor_the_scheduler(tmp_path: Path) -> None:
    """`run --once` and `demo` print through the ConsoleSender and tick once: neither
    python-telegram-bot nor APScheduler is imported for them."""
    code = (
        "import json, sys, bot.cli.run, bot.jobs, bot.deps, bot.deliver.digest_job\n"
        "from bot.deliver.senders import ConsoleSender\n"
        "ConsoleSender()\n"
        "print(json.dumps([n for n in ('telegram', 'apscheduler', 'matplotlib')"
        " if n in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=environment(),
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("argv", [["--help"], ["topics", "--help"], ["run", "--help"]])
def test_help_loads_none_of_the_heavy_libraries(argv: list[str], tmp_path: Path) -> None:
    status, loaded, printed = probe(argv, LIBRARIES, tmp_path)
    assert status == 0
    assert "Usage:" in printed
    assert loaded == []
    assert not (tmp_path / "data").exists()  # --help opens no database


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file migrated to the head and seeded, as after a first start."""
    url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'mcwatch.db'}"
    engine = make_engine(url)
    prepare(engine, FixedClock())
    engine.dispose()
    return url


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["rules", "test", TEXT], "relationship"),
        (["topics", "list"], "slug"),
        (["topics", "list", "--json"], '"slug"'),
    ],
    ids=["rules test", "topics list", "topics list --json"],
)
def test_commands_reading_the_database_load_no_telegram_matplotlib_nor_alembic(
    argv: list[str], expected: str, seeded_url: str, tmp_path: Path
) -> None:
    status, loaded, printed = probe(argv, NEVER_FOR_A_READ, tmp_path, seeded_url)
    assert status == 0
    assert expected in printed.lower()
    assert loaded == []


def test_a_first_start_still_migrates_and_seeds(tmp_path: Path) -> None:
    """With no database at all, the command creates, migrates and seeds it first."""
    status, loaded, printed = probe(
        ["topics", "list", "--json"], ("alembic", "bot.seed_files"), tmp_path
    )
    assert status == 0
    assert loaded == ["alembic", "bot.seed_files"]
    assert json.loads(printed)  # the seeded topics
    assert (tmp_path / "data" / "mcwatch.db").exists()


def test_the_head_constant_is_alembics_head() -> None:
    """``HEAD_REVISION`` is what Alembic finds in migrations/versions: adding a migration
    without updating it fails here, not silently at start-up."""
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    engine = make_engine("sqlite://")
    assert head_revision(engine) == HEAD_REVISION
    assert ScriptDirectory.from_config(alembic_config(engine)).get_heads() == [HEAD_REVISION]


def test_is_current_only_at_the_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert not is_current(connection)  # empty: no alembic_version table
        upgrade(engine)
        with engine.connect() as connection:
            assert is_current(connection)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        with engine.connect() as connection:
            assert not is_current(connection)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
        with engine.connect() as connection:
            assert not is_current(connection)
    finally:
        engine.dispose()


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("called although the database is ready")


def test_prepare_does_nothing_on_a_current_seeded_database(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(engine, FixedClock())  # seeds
    import bot.seed_files
    import store.migrate

    for module, name in [
        (bot.seed_files, "seed"),
        (store.migrate, "upgrade"),
        (store.migrate, "current_revision"),
        (store.migrate, "head_revision"),
    ]:
        monkeypatch.setattr(module, name, _refuse)
    prepare(engine, FixedClock())


def test_prepare_seeds_a_current_but_empty_database(engine: Engine) -> None:
    """`db upgrade` then any command: the schema is current, the topics still come."""
    with engine.connect() as connection:
        assert is_current(connection)
        assert connection.execute(text("SELECT count(*) FROM topics")).scalar() == 0
    assert not is_ready(engine)
    prepare(engine, FixedClock())
    assert is_ready(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM topics")).scalar()


def test_an_empty_database_is_not_ready(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert not is_ready(engine)
    finally:
        engine.dispose()


# -- rules test without SQLAlchemy (store.snapshot) -----------------------------------
def test_rules_test_on_a_ready_sqlite_file_loads_no_orm(seeded_url: str, tmp_path: Path) -> None:
    status, loaded, printed = probe(
        ["rules", "test", TEXT], ("sqlalchemy", "sqlmodel", *NEVER_FOR_A_READ), tmp_path, seeded_url
    )
    assert status == 0
    assert "relationship passes" in printed
    assert loaded == []


def test_rules_test_on_no_database_takes_the_full_path(tmp_path: Path) -> None:
    status, loaded, printed = probe(["rules", "test", TEXT], ("sqlalchemy",), tmp_path)
    assert status == 0 and "relationship passes" in printed
    assert loaded == ["sqlalchemy"]  # it created, migrated and seeded ./data/mcwatch.db
    assert (tmp_path / "data" / "mcwatch.db").exists()


def test_the_snapshot_reads_what_the_store_reads(tmp_path: Path) -> None:
    from bot.ingest.stored_rules import stored_rules
    from store import topics
    from store.db import transaction
    from store.snapshot import read_rules

    url = f"sqlite:///{tmp_path / 'mcwatch.db'}"
    engine = make_engine(url)
    try:
        prepare(engine, FixedClock())
        with transaction(engine) as session:  # a disabled topic is left out by both
            topics.get_topic(session, "health").enabled = False
        assert read_rules(url) == stored_rules(engine)
        rules, lexicon = stored_rules(engine)
        assert "health" not in [rule.slug for rule in rules] and lexicon
    finally:
        engine.dispose()


def test_the_snapshot_answers_none_where_the_full_path_must_decide(tmp_path: Path) -> None:
    from store.snapshot import read_rules

    path = tmp_path / "mcwatch.db"
    url = f"sqlite:///{path}"
    assert read_rules(url) is None  # no file
    assert read_rules("sqlite://") is None and read_rules("sqlite:///:memory:") is None
    assert read_rules("postgresql+psycopg://postgres@127.0.0.1/test") is None
    assert read_rules(f"{url}?mode=ro") is None
    path.write_bytes(b"")
    assert read_rules(url) is None  # an empty file: no tables
    path.unlink()
    engine = make_engine(url)
    try:
        upgrade(engine)
        assert read_rules(url) is None  # current but not seeded: the full path seeds it
        prepare(engine, FixedClock())
        assert read_rules(url) is not None
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert read_rules(url) is None  # an older schema: the full path migrates it
    finally:
        engine.dispose()
    path.write_bytes(b"not a database at all" * 100)
    assert read_rules(url) is None
