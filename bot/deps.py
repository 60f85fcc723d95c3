"""The object graph, built once per process by an entry point and passed down.

Everything that touches the world is here: settings, database engine, HTTP client,
clock, sender, pacer, and the metrics hooks (counting nothing unless `run` serves them).
Tests build a ``Deps`` with loopback servers and a fixed clock.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

import httpx
from sqlalchemy import Engine

from bot.clock import Clock, SystemClock
from bot.deliver.pacing import Limits, Pacer
from bot.deliver.senders import Sender
from bot.ingest.dedupe import Fingerprint, fingerprint
from bot.ingest.fetch import FetchLimits, make_client
from bot.metrics import Metrics
from bot.settings import Settings

FINGERPRINT_CACHE = 20_000  # ~three days of a busy watch; cleared whole when full


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    http: httpx.AsyncClient
    sender: Sender
    clock: Clock = field(default_factory=SystemClock)
    pacer: Pacer = field(default_factory=Pacer)
    fetch_limits: FetchLimits = field(default_factory=FetchLimits)
    jitter: Callable[[], float] = field(default=lambda: random.uniform(-1.0, 1.0))  # noqa: S311
    # No-op hooks by default; `mcwatch run` with MCWATCH_METRICS_PORT installs counting
    # ones (bot.health.serve_metrics).
    metrics: Metrics = field(default_factory=Metrics)
    # Story fingerprints of stored items, by item id: computed once per process, not at
    # every poll (they never change; the story id is refreshed from the row each time).
    fingerprints: dict[int, Fingerprint] = field(default_factory=dict)

    def fingerprint(
        self,
        item_id: int,
        story_id: int | None,
        title: str,
        summary: str,
        language: str,
        published: datetime,
    ) -> Fingerprint:
        cached = self.fingerprints.get(item_id)
        if cached is None:
            if len(self.fingerprints) >= FINGERPRINT_CACHE:
                self.fingerprints.clear()
            cached = fingerprint(item_id, story_id, title, summary, language, published)
            self.fingerprints[item_id] = cached
        return cached if cached.story_id == story_id else replace(cached, story_id=story_id)

    def remember_fingerprint(self, fingerprint: Fingerprint) -> None:
        """Cache the fingerprint of an item just stored (and committed)."""
        if len(self.fingerprints) >= FINGERPRINT_CACHE:
            self.fingerprints.clear()
        self.fingerprints[fingerprint.item_id] = fingerprint


@asynccontextmanager
async def open_deps(
    settings: Settings,
    engine: Engine,
    sender: Sender,
    *,
    clock: Clock | None = None,
    fetch_limits: FetchLimits | None = None,
    pacer: Pacer | None = None,
) -> AsyncIterator[Deps]:
    """Build the graph; closes the HTTP client on the way out."""
    limits = fetch_limits or FetchLimits()
    async with make_client(timeout=limits.timeout) as http:
        yield Deps(
            settings=settings,
            engine=engine,
            http=http,
            sender=sender,
            clock=clock or SystemClock(),
            # Console mode prints: Telegram's pacing would only make the terminal wait.
            pacer=pacer or Pacer(Limits.none() if settings.console_mode else Limits()),
            fetch_limits=limits,
        )
