"""Admin commands (user id in MCWATCH_ADMIN_IDS) and the bot's own group membership.

A non-admin gets one polite refusal and no detail. Store calls run in a thread, as in
``bot.telegram.commands``: /stats counts a year of history, and the loop never waits.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from telegram import ChatMemberUpdated, Update
from telegram.constants import ChatMemberStatus
from telegram.ext import ContextTypes

from bot.deliver.render import split_messages
from bot.feedback import TopicFeedback, summarise
from bot.telegram.commands import _language, deps_of, is_admin, reply, send_to
from bot.telegram.sender import telegram_errors
from bot.text import describe, language_for, t
from store import deliveries, feeds, items, subscribers, topics, verdicts
from store.db import transaction
from store.models import Feed

if TYPE_CHECKING:
    from bot.deps import Deps


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    deps = deps_of(context)
    if is_admin(update, deps):
        return False
    language = await asyncio.to_thread(_language, update, deps)
    await reply(update, context, t(language, "admin_only"))
    return True


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await _refuse(update, context):
        return
    deps = deps_of(context)
    language = await asyncio.to_thread(_language, update, deps)
    figures = await asyncio.to_thread(_figures, deps, deps.clock.now() - timedelta(hours=24))
    topics_text = ", ".join(
        f"#{slug} {n}" for slug, n in sorted(figures.per_topic.items(), key=lambda kv: -kv[1])
    ) or t(language, "none")
    text = t(
        language,
        "stats",
        items_today=figures.today,
        per_topic=topics_text,
        queue=figures.queue,
        failing=figures.failing,
        **figures.subscribers,
    )
    verdicts_since = deps.clock.now() - timedelta(days=FEEDBACK_DAYS)
    rows = await asyncio.to_thread(_feedback, deps, verdicts_since)
    await reply(update, context, f"{text}\n\n{_feedback_text(rows, language)}")


FEEDBACK_DAYS = 30  # /stats's verdicts: the window `mcwatch rules feedback` shows by default


def _feedback(deps: Deps, since: datetime) -> list[TopicFeedback]:
    """Per topic, alerts sent and the verdicts given since ``since`` (``rules feedback``)."""
    with transaction(deps.engine) as session:
        sent = verdicts.alerts_sent_by_topic(session, since)
        records = verdicts.records_since(session, since)
        order = [topic.slug for topic in topics.list_topics(session)]
    return summarise(sent, records, order)


def _feedback_text(rows: list[TopicFeedback], language: str) -> str:
    """/stats's verdicts: one short line per topic (the 👎 items are the CLI's)."""
    header = t(language, "stats_feedback", days=FEEDBACK_DAYS)
    if not any(row.relevant or row.not_relevant for row in rows):
        return f"{header}\n{t(language, 'stats_feedback_none')}"
    lines = [
        t(
            language,
            "stats_feedback_line",
            topic=html.escape(row.topic) if row.topic else t(language, "stats_feedback_no_topic"),
            sent=row.alerts_sent,
            relevant=row.relevant,
            not_relevant=row.not_relevant,
            precision="—" if row.precision is None else f"{round(row.precision * 100)}%",
        )
        for row in rows
    ]
    return "\n".join([header, *lines])


@dataclass(frozen=True, slots=True)
class _Figures:
    subscribers: dict[str, int]
    today: int
    per_topic: dict[str, int]
    queue: int
    failing: int


def _figures(deps: Deps, day_start: datetime) -> _Figures:
    """/stats's figures, read in one transaction."""
    with transaction(deps.engine) as session:
        return _Figures(
            subscribers.count_subscribers(session),
            items.count_since(session, day_start),
            items.count_by_topic_since(session, day_start),
            deliveries.queue_depth(session),
            len(feeds.failing_feeds(session)),
        )


def _feeds(deps: Deps) -> tuple[list[Feed], list[Feed]]:
    """Every feed, and the failing ones."""
    with transaction(deps.engine) as session:
        return feeds.list_feeds(session), feeds.failing_feeds(session)


_MARKS = {"ok": "✅", "new": "✅", "failing": "⚠️", "disabled": "⏸"}  # by feed_status


async def feeds_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await _refuse(update, context):
        return
    deps = deps_of(context)
    language = await asyncio.to_thread(_language, update, deps)
    rows, _ = await asyncio.to_thread(_feeds, deps)
    lines = [
        f"{_MARKS[feeds.feed_status(f)]} "
        f"<code>{f.id}</code> {html.escape(f.name[:60])} ({f.language or '?'})"
        for f in rows
    ]
    for message in split_messages(t(language, "feeds_header", count=len(rows)), lines):
        await reply(update, context, message)


async def health(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await _refuse(update, context):
        return
    deps = deps_of(context)
    language = await asyncio.to_thread(_language, update, deps)
    every, failing = await asyncio.to_thread(_feeds, deps)
    if not failing:
        await reply(update, context, t(language, "health_all_ok", count=len(every)))
        return
    lines = [_health_line(f, language) for f in failing]
    header = t(language, "health_header", failing=len(failing), count=len(every))
    for message in split_messages(header, lines):
        await reply(update, context, message)


def _health_line(feed: Feed, language: str) -> str:
    """One failing feed: why, in the admin's language (``bot.text.describe``)."""
    line = t(
        language,
        "health_line",
        id=feed.id,
        name=html.escape(feed.name[:50]),
        failures=feed.failures,
        error=html.escape(describe(feed.last_error, language)[:120]),
    )
    if feed.last_ok:
        line += " " + t(language, "health_last_ok", when=f"{feed.last_ok:%Y-%m-%d %H:%M}")
    return line


async def membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was added to or removed from a group or channel."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None or change.chat.type == "private":
        return
    deps = deps_of(context)
    status = change.new_chat_member.status
    chat = change.chat
    language = language_for(change.from_user.language_code)
    admitted = change.from_user.id in deps.settings.admin_ids

    def record() -> bool:
        """Whether the change is news to answer (not a departure, not a chat kept)."""
        with transaction(deps.engine) as session:
            existing = subscribers.find_subscriber(session, chat.id)
            if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
                if existing is not None and existing.id is not None:
                    subscribers.deactivate(session, existing.id)
                return False
            if existing is not None and existing.active:
                # Promoted, demoted or restricted in a chat an admin already added: the
                # chat keeps its alerts and settings, whoever changed the bot's rights.
                return False
            if admitted:
                subscribers.register(
                    session,
                    chat.id,
                    chat_type=chat.type,
                    title=chat.title or str(chat.id),
                    language=language,
                    now=deps.clock.now(),
                )
            return True

    if not await asyncio.to_thread(record):
        return
    if status not in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR):
        return
    if admitted:
        await send_to(context, chat.id, t(language, "group_welcome"))
        return
    try:
        if chat.type != "channel":
            await send_to(context, chat.id, t(language, "group_refused"))
    finally:  # the refusal is a courtesy; leaving is the point
        with telegram_errors():
            await context.bot.leave_chat(chat.id)
