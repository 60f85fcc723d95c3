"""Logging set-up: one line per event, bound context, secrets redacted.

httpx logs every request URL at INFO, and a Bot API URL contains the token
(``…/bot123:ABC/sendMessage``). We lower httpx to WARNING *and* install a filter that
masks anything shaped like a bot token in every record, whatever logger emits it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
REDACTED = "<token>"
_secrets: tuple[str, ...] = ()  # the secrets setup_logging was given, for other outputs


def known_secrets() -> tuple[str, ...]:
    """The secrets of this process's settings (the CLI's error line masks them too)."""
    return _secrets


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask bot-token-shaped strings and any explicit ``secrets`` in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return TOKEN_PATTERN.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrite each record's message with secrets masked (args are folded in first)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Exceptions from httpx/PTB may carry the URL; render and mask them now.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted, self.secrets)
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True


_redraw: list[Callable[[], None]] = []  # the progress bar on stderr now, if one is drawn


@contextmanager
def progress_line(redraw: Callable[[], None]) -> Iterator[None]:
    """While a progress bar is drawn on the terminal, a log line first clears the bar's
    line, then the bar is drawn again below it: the two never share a line."""
    _redraw.append(redraw)
    try:
        yield
    finally:
        _redraw.remove(redraw)


class TerminalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that keeps clear of a progress bar (see ``progress_line``)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not _redraw:
            super().emit(record)
            return
        self.acquire()
        try:
            self.stream.write("\r\x1b[K")  # back to the line's start, erase the bar
            super().emit(record)
            _redraw[-1]()
        finally:
            self.release()


def setup_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    """Configure the root logger for the CLI and daemon (called by entry points only)."""
    global _secrets
    _secrets = tuple(secret for secret in secrets if secret)
    handler = TerminalHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every migration context at INFO on each command; its errors still show.
    quieted = (
        "httpx",
        "httpcore",
        "telegram.ext.Updater",
        "alembic",
    )
    for name in quieted:
        logging.getLogger(name).setLevel(logging.WARNING)
    # APScheduler's "Added job", "Scheduler started" (INFO) and a WARNING per skipped tick
    # ("maximum number of running instances reached"): bot.jobs reports skips itself.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def context(**fields: object) -> str:
    """Render bound context as ``key=value`` pairs for a log line; a value with spaces
    (a feed's name) is quoted, so the pairs stay apart."""
    return " ".join(
        f"{key}={_value(value)}" for key, value in fields.items() if value is not None
    )


def _value(value: object) -> str:
    text = str(value)
    return f'"{text}"' if not text or any(c.isspace() for c in text) else text


@dataclass
class Tally:
    """Something normal under load — a tick skipped because the last one still ran,
    Telegram answering 429 — said once, at INFO, when it starts after a quiet while,
    then as one line of figures per ``every`` seconds: never a line (nor a WARNING, nor
    a traceback) per event.

    ``first`` is formatted with ``key`` and ``minutes``; ``figures`` with ``minutes``
    and ``figures`` ("deliver 300, poll 20": the counts by key since the last line).
    """

    logger: logging.Logger
    first: str
    figures: str
    every: float = 600.0
    now: Callable[[], float] = field(default=time.monotonic)
    counts: dict[str, int] = field(default_factory=dict)
    since: float = 0.0  # start of the figures being counted
    last: float | None = None  # the last event

    def record(self, key: str) -> None:
        now = self.now()
        quiet = self.last is None or now - self.last >= self.every
        self.last = now
        if quiet:  # the first event after a quiet while: said at once, figures follow
            self.logger.info(self.first.format(key=key, minutes=f"{self.every / 60:.0f}"))
            self.counts, self.since = {}, now
            return
        self.counts[key] = self.counts.get(key, 0) + 1
        if now - self.since >= self.every:
            figures = ", ".join(f"{name} {n}" for name, n in sorted(self.counts.items()))
            minutes = f"{(now - self.since) / 60:.0f}"
            self.logger.info(self.figures.format(minutes=minutes, figures=figures))
            self.counts, self.since = {}, now
