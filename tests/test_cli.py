"""The CLI through its real interface (Typer's runner), on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.__main__ import main
from bot.cli import app
from tests.support.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent


def command_paths() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(root, ())
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "mcwatch")
def test_every_command_explains_itself(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    help_lines = [line for line in result.output.splitlines()[2:] if line.strip()]
    assert help_lines, f"no help text for {' '.join(path)}"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    leaves = [p for p in command_paths() if p]
    missing = [
        " ".join(p)
        for p in leaves
        if f"mcwatch {' '.join(p)}" not in readme
        and not (len(p) == 2 and f"mcwatch {p[0]} " in readme and p[1] in readme)
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        pytest.param(
            ["poll", "--bogus"],
            "mcwatch poll: error: No such option: --bogus (see 'mcwatch poll --help')",
            id="an unknown option names the command and its help",
        ),
        pytest.param(
            ["feeds", "add"],
            "mcwatch feeds add: error: Missing argument 'url'. (see 'mcwatch feeds add --help')",
            id="a missing argument is named",
        ),
        pytest.param(
            ["nosuch"],
            "mcwatch: error: No such command 'nosuch'. (see 'mcwatch --help')",
            id="an unknown command",
        ),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(env: Path, argv: list[str], line: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        cwd=env,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert (result.returncode, result.stderr.strip(), result.stdout) == (2, line, "")


def test_bad_setting_is_one_line_and_exit_2(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCWATCH_DIGEST_TIME", "7h")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "feeds", "list"],
        cwd=env,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "mcwatch: MCWATCH_DIGEST_TIME must be HH:MM, got '7h'"
    assert "Traceback" not in result.stderr


def test_feeds_add_list_disable_remove(env: Path, feed_server: FeedServer) -> None:
    runner = CliRunner()
    feed_server.serve("/rss", (ROOT / "seeds" / "samples" / "brief-fr.rss").read_bytes())
    url = feed_server.url("/rss")
    added = runner.invoke(
        app,
        [
            "feeds",
            "add",
            url,
            "--name",
            "Example",
            "--lang",
            "fr",
            "--interval",
            "600",
        ],
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout)
    ours = [f for f in listed if f["url"] == url]
    assert len(ours) == 1
    assert set(ours[0]) >= {"id", "url", "name", "enabled", "last_ok", "last_error", "failures"}
    feed_id = ours[0]["id"]
    duplicate = runner.invoke(app, ["feeds", "add", url])
    assert duplicate.exit_code == 1
    assert "mcwatch: error: feed already watched" in duplicate.output
    assert runner.invoke(app, ["feeds", "disable", str(feed_id)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout)
    assert [f["enabled"] for f in listed if f["id"] == feed_id] == [False]
    assert runner.invoke(app, ["feeds", "remove", str(feed_id)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout)
    assert all(f["id"] != feed_id for f in listed)


def test_feeds_add_refuses_a_non_url(env: Path) -> None:
    result = CliRunner().invoke(app, ["feeds", "add", "not a url"])
    assert result.exit_code == 2
    assert "not an http(s) URL" in result.output


def test_first_start_seeds_topics_once(env: Path) -> None:
    runner = CliRunner()
    topics = json.loads(runner.invoke(app, ["topics", "list", "--json"]).stdout)
    assert [t["slug"] for t in topics] == [
        "security",
        "defense",
        "diplomacy",
        "infrastructure",
        "mining",
        "energy",
        "agriculture",
        "health",
        "finance",
        "general",  # the label of Mali–China stories none of the nine claims
    ]
    feeds_before = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout)
    assert feeds_before, "seeded feeds are loaded on first start"
    reseed = runner.invoke(app, ["db", "seed"])
    assert reseed.exit_code == 0 and "feeds added: 0" in reseed.output
    assert json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout) == feeds_before
    assert (env / "data" / "mcwatch.db").exists()


def test_items_list_json_is_empty_list_on_a_new_database(env: Path) -> None:
    result = CliRunner().invoke(app, ["items", "list", "--json", "--since", "30d"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_items_list_rejects_a_bad_duration(env: Path) -> None:
    result = CliRunner().invoke(app, ["items", "list", "--since", "lately"])
    assert result.exit_code == 2
    assert "30m, 12h, 7d or 2w" in result.output


LABELLED = """
- id: a
  lang: fr
  title: "Kayes : une entreprise chinoise achève la route vers Kita"
  summary: "Le chantier financé par la Chine au Mali est livré."
  topics: [infrastructure]
- id: b
  lang: en
  title: "Mali beat China 2-1 in a friendly"
  summary: "The Eagles won the football match in Bamako."
  topics: []
  category: neg-sport
"""


def test_rules_eval_scores_the_stored_topics(env: Path) -> None:
    (env / "labelled.yaml").write_text(LABELLED, encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "eval", "labelled.yaml", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["items"] == 2
    assert report["scores"]["relationship"]["tp"] == 1
    assert report["scores"]["relationship"]["fp"] == 0
    assert report["scores"]["infrastructure"]["f1"] == 1.0
    text = CliRunner().invoke(app, ["rules", "eval", "labelled.yaml"])
    assert "relationship" in text.output and "infrastructure" in text.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("- id: a\n  title: t\n  topics: [sports]\n", "unknown topic sports",
                     id="an unknown slug is refused, not counted as a miss"),
        pytest.param("- title: t\n", "item 1: missing 'id'", id="an entry without id"),
        pytest.param("a: [\n", "not valid YAML at line 2", id="broken YAML"),
    ],
)
def test_rules_eval_refuses_a_bad_file(env: Path, content: str, message: str) -> None:
    (env / "bad.yaml").write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "eval", "bad.yaml"])
    assert result.exit_code == 1
    assert message in result.output


def test_rules_eval_of_a_latin_1_file_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "labels.yaml").write_bytes("- id: a\n  title: Sécurité\n".encode("latin-1"))
    with pytest.raises(SystemExit) as exit_:
        main(["rules", "eval", "labels.yaml"])
    out, err = capsys.readouterr()
    assert (exit_.value.code, out) == (1, "")
    assert err == "mcwatch: error: labels.yaml: not UTF-8 text (save it as UTF-8)\n"


DEMO_THEN_CHECK = """
import sys
from bot.__main__ import main
try:
    main(["demo"])
except SystemExit as exit:
    if exit.code:
        raise
sys.exit(3 if "matplotlib" in sys.modules else 0)
"""


def test_the_demo_prints_alerts_and_a_digest_with_its_trend_as_text(env: Path) -> None:
    """A terminal shows no PNG: the console digest ends with the trend as a line of text,
    and matplotlib is never loaded for it."""
    result = subprocess.run(
        [sys.executable, "-c", DEMO_THEN_CHECK],
        cwd=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[PNG" not in result.stdout
    assert "last 14 days: " in result.stdout or "14 derniers jours : " in result.stdout
