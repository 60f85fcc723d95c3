"""Subscriber commands. Each handler: read the chat, one store transaction, one reply.

In a group the settings commands are for mcwatch administrators only
(``MCWATCH_ADMIN_IDS``): one member must not change what the whole group receives. A
channel post has no author, but only the channel's administrators can post, and the bot
is there only because an mcwatch administrator added it: commands posted in a channel
mcwatch serves are taken as the administrators'.
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import Chat, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.daily import digest_now, trend_chart
from bot.errors import RuleSyntaxError
from bot.render import render_item_line, split_messages
from bot.rules import query_matcher
from bot.telegram.i18n import LANGUAGES, language_for, t
from bot.telegram.keyboards import TOGGLE_PREFIX, topics_keyboard
from bot.types import MatchInput
from store import items, subscribers, topics
from store.db import transaction
from store.models import Subscriber

if TYPE_CHECKING:
    from bot.deps import Deps

MODES = ("instant", "digest", "both")
LATEST_DEFAULT, LATEST_MAX = 5, 20
SEARCH_WINDOW = 2000  # newest stored items searched by /search
SEARCH_RESULTS = 10
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def deps_of(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    return context.application.bot_data["deps"]  # type: ignore[no-any-return]


def _chat_title(chat: Chat) -> str:
    return chat.title or chat.full_name or chat.username or str(chat.id)


def _find(deps: Deps, chat_id: int) -> Subscriber | None:
    with transaction(deps.engine) as session:
        return subscribers.find_subscriber(session, chat_id)


def _language(update: Update, deps: Deps) -> str:
    """The subscriber's chosen language, else from their Telegram settings."""
    chat = update.effective_chat
    subscriber = _find(deps, chat.id) if chat is not None else None
    if subscriber is not None:
        return subscriber.language
    user = update.effective_user
    return language_for(user.language_code if user else None)


def is_admin(update: Update, deps: Deps) -> bool:
    user = update.effective_user
    return user is not None and user.id in deps.settings.admin_ids


def may_configure(update: Update, deps: Deps) -> bool:
    """Whether this chat's settings may be changed by this update (see module doc)."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == "private" or is_admin(update, deps):
        return True
    if chat.type == "channel":
        served = _find(deps, chat.id)
        return served is not None and served.active
    return False


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(
            text, parse_mode=ParseMode.HTML, disable_web_page_preview=True, **kwargs
        )


async def _registered(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, settings_change: bool = False
) -> tuple[Deps, Subscriber, str] | None:
    """The calling chat's subscriber, or a reply explaining why there is none."""
    deps = deps_of(context)
    chat = update.effective_chat
    language = _language(update, deps)
    if chat is None:
        return None
    if settings_change and not may_configure(update, deps):
        await reply(update, t(language, "group_admin_only"))
        return None
    subscriber = _find(deps, chat.id)
    if subscriber is None or not subscriber.active:
        await reply(update, t(language, "not_registered"))
        return None
    return deps, subscriber, language


def _update(deps: Deps, chat_id: int, **changes: object) -> Subscriber:
    with transaction(deps.engine) as session:
        return subscribers.update_subscriber(session, chat_id, **changes)


def _known(deps: Deps) -> tuple[list[str], str]:
    with transaction(deps.engine) as session:
        slugs = [topic.slug for topic in topics.list_topics(session, enabled_only=True)]
    return slugs, ", ".join(slugs)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    deps = deps_of(context)
    chat = update.effective_chat
    if chat is None:
        return
    if not may_configure(update, deps):
        await reply(update, t(_language(update, deps), "group_refused"))
        return
    user = update.effective_user
    with transaction(deps.engine) as session:
        subscriber, created = subscribers.register(
            session,
            chat.id,
            chat_type=chat.type,
            title=_chat_title(chat),
            language=language_for(user.language_code if user else None),
            now=deps.clock.now(),
        )
        language = subscriber.language
    await reply(update, t(language, "start_new" if created else "start_back"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    deps = deps_of(context)
    language = _language(update, deps)
    text = t(language, "help")
    if is_admin(update, deps):
        text += t(language, "help_admin")
    await reply(update, text)


async def topics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context)
    if found is None:
        return
    deps, subscriber, language = found
    with transaction(deps.engine) as session:
        listed = [(tp.slug, tp.name) for tp in topics.list_topics(session, enabled_only=True)]
        mine = set(subscribers.subscribed_slugs(session, subscriber.id or 0))
    await reply(update, t(language, "topics_header"), reply_markup=topics_keyboard(listed, mine))


async def _change(update: Update, context: ContextTypes.DEFAULT_TYPE, *, subscribe: bool) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    known, known_text = _known(deps)
    # In the order the reader typed them, once each: the confirmation echoes that order.
    wanted = list(
        dict.fromkeys(arg.strip().lower().lstrip("#") for arg in context.args or [] if arg.strip())
    )
    if not wanted:
        usage = "usage_subscribe" if subscribe else "usage_unsubscribe"
        await reply(update, t(language, usage, known=known_text))
        return
    if wanted == ["all"]:
        wanted = known
    unknown = [slug for slug in wanted if slug not in known]
    if unknown:
        await reply(
            update,
            t(language, "unknown_topics", topics=html.escape(", ".join(unknown)), known=known_text),
        )
        return
    with transaction(deps.engine) as session:
        changed = subscribers.set_subscriptions(
            session, subscriber.id or 0, wanted, subscribed=subscribe
        )
    if changed:
        changed = [slug for slug in wanted if slug in changed]
        key = "subscribed" if subscribe else "unsubscribed"
        await reply(update, t(language, key, topics=", ".join(changed)))
    else:
        await reply(update, t(language, "nothing_changed", topics=", ".join(wanted)))


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _change(update, context, subscribe=True)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _change(update, context, subscribe=False)


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    deps = deps_of(context)
    chat = update.effective_chat
    if chat is None:
        return
    language = _language(update, deps)
    if chat.type != "private" and not is_admin(update, deps):
        await reply(update, t(language, "group_admin_only"))
        return
    with transaction(deps.engine) as session:
        forgotten = subscribers.forget(session, chat.id)
    await reply(update, t(language, "stopped" if forgotten else "not_registered"))


async def toggle_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Inline button on /topics: flip one subscription and redraw the keyboard."""
    deps = deps_of(context)
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or not (query.data or "").startswith(TOGGLE_PREFIX):
        return
    slug = (query.data or "")[len(TOGGLE_PREFIX) :]
    language = _language(update, deps)
    if chat.type != "private" and not is_admin(update, deps):
        await query.answer(t(language, "group_admin_only"), show_alert=True)
        return
    with transaction(deps.engine) as session:
        subscriber = subscribers.find_subscriber(session, chat.id)
        topic = topics.find_topic(session, slug)
        if subscriber is None or subscriber.id is None or topic is None:
            now_on = None
        else:
            now_on = slug not in subscribers.subscribed_slugs(session, subscriber.id)
            subscribers.set_subscriptions(session, subscriber.id, [slug], subscribed=now_on)
            listed = [(tp.slug, tp.name) for tp in topics.list_topics(session, enabled_only=True)]
            mine = set(subscribers.subscribed_slugs(session, subscriber.id))
    if now_on is None or topic is None:
        await query.answer(t(language, "not_registered"))
        return
    await query.answer(t(language, "toggled_on" if now_on else "toggled_off", topic=topic.name))
    await query.edit_message_reply_markup(reply_markup=topics_keyboard(listed, mine))


async def mode(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    wanted = (context.args or [""])[0].lower()
    if wanted not in MODES:
        current = t(language, f"mode_{subscriber.mode}")
        await reply(update, t(language, "usage_mode", mode=current))
        return
    _update(deps, subscriber.chat_id, mode=wanted)
    await reply(update, t(language, "mode_set", mode=t(language, f"mode_{wanted}")))


async def digesttime(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    zone = subscriber.timezone or deps.settings.timezone
    wanted = (context.args or [""])[0]
    match = _HHMM.match(wanted)
    if not match:
        current = subscriber.digest_time or deps.settings.digest_time.strftime("%H:%M")
        await reply(update, t(language, "usage_digesttime", time=current))
        return
    value = f"{int(match.group(1)):02d}:{match.group(2)}"
    _update(deps, subscriber.chat_id, digest_time=value)
    await reply(update, t(language, "digesttime_set", time=value, zone=zone))


async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    wanted = (context.args or [""])[0]
    try:
        if "/" not in wanted and wanted.upper() != "UTC":
            raise ValueError(wanted)
        ZoneInfo(wanted)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tzdata folder such as "America/Argentina" is a region, not a zone.
        current = subscriber.timezone or deps.settings.timezone
        await reply(update, t(language, "usage_timezone", zone=current))
        return
    _update(deps, subscriber.chat_id, timezone=wanted)
    await reply(update, t(language, "timezone_set", zone=wanted))


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    wanted = (context.args or [""])[0].lower()
    if wanted not in LANGUAGES:
        await reply(update, t(language, "usage_lang"))
        return
    _update(deps, subscriber.chat_id, language=wanted)
    await reply(update, t(wanted, "lang_set"))


async def quiet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    wanted = "".join(context.args or []).replace("–", "-")
    if wanted.lower() == "off":
        _update(deps, subscriber.chat_id, quiet_start=None, quiet_end=None)
        await reply(update, t(language, "quiet_off"))
        return
    parts = wanted.split("-")
    matches = [_HHMM.match(part) for part in parts] if len(parts) == 2 else []
    if len(matches) != 2 or not all(matches) or parts[0] == parts[1]:
        await reply(update, t(language, "usage_quiet"))
        return
    start, end = (f"{int(m.group(1)):02d}:{m.group(2)}" for m in matches if m)
    _update(deps, subscriber.chat_id, quiet_start=start, quiet_end=end)
    zone = subscriber.timezone or deps.settings.timezone
    await reply(update, t(language, "quiet_set", start=start, end=end, zone=zone))


async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    _update(deps, subscriber.chat_id, paused=True)
    await reply(update, t(language, "paused"))


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, subscriber, language = found
    _update(deps, subscriber.chat_id, paused=False)
    await reply(update, t(language, "resumed"))


async def _send_list(update: Update, header: str, lines: list[str]) -> None:
    for message in split_messages(header, lines):
        await reply(update, message)


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context)
    if found is None:
        return
    deps, subscriber, language = found
    arg = (context.args or [str(LATEST_DEFAULT)])[0]
    if not arg.isdigit() or not 1 <= int(arg) <= LATEST_MAX:
        await reply(update, t(language, "usage_latest"))
        return
    with transaction(deps.engine) as session:
        mine = subscribers.subscribed_slugs(session, subscriber.id or 0)
        rows = items.recent_items(session, limit=int(arg), topics=mine)
    if not rows:
        await reply(update, t(language, "latest_empty"))
        return
    lines = [
        render_item_line(i.title, i.link, i.source, i.published, i.topics, language) for i in rows
    ]
    await _send_list(update, t(language, "latest_header"), lines)


async def search(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context)
    if found is None:
        return
    deps, _, language = found
    query = " ".join(word for word in (context.args or []) if word.strip())
    shown = html.escape(query)
    if not query:
        await reply(update, t(language, "usage_search"))
        return
    # The rule language and matcher of `mcwatch items search`, without the gate.
    try:
        matcher = await asyncio.to_thread(query_matcher, deps.engine, query, gate=False)
    except RuleSyntaxError as exc:
        await reply(update, t(language, "search_bad_rule", error=html.escape(str(exc))))
        return
    with transaction(deps.engine) as session:
        rows = items.recent_items(session, limit=SEARCH_WINDOW)
    hits = [i for i in rows if matcher.match(MatchInput(i.title, i.summary, i.language))]
    if not hits:
        await reply(update, t(language, "search_empty", words=shown))
        return
    lines = [
        render_item_line(i.title, i.link, i.source, i.published, i.topics, language)
        for i in hits[:SEARCH_RESULTS]
    ]
    await _send_list(update, t(language, "search_header", words=shown), lines)


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A digest now: everything since the last daily digest (or the last day)."""
    found = await _registered(update, context)
    if found is None:
        return
    deps, subscriber, language = found
    # Drawing the chart takes a few hundred ms of CPU: keep the bot answering meanwhile.
    plan = await asyncio.to_thread(digest_now, deps, subscriber.chat_id)
    if plan is None:
        return
    for message in plan.messages:
        await reply(update, message)
    if plan.chart is not None and update.effective_message is not None:
        await update.effective_message.reply_photo(plan.chart, caption=t(language, "trend_caption"))


async def trend(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The chart of stories per topic over the last 14 days."""
    found = await _registered(update, context)
    if found is None:
        return
    deps, subscriber, language = found
    png = await asyncio.to_thread(trend_chart, deps, language, subscriber.timezone)
    if update.effective_message is not None:
        await update.effective_message.reply_photo(png, caption=t(language, "trend_caption"))
