"""Counting what the daemon does: the hooks the poll, the outbox and the digest call.

``Metrics`` is the hook layer and counts nothing: it is what every ``Deps`` carries by
default, so CLI commands, tests and ``run --once`` pay one no-op call per feed polled
and per alert sent, and never import prometheus_client (~0.1 s; ``mcwatch --help`` and
tests/test_startup.py keep start-up lean). ``PrometheusMetrics`` counts; ``mcwatch run``
installs it when ``MCWATCH_METRICS_PORT`` is set (``bot.health.serve_metrics``), with a
``CollectorRegistry`` of its own, never prometheus_client's global one.

Names follow Prometheus' conventions (prefix ``mcwatch_``, ``_total`` on counters, base
units: seconds, Unix timestamps in seconds):

Counters (this process's, from zero at start, as Prometheus expects):
- ``mcwatch_polls_total{outcome="ok"|"not-modified"|"error"}``: one per feed polled
- ``mcwatch_items_new_total``, ``mcwatch_items_matched_total``: items stored, and those
  of them that matched a topic
- ``mcwatch_alerts_queued_total``, ``mcwatch_alerts_sent_total``,
  ``mcwatch_alerts_retried_total`` (put back: 429, 5xx, timeout),
  ``mcwatch_alerts_failed_total{reason="rejected"|"blocked"}`` (given up)
- ``mcwatch_telegram_retry_after_total``: Telegram 429 answers (alerts, edits, digests)
- ``mcwatch_digests_total{status="sent"|"empty"|"queued"|"failed"}``: daily digests

Gauges (``bot.health.StateCollector``, at scrape time):
- ``mcwatch_feeds{status="ok"|"failing"|"disabled"}``, ``mcwatch_queue_depth``,
  ``mcwatch_queue_oldest_age_seconds``, ``mcwatch_last_poll_success_timestamp_seconds``:
  read from the database
- ``mcwatch_last_sent_timestamp_seconds``: this process's last alert sent
- ``mcwatch_build_info{version}``: always 1

The gauges from the database are right whoever polled (the daemon or a ``mcwatch poll``
beside it) and after a restart; the timestamps are absent, not 0, until there is one.
No label ever carries a chat id, a URL or the token: label values are the fixed words
above, so the series stay few.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.metrics import Counter as _Child

    from bot.clock import Clock

POLL_OUTCOMES = ("ok", "not-modified", "error")  # PollOutcome.status
FAILURE_REASONS = ("rejected", "blocked")
DIGEST_STATUSES = ("sent", "empty", "queued", "failed")


class Metrics:
    """The hooks, doing nothing. Subclasses count; callers never check which they have."""

    def polled(self, status: str, new_items: int, matched: int, queued: int) -> None:
        """One feed's poll finished (``PollOutcome``'s status and counts)."""

    def delivered(self, outcome: str) -> None:
        """One alert's attempt ended: sent | retry | blocked | failed | held."""

    def throttled(self) -> None:
        """Telegram answered 429 Too Many Requests (retry_after)."""

    def digested(self, status: str) -> None:
        """One daily digest was closed: sent | empty | queued | failed."""


class PrometheusMetrics(Metrics):
    """The hooks, counted in a registry of their own.

    Also remembers, for ``/healthz``, when this process last sent an alert and since
    when every attempt has been put back (Telegram unreachable, token revoked, 5xx).
    Hooks run on the event loop; a scrape reads the counters from another thread, which
    prometheus_client's values allow (each has its own lock).
    """

    def __init__(self, clock: Clock, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, disable_created_metrics

        # Every counter would also export a ``…_created`` gauge (its start time) in the
        # text format: twice the series for what Prometheus infers from resets anyway.
        # A switch of the whole process, which has no other Prometheus user.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
        self.clock = clock
        self.registry = registry if registry is not None else CollectorRegistry()
        self.last_sent_at: datetime | None = None
        # The first attempt put back since the last alert sent; None when sending works.
        self.unsent_since: datetime | None = None
        r = self.registry

        polls = Counter("mcwatch_polls", "Feed polls, by outcome.", ["outcome"], registry=r)
        # Children made now, so that every series is exported from zero (a counter that
        # appears only at its first increment hides that first increment from rate()).
        self._polls: dict[str, _Child] = {o: polls.labels(o) for o in POLL_OUTCOMES}
        self._polls_family: Counter = polls
        self._items_new = Counter("mcwatch_items_new", "New items stored.", registry=r)
        self._items_matched = Counter(
            "mcwatch_items_matched", "New items that matched at least one topic.", registry=r
        )
        self._queued = Counter("mcwatch_alerts_queued", "Alerts queued.", registry=r)
        self._sent = Counter("mcwatch_alerts_sent", "Alerts Telegram accepted.", registry=r)
        self._retried = Counter(
            "mcwatch_alerts_retried",
            "Alert attempts put back in the queue (429, 5xx, timeout).",
            registry=r,
        )
        failed = Counter(
            "mcwatch_alerts_failed",
            "Alerts given up: rejected by Telegram, or the chat blocked the bot.",
            ["reason"],
            registry=r,
        )
        self._failed: dict[str, _Child] = {
            reason: failed.labels(reason) for reason in FAILURE_REASONS
        }
        self._throttled = Counter(
            "mcwatch_telegram_retry_after",
            "Telegram 429 Too Many Requests answers (alerts, edits, digests).",
            registry=r,
        )
        digests = Counter(
            "mcwatch_digests", "Daily digests closed, by status.", ["status"], registry=r
        )
        self._digests: dict[str, _Child] = {s: digests.labels(s) for s in DIGEST_STATUSES}

    def polled(self, status: str, new_items: int, matched: int, queued: int) -> None:
        child = self._polls.get(status)
        if child is None:  # a status this table does not know yet: counted, not lost
            child = self._polls[status] = self._polls_family.labels(status)
        child.inc()
        if new_items:
            self._items_new.inc(new_items)
        if matched:
            self._items_matched.inc(matched)
        if queued:
            self._queued.inc(queued)

    def delivered(self, outcome: str) -> None:
        if outcome == "sent":
            self._sent.inc()
            self.last_sent_at = self.clock.now()
            self.unsent_since = None
        elif outcome == "retry":
            self._retried.inc()
            if self.unsent_since is None:
                self.unsent_since = self.clock.now()
        elif outcome == "failed":
            self._failed["rejected"].inc()
        elif outcome == "blocked":
            self._failed["blocked"].inc()
        # "held" (quiet hours) is neither a success nor a failure: not counted

    def throttled(self) -> None:
        self._throttled.inc()

    def digested(self, status: str) -> None:
        child = self._digests.get(status)
        if child is not None:
            child.inc()
