"""Plan deliveries: who should receive which item. Pure.

An instant-mode (or both-mode) subscriber receives an item when at least one of the
item's matched topics is among their subscriptions; the alert lists only those topics.
Once-per-story is enforced by the store's unique key, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.timeparse import parse_hhmm
from bot.types import DeliveryIntent, Match, Recipient


def plan_alerts(
    item_id: int, matches: Sequence[Match], recipients: Sequence[Recipient]
) -> list[DeliveryIntent]:
    matched = [m.slug for m in matches]
    intents: list[DeliveryIntent] = []
    for recipient in recipients:
        if recipient.mode not in ("instant", "both"):
            continue
        wanted = tuple(slug for slug in matched if slug in recipient.topics)
        if wanted:
            intents.append(DeliveryIntent(recipient.subscriber_id, item_id, wanted))
    return intents


def quiet_until(
    now: datetime, timezone: str, start: time | None, end: time | None
) -> datetime | None:
    """If ``now`` falls in the subscriber's quiet hours, the UTC time they end; else None.

    Quiet hours are local wall-clock times and may span midnight (22:00–07:00). The end
    is computed in the subscriber's zone, so a daylight-saving change is respected.
    """
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
    else:  # spans midnight
        inside = clock >= start or clock < end
    if not inside:
        return None
    end_day = local.date()
    if clock >= end:  # the end is tomorrow's
        end_day += timedelta(days=1)
    ends = datetime.combine(end_day, end, tzinfo=zone)
    return ends.astimezone(now.tzinfo or ZoneInfo("UTC"))


def clock_time(text: str | None) -> time | None:
    """A stored '22:30' → time(22, 30); None or '' → None (``bot.timeparse.parse_hhmm``:
    stored values are validated on input)."""
    return parse_hhmm(text) if text else None
