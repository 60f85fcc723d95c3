"""A summit week: every labelled positive of tests/data and of the real dev corpus in one
48-hour window (dates moved, order kept). Issue 10 asks that every distinct story reach
a subscriber of all topics exactly once; that target is NOT met yet (59 % of 175 stories
on the three sets together, 89 % on the real corpus alone; 42 % and 83 % before figures,
dates, objects and kinds of event told same-week events apart). These tests hold the
figures reached so that a change to grouping cannot quietly lose stories again; raise the
floors as grouping improves. The count is ``tests/support/summit_week.py``'s."""

from __future__ import annotations

import pytest

from tests.support import summit_week
from tests.support.labelled_feeds import REALWORLD_DEV


def test_a_summit_week_of_the_written_corpora() -> None:
    received = summit_week.receive(summit_week.synthetic())
    print(received.to_text(48))
    assert received.stories >= 140
    assert received.once / received.stories >= 0.56
    assert received.more <= 3


@pytest.mark.skipif(
    not (REALWORLD_DEV / "labels.jsonl").exists(),
    reason=f"the real-world development corpus is not at {REALWORLD_DEV}",
)
def test_a_summit_week_of_every_labelled_positive() -> None:
    received = summit_week.receive(summit_week.synthetic() + summit_week.realworld())
    print(received.to_text(48))
    assert received.stories >= 170
    assert received.once / received.stories >= 0.57
    alone = summit_week.receive(summit_week.realworld())
    print(alone.to_text(48))
    assert alone.once / alone.stories >= 0.85
