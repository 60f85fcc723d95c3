"""Settings: the only module that reads the environment.

Sources, strongest first: the process environment, a ``.env`` file in the working
directory, the TOML file named by ``MCWATCH_CONFIG``. A TOML file may spell a key as in
the environment (``MCWATCH_POLL_INTERVAL = 600``) or short (``poll_interval = 600``).
Every value is validated here, once, with a message that names the setting; nothing
below the entry points looks at ``os.environ``.

The Telegram token is kept in a ``Secret`` whose ``repr``/``str`` never show it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

from bot.errors import SettingsError, UnparsableTime
from bot.ids import MAX_CHAT_ID
from bot.timeparse import parse_duration, parse_hhmm, parse_zone

PREFIX = "MCWATCH_"
DEFAULT_API_URL = "https://api.telegram.org/bot"
T = TypeVar("T")


class Secret:
    """A string that refuses to be printed (token in logs, tracebacks, reprs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///data/mcwatch.db"
    telegram_token: Secret | None = None
    telegram_api_url: str = DEFAULT_API_URL
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    # The chat the watchdog (bot/watchdog.py) tells of failing, recovered and silent
    # feeds, and sends its weekly report; None: no watchdog.
    admin_chat: int | None = None
    poll_interval: int = 900
    timezone: str = "Africa/Bamako"
    digest_time: time = time(7, 30)
    log_level: str = "INFO"
    # Feeds fetched at once overall (2 per host at most). Generous on purpose: a slow or
    # hostile feed holds its slot up to the 20 s timeout and must not starve the others.
    fetch_concurrency: int = 32
    # Seconds an alert stays reserved by the sender that leased it. The sender renews
    # the lease while it works, so this is how long a crashed sender's alerts wait
    # before another sender takes them (and may repeat the one that was in flight).
    delivery_lease: int = 120
    # Days after its publication an item is still news: one first seen later (a feed
    # added with its archive, a late repost) is stored and searchable, never alerted
    # nor put in a digest. 0: everything is news.
    backlog_days: int = 3
    # Worker processes that parse, normalise and match the feeds of a big poll while the
    # main process fetches and writes. None: one per core (a single core: none); 0: all
    # in the main process.
    workers: int | None = None
    # How long unmatched items and sent alerts are kept (`mcwatch db vacuum` prunes
    # older ones, see store/retention.py). None: everything is kept.
    retention: timedelta | None = None
    # Which digests carry the trend chart (a PNG, a message of its own): "weekly" (the
    # weekly digests; a daily one ends with the trend as a line of text instead),
    # "daily" (every digest) or "off" (the text line everywhere). Telegram sends a bot
    # 30 messages a second: with a chart each, 1,000 daily readers take twice as long.
    digest_chart: str = "weekly"
    # `mcwatch run` serves /metrics (Prometheus) and /healthz on this port; None: off.
    metrics_port: int | None = None
    # Loopback by default: the metrics say how busy the watch is, which is nobody's
    # business outside the machine. A container sets 0.0.0.0 (its own network).
    metrics_host: str = "127.0.0.1"

    @property
    def console_mode(self) -> bool:
        """No token: alerts and digests are printed instead of sent."""
        return self.telegram_token is None

    @property
    def backlog(self) -> timedelta | None:
        """How old an item may be when first seen and still be alerted (None: any)."""
        return timedelta(days=self.backlog_days) if self.backlog_days else None


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DIGEST_CHARTS = ("weekly", "daily", "off")


def _parse_choice(given: str, name: str, choices: tuple[str, ...]) -> str:
    """The one of ``choices`` that ``given`` names, whatever its case and spacing."""
    for choice in choices:
        if given.strip().casefold() == choice.casefold():
            return choice
    raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {given!r}")


def _parse_time(parse: Callable[[str], T], value: str, name: str) -> T:
    """A time, zone or duration read as the bot reads it (``bot.timeparse``); refused
    with a SettingsError naming ``name``."""
    try:
        return parse(value)
    except UnparsableTime as exc:
        raise SettingsError(f"{name} must be {exc.expected}, got {value!r}") from None


def _parse_int(value: str, name: str, *, minimum: int, why: str = "") -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}{why}, got {number}")
    return number


# Why the poll interval has a floor, said where a value below it is refused.
POLITE = " (mcwatch never polls a publisher more often than every 5 minutes)"


def _parse_admin_ids(value: str, name: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"-?\d+", part):
            raise SettingsError(f"{name} must be comma-separated Telegram user ids, got {part!r}")
        ids.add(int(part))
    return frozenset(ids)


def _parse_chat_id(value: str, name: str) -> int:
    part = value.strip()
    # 19 digits at most: a chat id is 64-bit (and int() refuses 4,300 digits anyway).
    if not re.fullmatch(r"-?\d{1,19}", part) or not 0 < abs(int(part)) <= MAX_CHAT_ID:
        raise SettingsError(
            f"{name} must be a Telegram chat id (a whole number, negative for a group or "
            f"channel), got {part[:40]!r}"
        )
    return int(part)


def _parse_database_url(value: str, name: str) -> str:
    value = value.strip()
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise SettingsError(
            f"{name} must be an SQLAlchemy URL starting with sqlite:// or "
            f"postgresql+psycopg://, got {value.split('://')[0]!r}://…"
        )
    if value.startswith("postgresql://"):
        # SQLAlchemy's bare postgresql:// means psycopg2, which we do not ship.
        value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
    return value


def _parse_api_url(value: str, name: str) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^\s/]+", value):
        raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")
    return value


MIN_RETENTION = timedelta(days=7)


def _parse_retention(value: str, name: str) -> timedelta:
    """A week at least: a repost joins its story up to 6 days after the first report,
    and an unmatched item pruned while its feed still lists it is stored again."""
    try:
        retention = _parse_time(parse_duration, value, name)
    except OverflowError:
        raise SettingsError(f"{name} is too long, got {value!r}") from None
    if retention < MIN_RETENTION:
        raise SettingsError(
            f"{name} must be at least 7d (a repost joins its story up to 6 days later), "
            f"got {value.strip()!r}"
        )
    return retention


def _parse_port(value: str, name: str) -> int:
    number = _parse_int(value, name, minimum=1)
    if number > 65535:
        raise SettingsError(f"{name} must be a TCP port from 1 to 65535, got {number}")
    return number


# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _parse_host(value: str, name: str) -> str:
    value = value.strip()
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        if not _HOSTNAME.match(value):
            raise SettingsError(
                f"{name} must be an IP address or a host name such as 127.0.0.1 or "
                f"0.0.0.0, got {value!r}"
            ) from None
        return value
    return value.strip("[]")


def _read_toml(path_text: str, cwd: Path) -> dict[str, str]:
    path = Path(path_text)
    if not path.is_absolute():
        path = cwd / path
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"MCWATCH_CONFIG names {str(path)!r}, which does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"MCWATCH_CONFIG file {str(path)!r} is not valid TOML: {exc}") from None
    section = data.get("mcwatch", data)
    flat: dict[str, str] = {}
    for key, value in section.items():
        if isinstance(value, dict):
            continue
        full = key.upper() if key.upper().startswith(PREFIX) else PREFIX + key.upper()
        if isinstance(value, list):
            flat[full] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            flat[full] = "true" if value else "false"
        else:
            flat[full] = str(value)
    return flat


def gather(environ: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """Merge the three sources into one flat ``MCWATCH_*`` mapping (environment wins)."""
    merged: dict[str, str] = {}
    config_path = environ.get(PREFIX + "CONFIG")
    dotenv_path = cwd / ".env"
    dotenv: dict[str, str] = {}
    if dotenv_path.is_file():
        dotenv = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
        config_path = config_path or dotenv.get(PREFIX + "CONFIG")
    if config_path:
        merged.update(_read_toml(config_path, cwd))
    merged.update({k: v for k, v in dotenv.items() if k.startswith(PREFIX)})
    merged.update({k: v for k, v in environ.items() if k.startswith(PREFIX)})
    return merged


def load_settings(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read and validate every setting. Raises SettingsError naming the first bad one."""
    raw = gather(os.environ if environ is None else environ, cwd or Path.cwd())

    def get(key: str) -> str | None:
        value = raw.get(PREFIX + key)
        return value if value is not None and value.strip() != "" else None

    values: dict[str, object] = {}
    if (v := get("DATABASE_URL")) is not None:
        values["database_url"] = _parse_database_url(v, "MCWATCH_DATABASE_URL")
    if (v := get("TELEGRAM_TOKEN")) is not None:
        token = v.strip()
        # Bot tokens are "<bot id>:<35 url-safe chars>"; we check the shape only and
        # never echo the value back.
        if not re.fullmatch(r"\d+:[\w-]+", token):
            raise SettingsError(
                "MCWATCH_TELEGRAM_TOKEN does not look like a bot token (<digits>:<letters>)"
            )
        values["telegram_token"] = Secret(token)
    if (v := get("TELEGRAM_API_URL")) is not None:
        values["telegram_api_url"] = _parse_api_url(v, "MCWATCH_TELEGRAM_API_URL")
    if (v := get("ADMIN_IDS")) is not None:
        values["admin_ids"] = _parse_admin_ids(v, "MCWATCH_ADMIN_IDS")
    if (v := get("ADMIN_CHAT")) is not None:
        values["admin_chat"] = _parse_chat_id(v, "MCWATCH_ADMIN_CHAT")
    if (v := get("POLL_INTERVAL")) is not None:
        from bot.ingest.schedule import MIN_INTERVAL_SECONDS  # only when the setting is set

        values["poll_interval"] = _parse_int(
            v, "MCWATCH_POLL_INTERVAL", minimum=MIN_INTERVAL_SECONDS, why=POLITE
        )
    if (v := get("TIMEZONE")) is not None:
        values["timezone"] = _parse_time(parse_zone, v, "MCWATCH_TIMEZONE")
    if (v := get("DIGEST_TIME")) is not None:
        values["digest_time"] = _parse_time(parse_hhmm, v, "MCWATCH_DIGEST_TIME")
    if (v := get("FETCH_CONCURRENCY")) is not None:
        values["fetch_concurrency"] = _parse_int(v, "MCWATCH_FETCH_CONCURRENCY", minimum=1)
    if (v := get("DELIVERY_LEASE")) is not None:
        values["delivery_lease"] = _parse_int(v, "MCWATCH_DELIVERY_LEASE", minimum=1)
    if (v := get("BACKLOG_DAYS")) is not None:
        values["backlog_days"] = _parse_int(v, "MCWATCH_BACKLOG_DAYS", minimum=0)
    if (v := get("DIGEST_CHART")) is not None:
        values["digest_chart"] = _parse_choice(v, "MCWATCH_DIGEST_CHART", DIGEST_CHARTS)
    if (v := get("RETENTION")) is not None:
        values["retention"] = _parse_retention(v, "MCWATCH_RETENTION")
    if (v := get("WORKERS")) is not None:
        values["workers"] = _parse_int(v, "MCWATCH_WORKERS", minimum=0)
    if (v := get("METRICS_PORT")) is not None:
        values["metrics_port"] = _parse_port(v, "MCWATCH_METRICS_PORT")
    if (v := get("METRICS_HOST")) is not None:
        values["metrics_host"] = _parse_host(v, "MCWATCH_METRICS_HOST")
    if (v := get("LOG_LEVEL")) is not None:
        values["log_level"] = _parse_choice(v, "MCWATCH_LOG_LEVEL", _LOG_LEVELS)
    return Settings(**values)  # type: ignore[arg-type]
