from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.support.db",
    "tests.support.feed_server",
    "tests.support.botapi",
    "tests.support.telegram",
    "tests.support.cli",
]


@pytest.fixture(autouse=True)
def _the_pipeline_met_no_bug(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail any test in which the pipeline caught one of its own bugs.

    The pipeline turns a bug met by one feed into that feed's health record and goes on
    (bot.ingest.pipeline, "internal-error"): right in production, but in a test it would hide
    the bug behind a passing assertion about the other feeds. A test that provokes one
    on purpose says so with ``@pytest.mark.internal_error_expected``.
    """
    caplog.set_level(logging.ERROR, logger="bot.ingest.pipeline")
    yield
    if request.node.get_closest_marker("internal_error_expected"):
        return
    bugs = [
        record.getMessage()
        for when in ("setup", "call")
        for record in caplog.get_records(when)
        if record.name == "bot.ingest.pipeline" and "internal-error" in record.getMessage()
    ]
    assert not bugs, f"the pipeline met a bug: {bugs}"
