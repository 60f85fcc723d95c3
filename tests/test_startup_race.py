"""Several workers started at once on an empty database all come up (issue 14, point 4):
migrating and seeding are serialised (store.migrate.startup_lock), the others wait and
find the database ready. Real processes, a real SQLite file or PostgreSQL schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from store.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4


def test_workers_started_at_once_on_an_empty_database_all_come_up(
    database_url: str, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MCWATCH_DATABASE_URL": database_url,
        "MCWATCH_LOG_LEVEL": "WARNING",
    }
    environment.pop("MCWATCH_TELEGRAM_TOKEN", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "topics", "list", "--json"],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    assert [(code, err) for code, _, err in results] == [(0, "")] * WORKERS
    listings = [[t["slug"] for t in json.loads(out)] for _, out, _ in results]
    assert len(listings[0]) >= 9 and all(listing == listings[0] for listing in listings)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        topics = connection.execute(text("SELECT count(*) FROM topics")).scalar_one()
        revisions = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
    engine.dispose()
    assert (topics, revisions) == (len(listings[0]), 1)  # seeded once, migrated once
