"""What every CLI command needs, built lazily once per invocation (never at import).

The CLI's modules import what a command needs inside the command, when it runs:
`mcwatch --help` loads no database library, and no command that only reads the
database loads Telegram, matplotlib or Alembic (tests/test_startup.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from bot.clock import Clock, SystemClock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.settings import Settings

CONSOLE_CHAT_ID = 0  # the console "subscriber" that receives alerts when there is no token


@dataclass
class Runtime:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    # The command's runtime, for the error line at the CLI's edge (bot.cli.failures).
    current: ClassVar[Runtime | None] = None

    @classmethod
    def load(cls) -> Runtime:
        from bot.logs import setup_logging
        from bot.settings import load_settings

        settings = load_settings()
        secrets = (settings.telegram_token.reveal(),) if settings.telegram_token else ()
        setup_logging(settings.log_level, secrets)
        Runtime.current = cls(settings)
        return Runtime.current

    @cached_property
    def engine(self) -> Engine:
        """The database, migrated to the newest schema and seeded on first start."""
        from store.db import database_errors, make_engine

        engine = make_engine(self.settings.database_url)
        with database_errors(engine.url):  # the first connection: most database troubles
            prepare(engine, self.clock)
        return engine


def prepare(engine: Engine, clock: Clock) -> None:
    """Migrate and seed when needed, one process at a time. The usual case (schema at
    the head, topics there) is one cheap query, with neither Alembic nor the seed files
    loaded, and no lock."""
    from store.migrate import current_revision, head_revision, is_ready, startup_lock, upgrade

    if is_ready(engine):
        return
    from bot.seed_files import seed

    with startup_lock(engine):  # several workers starting at once: one does the work
        if is_ready(engine):
            return
        if current_revision(engine) != head_revision(engine):
            upgrade(engine)
        seed(engine, clock, first_start=True)
