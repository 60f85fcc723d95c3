from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.errors import SettingsError
from bot.settings import Secret, Settings, load_settings
from bot.types import Preferences
from store import subscribers, topics
from store.db import transaction

TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr"


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path)
    assert settings.database_url == "sqlite:///data/mcwatch.db"
    assert settings.console_mode
    assert settings.poll_interval == 900
    assert settings.timezone == "Africa/Bamako"
    assert settings.digest_time == time(7, 30)
    assert settings.delivery_lease == 120
    assert settings.metrics_port is None  # no server unless asked for
    assert settings.metrics_host == "127.0.0.1"
    assert settings.digest_chart == "weekly"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("MCWATCH_DIGEST_TIME", "7h", "MCWATCH_DIGEST_TIME must be HH:MM, got '7h'"),
        ("MCWATCH_DIGEST_TIME", "24:00", "MCWATCH_DIGEST_TIME must be HH:MM"),
        ("MCWATCH_TIMEZONE", "Mars/Olympus", "MCWATCH_TIMEZONE must be an IANA timezone"),
        ("MCWATCH_TIMEZONE", "America/Argentina", "MCWATCH_TIMEZONE must be an IANA timezone"),
        # The rule of /timezone: Area/City, not a legacy name ZoneInfo also takes.
        (
            "MCWATCH_TIMEZONE",
            "EST",
            "MCWATCH_TIMEZONE must be an IANA timezone such as Africa/Bamako, got 'EST'",
        ),
        ("MCWATCH_POLL_INTERVAL", "often", "MCWATCH_POLL_INTERVAL must be a whole number"),
        ("MCWATCH_POLL_INTERVAL", "5", "MCWATCH_POLL_INTERVAL must be at least 300 (mcwatch"),
        ("MCWATCH_POLL_INTERVAL", "60", "MCWATCH_POLL_INTERVAL must be at least 300"),
        ("MCWATCH_DELIVERY_LEASE", "0", "MCWATCH_DELIVERY_LEASE must be at least 1"),
        ("MCWATCH_ADMIN_IDS", "12,bob", "MCWATCH_ADMIN_IDS must be comma-separated"),
        ("MCWATCH_LOG_LEVEL", "chatty", "MCWATCH_LOG_LEVEL must be one of"),
        ("MCWATCH_DIGEST_CHART", "monthly", "MCWATCH_DIGEST_CHART must be one of weekly, daily"),
        ("MCWATCH_DATABASE_URL", "mysql://x", "MCWATCH_DATABASE_URL must be an SQLAlchemy URL"),
        ("MCWATCH_TELEGRAM_API_URL", "ftp://x", "MCWATCH_TELEGRAM_API_URL must be an http(s)"),
        ("MCWATCH_METRICS_PORT", "http", "MCWATCH_METRICS_PORT must be a whole number"),
        ("MCWATCH_METRICS_PORT", "0", "MCWATCH_METRICS_PORT must be at least 1"),
        ("MCWATCH_METRICS_PORT", "70000", "MCWATCH_METRICS_PORT must be a TCP port from 1"),
        ("MCWATCH_METRICS_HOST", "my host", "MCWATCH_METRICS_HOST must be an IP address"),
        ("MCWATCH_METRICS_HOST", "-bad.example", "MCWATCH_METRICS_HOST must be an IP address"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_a_bad_setting_is_named_in_the_error(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings({key: value}, tmp_path)


def test_a_malformed_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"MCWATCH_TELEGRAM_TOKEN": "secret-but-wrong"}, tmp_path)
    assert "secret-but-wrong" not in str(caught.value)


def test_the_token_never_shows_in_repr(tmp_path: Path) -> None:
    settings = load_settings({"MCWATCH_TELEGRAM_TOKEN": TOKEN}, tmp_path)
    assert isinstance(settings.telegram_token, Secret)
    assert settings.telegram_token.reveal() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert not settings.console_mode


def test_environment_beats_dotenv_beats_toml(tmp_path: Path) -> None:
    (tmp_path / "conf.toml").write_text(
        '[mcwatch]\npoll_interval = 600\ntimezone = "Europe/Paris"\n'
        'MCWATCH_DIGEST_TIME = "06:00"\nadmin_ids = [1, 2]\n'
    )
    (tmp_path / ".env").write_text("MCWATCH_TIMEZONE=Africa/Abidjan\nMCWATCH_POLL_INTERVAL=700\n")
    settings = load_settings(
        {"MCWATCH_CONFIG": "conf.toml", "MCWATCH_POLL_INTERVAL": "800"}, tmp_path
    )
    assert settings.poll_interval == 800  # environment
    assert settings.timezone == "Africa/Abidjan"  # .env over TOML
    assert settings.digest_time == time(6, 0)  # TOML, long key spelling
    assert settings.admin_ids == frozenset({1, 2})  # TOML list


@pytest.mark.parametrize("value", ["weekly", "DAILY", " off "])
def test_the_digest_chart_setting(tmp_path: Path, value: str) -> None:
    chosen = load_settings({"MCWATCH_DIGEST_CHART": value}, tmp_path).digest_chart
    assert chosen == value.strip().lower()


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"MCWATCH_CONFIG names .*nope\.toml"):
        load_settings({"MCWATCH_CONFIG": "nope.toml"}, tmp_path)


def test_bare_postgresql_url_uses_psycopg(tmp_path: Path) -> None:
    settings = load_settings({"MCWATCH_DATABASE_URL": "postgresql://u@h/db"}, tmp_path)
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("port", "host", "expected"),
    [
        ("9795", "0.0.0.0", (9795, "0.0.0.0")),
        (" 9795 ", "[::1]", (9795, "::1")),
        ("65535", "metrics.internal", (65535, "metrics.internal")),
    ],
)
def test_metrics_port_and_host(tmp_path: Path, port: str, host: str, expected: object) -> None:
    settings = load_settings({"MCWATCH_METRICS_PORT": port, "MCWATCH_METRICS_HOST": host}, tmp_path)
    assert (settings.metrics_port, settings.metrics_host) == expected


def test_a_bad_metrics_port_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"MCWATCH_METRICS_PORT": "9795/tcp"}, tmp_path)
    assert str(caught.value) == "MCWATCH_METRICS_PORT must be a whole number, got '9795/tcp'"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" Europe/Paris ", "Europe/Paris"), ("UTC", "UTC"), ("Etc/GMT-1", "Etc/GMT-1")],
)
def test_a_timezone_is_read_as_the_bot_reads_it(tmp_path: Path, value: str, expected: str) -> None:
    assert load_settings({"MCWATCH_TIMEZONE": value}, tmp_path).timezone == expected


# -- a subscriber's preferences: the settings' defaults applied once, in the store ----
NOW = datetime(2026, 2, 23, 12, tzinfo=UTC)
DEFAULTS = Settings(timezone="Asia/Shanghai", digest_time=time(6, 45))


def preferences_of(engine: Engine, chat_id: int) -> Preferences | None:
    with transaction(engine) as session:
        return subscribers.preferences(session, chat_id, DEFAULTS)


def test_a_subscriber_who_chose_nothing_gets_the_settings_defaults(engine: Engine) -> None:
    with transaction(engine) as session:
        for slug in ("security", "energy", "mining"):
            topic, _ = topics.upsert_topic(session, slug, name=slug, query=slug)
            topic.position = {"mining": 0, "energy": 1, "security": 2}[slug]
        subscriber, _ = subscribers.register(
            session, 20, chat_type="private", title="t", language="en", now=NOW
        )
        subscriber_id = subscriber.id
    assert preferences_of(engine, 20) == Preferences(
        subscriber_id=subscriber_id or 0,
        chat_id=20,
        language="en",
        mode="instant",
        timezone="Asia/Shanghai",
        digest_time=time(6, 45),
        quiet=None,
        topics=("mining", "energy", "security"),  # in topic order
    )
    assert preferences_of(engine, 21) is None


def test_a_subscribers_choices_win_over_the_defaults(engine: Engine) -> None:
    with transaction(engine) as session:
        topics.upsert_topic(session, "energy", name="Énergie", query="energie")
        subscriber, _ = subscribers.register(
            session, 20, chat_type="private", title="t", language="fr", now=NOW
        )
        subscribers.set_subscriptions(session, subscriber.id or 0, ["energy"], subscribed=False)
        subscribers.update_subscriber(
            session,
            20,
            mode="both",
            timezone="Europe/Paris",
            digest_time=time(18, 5),  # a time is stored as "HH:MM"
            quiet_start="22:00",
            quiet_end="07:00",
            paused=True,
        )
    found = preferences_of(engine, 20)
    assert found is not None
    assert (found.mode, found.timezone, found.digest_time, found.quiet, found.topics) == (
        "both",
        "Europe/Paris",
        time(18, 5),
        (time(22), time(7)),
        (),
    )
    assert found.paused and found.active and found.zone.key == "Europe/Paris"
    with transaction(engine) as session:
        assert subscribers.get_subscriber(session, 20).digest_time == "18:05"
