"""Start-up benchmark: how long the `mcwatch` commands take as whole processes.

Run by hand: ``python bench/startup_bench.py [--runs 5]``.

Each command is started ``--runs`` times as a subprocess, in a temporary working
directory with ``MCWATCH_DATABASE_URL``, ``MCWATCH_TELEGRAM_TOKEN`` and
``MCWATCH_CONFIG`` unset (so the default ``./data/mcwatch.db`` is used and console mode
applies). Before the counted runs, one run of each command creates and seeds the
database (and warms the file cache); it is not counted. Every feed's next poll is then
pushed a day ahead, so ``run --once`` has nothing due and measures start-up, not the
network.

Prints the median, min and max wall seconds of each command against its target
(issue 11, point 5): ``--help`` ≤ 0.3 s, ``rules test`` ≤ 0.5 s, ``run --once`` with
nothing due ≤ 1 s; ``topics list`` has none (it must only never load Telegram,
matplotlib or Alembic, which tests/test_startup.py checks).

The environment is passed on as it is, ``PYTHONDONTWRITEBYTECODE`` included: where it is
set, the project's own modules are compiled again at every start. ``--bytecode`` runs
with bytecode caching on instead (in a temporary ``PYTHONPYCACHEPREFIX``, so nothing is
written into the tree), as an installed package would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

TEXT = "La Chine et le Mali signent un accord"
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("--help", ["--help"], 0.3),
    ("topics list", ["topics", "list"], None),
    ("rules test", ["rules", "test", TEXT], 0.5),
    ("run --once", ["run", "--once"], 1.0),
]


def mcwatch_command() -> list[str]:
    """The `mcwatch` script of this interpreter's environment, else the one on PATH,
    else ``python -m bot``."""
    script = Path(sys.executable).parent / "mcwatch"
    if script.exists():
        return [str(script)]
    found = shutil.which("mcwatch")
    if found:
        return [found]
    return [sys.executable, "-m", "bot"]


def environment(pycache: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("MCWATCH_DATABASE_URL", "MCWATCH_TELEGRAM_TOKEN", "MCWATCH_CONFIG"):
        env.pop(name, None)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(
            f"{' '.join(command)} exited {done.returncode}:\n"
            + done.stderr.decode("utf-8", "replace")
        )
    return elapsed


def nothing_due(database: Path) -> None:
    """Push every feed's next poll a day ahead: `run --once` then polls nothing."""
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE feeds SET next_poll_at = ?", (later,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted runs of each command")
    parser.add_argument(
        "--bytecode", action="store_true", help="cache bytecode (in a temporary folder)"
    )
    args = parser.parse_args()
    mcwatch = mcwatch_command()
    with tempfile.TemporaryDirectory(prefix="mcwatch-startup-") as tmp:
        cwd = Path(tmp) / "work"
        cwd.mkdir()
        env = environment(Path(tmp) / "pycache" if args.bytecode else None)
        for _, argv, _ in COMMANDS:  # first runs: create and seed the database, warm up
            if argv[0] == "run":
                nothing_due(cwd / "data" / "mcwatch.db")
            run([*mcwatch, *argv], cwd, env)
        caching = "on" if args.bytecode else "as the environment has it"
        print(f"{' '.join(mcwatch)}, {args.runs} runs each, bytecode caching {caching}")
        print(f"{'command':<14} {'median':>7} {'min':>7} {'max':>7} {'target':>7}  (wall s)")
        missed = 0
        for name, argv, target in COMMANDS:
            times = [run([*mcwatch, *argv], cwd, env) for _ in range(args.runs)]
            median = statistics.median(times)
            if target is None:
                goal, verdict = "-", ""
            else:
                goal, verdict = f"{target:.1f}", "ok" if median <= target else "MISSED"
                missed += median > target
            print(
                f"{name:<14} {median:7.3f} {min(times):7.3f} {max(times):7.3f} "
                f"{goal:>7}  {verdict}".rstrip()
            )
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
