"""The CLI's working directory for tests: an empty folder, no configuration from the
machine, quiet logs. The database is then ``./data/mcwatch.db`` inside it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in ("MCWATCH_DATABASE_URL", "MCWATCH_TELEGRAM_TOKEN", "MCWATCH_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MCWATCH_LOG_LEVEL", "WARNING")
    return tmp_path
