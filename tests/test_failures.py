"""Every failure a user can cause or meet ends in one line, the right exit status, no
traceback and no secret (issue 12, point 1).

Each case is run through the real CLI (Typer's runner, a real SQLite file, the Bot API
stand-in on loopback); the few that need a process of their own (a driver that is not
installed) run ``python -m bot`` in one.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.__main__ import main
from bot.cli import app
from bot.cli.failures import explain
from tests.support.botapi import BotApi

ROOT = Path(__file__).resolve().parent.parent
# Shaped like a real token (the redaction pattern knows the shape), and never accepted.
TOKEN = "987654321:AAFakeTokenThatTelegramWillRejectXyz"
PG_SERVER = os.environ.get("MCWATCH_TEST_POSTGRES_URL")


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fails(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str], int], str]:
    """Run ``mcwatch ARGV`` in this process, as the console script does; assert exit
    ``code`` with exactly one line on stderr, no traceback, no token anywhere."""

    def run(argv: list[str], code: int) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        assert TOKEN not in out + err
        assert TOKEN.split(":")[1] not in out + err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert exit_.value.code == code, (exit_.value.code, lines)
        return lines[0]

    return run


@pytest.fixture
def rejecting_api(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotApi]:
    """A Bot API that accepts only another token: ours is rejected (401)."""
    api = BotApi(token="111111:TheOnlyTokenThisServerAccepts_abc")
    monkeypatch.setenv("MCWATCH_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("MCWATCH_TELEGRAM_API_URL", api.base_url)
    yield api
    api.close()


@pytest.mark.parametrize(
    "argv", [["run", "--once"], ["run"], ["deliver"], ["digest", "--send"]], ids=" ".join
)
def test_a_rejected_token_is_one_line_naming_the_setting(
    rejecting_api: BotApi, argv: list[str], fails: Callable[[list[str], int], str]
) -> None:
    line = fails(argv, 2)
    assert line == "mcwatch: Telegram rejected the bot token; check MCWATCH_TELEGRAM_TOKEN"
    assert rejecting_api.calls == [] or all(m == "getMe" for m, _ in rejecting_api.calls)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_rejected_token_never_reaches_the_log_even_with_tracebacks(
    rejecting_api: BotApi, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    monkeypatch.setenv("MCWATCH_LOG_LEVEL", level)
    result = CliRunner().invoke(app, ["run", "--once"])
    assert result.exit_code == 2
    assert TOKEN not in result.output + result.stderr
    if level == "DEBUG":  # the traceback is there for whoever asked, masked
        assert "Traceback" in result.stderr and "<token>" in result.stderr


def test_a_bot_api_that_does_not_answer(
    env: Path, monkeypatch: pytest.MonkeyPatch, fails: Callable[[list[str], int], str]
) -> None:
    monkeypatch.setenv("MCWATCH_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("MCWATCH_TELEGRAM_API_URL", f"http://127.0.0.1:{free_port()}/bot")
    line = fails(["deliver"], 1)
    assert line.startswith("mcwatch: error: cannot reach the Telegram Bot API")
    assert "MCWATCH_TELEGRAM_API_URL" in line


def test_postgresql_without_its_driver_names_the_install_command(env: Path) -> None:
    # As after a plain `pip install .`: psycopg cannot be imported in that process.
    code = "import sys; sys.modules['psycopg'] = None; from bot.cli import app; app()"
    done = subprocess.run(
        [sys.executable, "-c", code, "topics", "list"],
        env={
            **os.environ,
            "MCWATCH_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "mcwatch: error: the postgresql driver (psycopg) is not installed: "
        "pip install 'mcwatch[postgres]'"
    ]


def test_postgresql_not_listening(
    env: Path, monkeypatch: pytest.MonkeyPatch, fails: Callable[[list[str], int], str]
) -> None:
    port = free_port()
    monkeypatch.setenv(
        "MCWATCH_DATABASE_URL", f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{port}/test"
    )
    line = fails(["topics", "list"], 1)
    assert line == (
        f"mcwatch: error: cannot reach the database at 127.0.0.1:{port} (is PostgreSQL "
        "running and listening there?); check MCWATCH_DATABASE_URL"
    )
    assert "s3cret" not in line


@pytest.mark.postgres
@pytest.mark.skipif(not PG_SERVER, reason="needs MCWATCH_TEST_POSTGRES_URL")
def test_postgresql_without_such_a_database(
    env: Path, monkeypatch: pytest.MonkeyPatch, fails: Callable[[list[str], int], str]
) -> None:
    assert PG_SERVER is not None
    base = PG_SERVER.rsplit("/", 1)[0]
    monkeypatch.setenv("MCWATCH_DATABASE_URL", f"{base}/mcwatch_no_such_db")
    line = fails(["topics", "list"], 1)
    assert line.startswith("mcwatch: error: database 'mcwatch_no_such_db' does not exist on ")
    assert "createdb mcwatch_no_such_db" in line


def test_a_data_folder_that_is_a_file(env: Path, fails: Callable[[list[str], int], str]) -> None:
    (env / "data").write_text("not a folder", encoding="utf-8")
    line = fails(["topics", "list"], 1)
    assert line == (
        "mcwatch: error: cannot create the database folder data: File exists; "
        "check MCWATCH_DATABASE_URL"
    )
    assert (env / "data").read_text(encoding="utf-8") == "not a folder"


def test_a_folder_nobody_may_write(
    env: Path, monkeypatch: pytest.MonkeyPatch, fails: Callable[[list[str], int], str]
) -> None:
    # chmod does not stop root (CI runs as root); /proc refuses new files to everyone.
    monkeypatch.setenv("MCWATCH_DATABASE_URL", "sqlite:////proc/self/mcwatch.db")
    line = fails(["topics", "list"], 1)
    assert line.startswith("mcwatch: error: cannot open /proc/self/mcwatch.db:")
    assert "not writable" in line


def test_a_corrupt_database_file(env: Path, fails: Callable[[list[str], int], str]) -> None:
    (env / "data").mkdir()
    garbage = bytes(range(256)) * 40
    (env / "data" / "mcwatch.db").write_bytes(garbage)
    line = fails(["topics", "list"], 1)
    assert line.startswith("mcwatch: error: data/mcwatch.db is not an SQLite database")
    assert "sqlalche.me" not in line
    assert (env / "data" / "mcwatch.db").read_bytes() == garbage  # nothing lost


def test_a_database_from_a_newer_mcwatch(env: Path, fails: Callable[[list[str], int], str]) -> None:
    assert CliRunner().invoke(app, ["topics", "list"]).exit_code == 0
    with sqlite3.connect(env / "data" / "mcwatch.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")
    line = fails(["topics", "list"], 1)
    assert "migrated by a newer mcwatch" in line and "0999" in line


def test_a_damaged_schema_says_to_upgrade(
    env: Path, fails: Callable[[list[str], int], str]
) -> None:
    assert CliRunner().invoke(app, ["topics", "list"]).exit_code == 0
    with sqlite3.connect(env / "data" / "mcwatch.db") as connection:
        connection.execute("DROP TABLE subscribers")
    line = fails(["subscribers", "list"], 1)
    assert line == "mcwatch: error: the database schema is out of date: run mcwatch db upgrade"


@pytest.mark.parametrize(
    "argv",
    [
        ["items", "list", "--since", "99999999d"],
        ["items", "search", "chine", "--since", "99999999w"],
        ["rules", "backtest", "security", "--since", "99999999d"],
    ],
    ids=" ".join,
)
def test_durations_out_of_range_are_usage_errors(
    env: Path, argv: list[str], fails: Callable[[list[str], int], str]
) -> None:
    line = fails(argv, 2)
    assert "reaches back before year 1" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["poll", "--feed", "100000000000000000000"],
        ["digest", "--chat", "100000000000000000000"],
        ["items", "show", "100000000000000000000"],
    ],
    ids=" ".join,
)
def test_ids_out_of_range_are_usage_errors(
    env: Path, argv: list[str], fails: Callable[[list[str], int], str]
) -> None:
    line = fails(argv, 2)
    assert "Invalid value" in line and "less than or equal to" in line


def test_a_bug_is_one_line_that_says_how_to_see_the_traceback() -> None:
    failure = explain(RuntimeError(f"boom with {TOKEN} inside\nand a second line"))
    assert failure.code == 1
    assert failure.line == (
        "mcwatch: error: unexpected RuntimeError: boom with <token> inside "
        "(MCWATCH_LOG_LEVEL=DEBUG logs the traceback)"
    )
