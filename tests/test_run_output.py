"""`mcwatch run` says what is going on (issue 12, point 5): one summary to start with, a
"stopped" line at the end, no scheduler chatter at INFO, log lines that keep clear of a
progress bar, and, in console mode, `poll` then `deliver` on a fresh database prints the
alerts."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.logs import TerminalHandler, progress_line
from tests.support.botapi import BOT_USER, BotApi
from tests.support.feed_server import FeedServer
from tests.support.telegram import Conversation

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "samples" / "maliactu-fr.rss"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def only_loopback_feed(feed_server: FeedServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh database whose one enabled feed is a sample served on loopback."""
    feed_server.serve("/maliactu.rss", SAMPLE.read_bytes())
    code, out, _ = run_cli(["feeds", "list", "--json"], capsys)
    assert code == 0
    import json

    for feed in json.loads(out):
        assert run_cli(["feeds", "disable", str(feed["id"])], capsys)[0] == 0
    url = feed_server.url("/maliactu.rss")
    assert run_cli(["feeds", "add", url, "--name", "Maliactu"], capsys)[0] == 0


def test_run_once_starts_with_one_summary(
    env: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    only_loopback_feed(feed_server, capsys)
    code, _, err = run_cli(["run", "--once"], capsys)
    assert code == 0
    first = err.splitlines()[0]
    assert re.fullmatch(
        r"mcwatch: database data/mcwatch\.db \(sqlite\), console mode \(no "
        r"MCWATCH_TELEGRAM_TOKEN: alerts are printed here\), \d+ topics, 1 feeds enabled, "
        r"next poll now",
        first,
    ), first


def test_the_summary_names_the_bot_in_telegram_mode(
    env: Path,
    feed_server: FeedServer,
    botapi: BotApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    only_loopback_feed(feed_server, capsys)
    monkeypatch.setenv("MCWATCH_TELEGRAM_TOKEN", "123456:TEST-token-for-the-stand-in-abc")
    monkeypatch.setenv("MCWATCH_TELEGRAM_API_URL", botapi.base_url)
    assert run_cli(["run", "--once"], capsys)[0] == 0  # the first run polls the feed
    code, _, err = run_cli(["run", "--once"], capsys)
    assert code == 0
    first = err.splitlines()[0]
    assert f"Telegram mode as @{BOT_USER['username']}" in first
    assert re.search(r"1 feeds enabled, next poll in \d+ min$", first), first


def test_console_poll_then_deliver_on_a_fresh_database_prints_the_alerts(
    env: Path,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MCWATCH_BACKLOG_DAYS", "0")  # the sample's stories are old news
    only_loopback_feed(feed_server, capsys)
    code, out, _ = run_cli(["poll", "--all"], capsys)
    assert code == 0 and "Maliactu" in out
    code, out, err = run_cli(["deliver"], capsys)
    assert code == 0
    alerts = out.count("── message to chat 0 ")
    assert alerts >= 1, out
    assert f"sent: {alerts}," in err


@pytest.mark.slow
def test_run_says_it_stopped_and_keeps_the_scheduler_quiet(
    env: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real `mcwatch run` process, stopped by SIGTERM as systemd stops it: it takes a
    few seconds to start Python, poll once and shut down, hence slow."""
    only_loopback_feed(feed_server, capsys)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=env,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MCWATCH_LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    head: list[str] = []
    try:
        while not head or "running" not in head[-1]:  # the signal handlers are in place
            line = process.stderr.readline()
            assert line, "".join(head)
            head.append(line)
        polled = len(feed_server.requests_to("/maliactu.rss"))
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline and len(feed_server.requests_to("/maliactu.rss")) == polled
        ):
            time.sleep(0.1)
        time.sleep(1.0)  # let the first poll finish and log
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    finally:
        process.kill()
    err = "".join(head) + rest
    assert process.returncode == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("mcwatch: database data/mcwatch.db (sqlite), console mode")
    assert re.fullmatch(r"mcwatch: stopped on SIGTERM after \d+ s", lines[-1]), lines[-1]
    assert not [line for line in lines if "apscheduler" in line], err
    assert "Traceback" not in err


def test_a_log_line_never_shares_the_progress_bar_line() -> None:
    stream = io.StringIO()
    handler = TerminalHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("mcwatch.test.progress")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("before")
        with progress_line(lambda: stream.write("polling [##--] 2/4")):
            logger.warning("during")
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == (
        "WARNING before\n\r\x1b[KWARNING during\npolling [##--] 2/4WARNING after\n"
    )


def test_a_failing_command_menu_is_retried_and_the_daemon_goes_on(
    bot: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    """setMyCommands answering 502 at start used to stop `mcwatch run`: now it is one
    warning line per failure and a retry later, until Telegram takes it."""
    import asyncio

    from bot.cli.run import publish_menu

    assert bot.application is not None
    bot.botapi.fail_next(502, method="setMyCommands", times=2)

    async def publish() -> bool:
        return await publish_menu(bot.application, asyncio.Event(), delays=(0.01,))

    with caplog.at_level(logging.WARNING, logger="bot.cli.run"):
        assert bot._run(publish()) is True
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.cli.run"]
    assert len(warnings) == 2
    assert all(w.startswith("the command menu could not be published (") for w in warnings)
    assert {c.get("language_code", "") for c in bot.botapi.commands} == {"fr", "en", ""}


def test_skipped_ticks_are_one_info_line_with_figures_per_ten_minutes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.jobs import skipped_ticks

    clock = [0.0]
    skipped = skipped_ticks(now=lambda: clock[0])
    with caplog.at_level(logging.INFO, logger="bot.jobs"):
        for second in range(0, 1300, 2):  # a deliver tick skipped every 2 s for 21 min
            clock[0] = float(second)
            skipped.record("deliver")
            if second % 30 == 0:
                skipped.record("poll")
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.jobs"]
    assert lines == [
        "a deliver tick was skipped: the previous one still ran (figures every 10 min)",
        "ticks skipped while the previous one still ran, in 10 min: deliver 300, poll 20",
        "ticks skipped while the previous one still ran, in 10 min: deliver 300, poll 20",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "bot.jobs")
