"""The times people type: one parser each, for settings, bot commands, store and CLI.

Tables whose ids are the sentences of the rule; the callers' own wording of a refusal
is tested where they answer (tests/test_settings.py, tests/test_telegram.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.timeparse import (
    DURATION,
    HHMM,
    QUIET,
    ZONE,
    UnparsableTime,
    format_hhmm,
    parse_duration,
    parse_hhmm,
    parse_quiet,
    parse_since,
    parse_zone,
)

HHMM_ACCEPTED = [
    pytest.param("07:30", time(7, 30), id="HH:MM"),
    pytest.param("6:05", time(6, 5), id="a one-digit hour"),
    pytest.param("00:00", time(0, 0), id="midnight"),
    pytest.param("23:59", time(23, 59), id="the last minute of the day"),
    pytest.param(" 07:30 ", time(7, 30), id="surrounding spaces are ignored"),
]
HHMM_REFUSED = [
    pytest.param("24:00", id="there is no hour 24"),
    pytest.param("25:00", id="nor 25"),
    pytest.param("07:60", id="nor minute 60"),
    pytest.param("7:5", id="minutes take two digits"),
    pytest.param("7h30", id="7h30 is not HH:MM"),
    pytest.param("07:30:00", id="seconds are not asked for"),
    pytest.param("", id="nothing"),
]


@pytest.mark.parametrize(("text", "expected"), HHMM_ACCEPTED)
def test_hhmm_accepted(text: str, expected: time) -> None:
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", HHMM_REFUSED)
def test_hhmm_refused(text: str) -> None:
    with pytest.raises(UnparsableTime) as refused:
        parse_hhmm(text)
    assert (refused.value.expected, refused.value.value) == (HHMM, text)


def test_hhmm_reads_back_what_it_writes() -> None:
    every_minute = [time(h, m) for h in range(24) for m in range(60)]
    assert [parse_hhmm(format_hhmm(t)) for t in every_minute] == every_minute
    assert format_hhmm(time(6, 5)) == "06:05"


ZONES_ACCEPTED = [
    pytest.param("Africa/Bamako", id="Area/City"),
    pytest.param("America/Argentina/Buenos_Aires", id="Area/Region/City"),
    pytest.param("UTC", id="UTC"),
    pytest.param("Etc/GMT-1", id="a fixed offset named the IANA way"),
]
ZONES_REFUSED = [
    pytest.param("Mars/Olympus", id="a zone tzdata does not know"),
    pytest.param("Bamako", id="a city without its area"),
    pytest.param("EST", id="a legacy abbreviation ZoneInfo takes but no reader means"),
    pytest.param("Cuba", id="a legacy country name ZoneInfo takes"),
    pytest.param("America/Argentina", id="a region, not a zone"),
    pytest.param("../../etc/passwd", id="a path"),
    pytest.param("", id="nothing"),
]


@pytest.mark.parametrize("name", ZONES_ACCEPTED)
def test_zone_accepted(name: str) -> None:
    assert parse_zone(name) == name
    assert parse_zone(f" {name} ") == name


@pytest.mark.parametrize("name", ZONES_REFUSED)
def test_zone_refused(name: str) -> None:
    with pytest.raises(UnparsableTime) as refused:
        parse_zone(name)
    assert refused.value.expected == ZONE


QUIET_ACCEPTED = [
    pytest.param("22:00-07:00", (time(22), time(7)), id="across midnight"),
    pytest.param("12:00-14:00", (time(12), time(14)), id="in the day"),
    pytest.param("22:30-6:00", (time(22, 30), time(6)), id="one-digit hours"),
    pytest.param("22:00 – 07:00", (time(22), time(7)), id="spaces and an en dash"),
    pytest.param("off", None, id="off"),
    pytest.param("OFF", None, id="OFF"),
]
QUIET_REFUSED = [
    pytest.param("22:00", id="only a start"),
    pytest.param("25:00-07:00", id="an impossible hour"),
    pytest.param("22:00-22:00", id="starting when it ends"),
    pytest.param("7:00-07:00", id="starting when it ends, written otherwise"),
    pytest.param("22:00-07:00-08:00", id="three times"),
    pytest.param("tonight", id="words"),
    pytest.param("", id="nothing"),
]


@pytest.mark.parametrize(("text", "expected"), QUIET_ACCEPTED)
def test_quiet_accepted(text: str, expected: tuple[time, time] | None) -> None:
    assert parse_quiet(text) == expected


@pytest.mark.parametrize("text", QUIET_REFUSED)
def test_quiet_refused(text: str) -> None:
    with pytest.raises(UnparsableTime) as refused:
        parse_quiet(text)
    assert (refused.value.expected, refused.value.value) == (QUIET, text)


DURATIONS = [
    pytest.param("30m", timedelta(minutes=30), id="minutes"),
    pytest.param("12h", timedelta(hours=12), id="hours"),
    pytest.param("7d", timedelta(days=7), id="days"),
    pytest.param("2w", timedelta(weeks=2), id="weeks"),
    pytest.param(" 7 d ", timedelta(days=7), id="spaces around and between"),
    pytest.param("0d", timedelta(0), id="zero"),
]


@pytest.mark.parametrize(("text", "expected"), DURATIONS)
def test_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7", "d", "7y", "-7d", "7.5d", "7 days", ""])
def test_duration_refused(text: str) -> None:
    with pytest.raises(UnparsableTime, match=f"^expected {DURATION}, got "):
        parse_duration(text)


NOW = datetime(2026, 2, 23, 12, tzinfo=UTC)


def test_since_is_that_long_before_now() -> None:
    assert parse_since("7d", NOW) == datetime(2026, 2, 16, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("800000w", id="before year 1, within a timedelta"),
        pytest.param("99999999999w", id="beyond any timedelta"),
    ],
)
def test_since_before_year_one_is_one_sentence(text: str) -> None:
    with pytest.raises(ValueError, match=r"^\S+ reaches back before year 1; try a shorter"):
        parse_since(text, NOW)
