"""The JSON shapes SPEC fixes for scripts (``--json`` output)."""

from __future__ import annotations

from typing import Any

from bot.types import StoredItem
from store.models import Feed


def feed_json(feed: Feed) -> dict[str, Any]:
    return {
        "id": feed.id,
        "url": feed.url,
        "name": feed.name,
        "enabled": feed.enabled,
        "last_ok": feed.last_ok.isoformat() if feed.last_ok else None,
        "last_error": feed.last_error,
        "failures": feed.failures,
        "language": feed.language,
        "next_poll_at": feed.next_poll_at.isoformat() if feed.next_poll_at else None,
    }


def item_json(item: StoredItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "feed_id": item.feed_id,
        "title": item.title,
        "link": item.link,
        "published": item.published.isoformat(),
        "language": item.language,
        "topics": list(item.topics),
        "cluster_id": item.story_id,
        "source": item.source,
    }
