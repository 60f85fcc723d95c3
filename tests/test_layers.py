"""The pure core stays pure: no database, network, Telegram or environment access."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = [
    "bot/ingest/normalize.py",
    "bot/ingest/schedule.py",
    "bot/deliver/plan.py",
    "bot/deliver/render.py",
    "bot/deliver/digest.py",
    "bot/types.py",
    "bot/errors.py",
    "bot/deliver/pacing.py",
    "bot/ingest/dedupe.py",
    "bot/ingest/opml.py",
    "bot/ingest/discover.py",
    "bot/deliver/send_policy.py",
    "bot/timeparse.py",
    "bot/text.py",
    "bot/provenance.py",
    "bot/feedback.py",
    "bot/watchdog.py",
    "bot/watches.py",
    "bot/mentions.py",
    "bot/volume.py",
]
PURE += [
    str(p.relative_to(ROOT))
    for package in ("ingest/parse", "match")
    for p in sorted((ROOT / "bot" / package).glob("*.py"))
]
ENV_ACCESS = re.compile(r"os\.environ|getenv\(|os\.putenv")
FORBIDDEN = ("store", "httpx", "telegram", "sqlalchemy", "sqlmodel", "os", "apscheduler")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_nothing_of_the_world(module: str) -> None:
    assert not imported_modules(ROOT / module) & set(FORBIDDEN)


def test_only_settings_reads_the_environment() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("bot", "store")
        for path in (ROOT / folder).rglob("*.py")
        if ENV_ACCESS.search(path.read_text(encoding="utf-8")) and path.name != "settings.py"
    ]
    assert offenders == []


def sql_names(path: Path) -> set[str]:
    """Names imported from SQLAlchemy/SQLModel, other than the Engine/Session handles."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "sqlalchemy",
            "sqlmodel",
        ):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                a.name for a in node.names if a.name.split(".")[0] in ("sqlalchemy", "sqlmodel")
            )
    return names - {"Engine", "Session"}


def test_sql_lives_in_store() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sql_names(path)
        for path in (ROOT / "bot").rglob("*.py")
        if sql_names(path)
    }
    assert offenders == {}


def test_every_pure_module_is_type_checked_strictly() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    checked = config["files"]
    missing = [
        module
        for module in PURE
        if module not in checked and not any(module.startswith(f"{f}/") for f in checked)
    ]
    assert missing == []
