"""Subscriber commands. Each handler: read the chat's preferences once (``_reader``),
write at most once, reply.

Every reply, keyboard redraw and message edit goes through ``reply``/``reply_photo``/
``edit_text``/``edit_keyboard``/``send_to``: paced by the one ``Pacer`` (``deps.pacer``,
shared with alerts and digests) and retried in place on 429 (Telegram's
``retry_after``), 5xx and timeouts (``bot.deliver.send_policy.REPLIES``), with python-telegram-bot's
errors translated by ``telegram_errors``. What still fails reaches the Application's
error handler (``bot.telegram.app.log_failure``): one log line.

In a group the settings commands are for mcwatch administrators only
(``MCWATCH_ADMIN_IDS``): one member must not change what the whole group receives. A
channel post has no author, but only the channel's administrators can post, and the bot
is there only because an mcwatch administrator added it: commands posted in a channel
mcwatch serves are taken as the administrators'.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import CallbackQuery, Chat, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import feedback
from bot.deliver.digest import WEEKLY, parse_weekday
from bot.deliver.digest_job import digest_now, trend_chart
from bot.deliver.render import render_item_line, split_messages
from bot.errors import DeliveryError, MessageRejected, RuleSyntaxError
from bot.ingest.stored_rules import search as rules_search
from bot.ingest.stored_rules import watch_stories
from bot.logs import context as log_context
from bot.provenance import KINDS, ProvenanceFilter, parse_filter
from bot.telegram.keyboards import (
    STOP_PREFIX,
    TOGGLE_PREFIX,
    inline,
    stop_keyboard,
    topics_keyboard,
)
from bot.telegram.sender import telegram_errors
from bot.text import DEFAULT, language_for, language_name, languages, names, t
from bot.timeparse import UnparsableTime, format_hhmm, parse_hhmm, parse_quiet, parse_zone
from bot.types import Preferences
from bot.watches import MAX_WATCHES, QUERY_MAX_CHARS, TEST_WINDOW, normalise
from store import items, subscribers, topics, verdicts, watches
from store.db import transaction

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Engine
    from sqlmodel import Session

    from bot.deps import Deps
    from bot.types import StoredItem
    from store.models import Topic

log = logging.getLogger(__name__)
T = TypeVar("T")

MODES = ("instant", "digest", "both", WEEKLY)
LATEST_DEFAULT, LATEST_MAX = 5, 20
SEARCH_RESULTS = 10


def deps_of(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    return context.application.bot_data["deps"]  # type: ignore[no-any-return]


def _chat_title(chat: Chat) -> str:
    return chat.title or chat.full_name or chat.username or str(chat.id)


def _reader(update: Update, deps: Deps) -> tuple[Preferences | None, str]:
    """The calling chat's preferences (None: a chat mcwatch does not know), read once
    for the whole update, and the language to answer in."""
    chat = update.effective_chat
    prefs = None
    if chat is not None:
        with transaction(deps.engine) as session:
            prefs = subscribers.preferences(session, chat.id, deps.settings)
    return prefs, _language_of(update, prefs)


def _language_of(update: Update, prefs: Preferences | None) -> str:
    """The subscriber's chosen language, else from their Telegram settings."""
    if prefs is not None:
        return prefs.language
    user = update.effective_user
    return language_for(user.language_code if user else None)


def _language(update: Update, deps: Deps) -> str:
    return _reader(update, deps)[1]


def is_admin(update: Update, deps: Deps) -> bool:
    user = update.effective_user
    return user is not None and user.id in deps.settings.admin_ids


def may_configure(update: Update, deps: Deps, prefs: Preferences | None) -> bool:
    """Whether this chat's settings may be changed by this update (see module doc);
    ``prefs``: the chat's, as ``_reader`` read them."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == "private" or is_admin(update, deps):
        return True
    if chat.type == "channel":
        return prefs is not None and prefs.active
    return False


# -- everything sent to a chat -------------------------------------------------------
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def to_chat(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, call: Callable[[], Awaitable[T]]
) -> T:
    """``call()`` (one Bot API call that puts something in ``chat_id``), paced by the
    shared Pacer and retried in place as ``bot.deliver.send_policy.REPLIES`` says."""

    async def attempt() -> T:
        with telegram_errors():
            return await call()

    return await deps_of(context).pacer.send(chat_id, attempt)


async def reply(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, *, reply_markup: Any = None
) -> Message | None:
    """Answer the update's message (HTML, no link preview; in a forum topic, in that
    topic; in a group, quoting the command when it still exists)."""
    message = update.effective_message
    if message is None:
        return None
    return await to_chat(
        context,
        message.chat_id,
        partial(
            message.reply_text,
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=_NO_PREVIEW,
            reply_markup=reply_markup,
            allow_sending_without_reply=True,
        ),
    )


async def reply_photo(
    update: Update, context: ContextTypes.DEFAULT_TYPE, png: bytes, caption: str
) -> None:
    message = update.effective_message
    if message is not None:
        await to_chat(
            context,
            message.chat_id,
            partial(message.reply_photo, png, caption=caption, allow_sending_without_reply=True),
        )


async def send_to(context: ContextTypes.DEFAULT_TYPE, chat_id: int, text: str) -> None:
    """A message to ``chat_id`` that answers no message (e.g. a group's welcome)."""
    await to_chat(
        context,
        chat_id,
        partial(
            context.bot.send_message,
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=_NO_PREVIEW,
        ),
    )


async def _edit(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, call: Callable[[], Awaitable[Any]]
) -> None:
    try:
        await to_chat(context, chat_id, call)
    except MessageRejected as exc:
        # Two quick presses redraw the same thing: Telegram refuses the second as is.
        if "message is not modified" not in str(exc).lower():
            raise


async def edit_keyboard(
    update: Update, context: ContextTypes.DEFAULT_TYPE, reply_markup: Any
) -> None:
    """Redraw the inline keyboard under the pressed button's message."""
    query, chat = update.callback_query, update.effective_chat
    if query is not None and chat is not None:
        await _edit(context, chat.id, partial(query.edit_message_reply_markup, reply_markup))


async def edit_text(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    """Replace the pressed button's message with ``text``; its keyboard goes with it."""
    query, chat = update.callback_query, update.effective_chat
    if query is not None and chat is not None:
        await _edit(
            context,
            chat.id,
            partial(
                query.edit_message_text,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW,
            ),
        )


async def answer(
    query: CallbackQuery, text: str | None = None, *, show_alert: bool = False
) -> None:
    """Answer a button press (the toast or pop-up). Not a chat message: not paced, and
    not retried (Telegram drops the spinner by itself); a failure is one log line and
    the handler goes on to redraw the message, which is what the reader looks at."""
    try:
        with telegram_errors():
            await query.answer(text, show_alert=show_alert)
    except DeliveryError as exc:
        chat_id = query.message.chat.id if query.message is not None else None
        log.warning(
            "callback answer %s",
            log_context(chat_id=chat_id, status=f"{type(exc).__name__}: {exc}"),
        )


async def _registered(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, settings_change: bool = False
) -> tuple[Deps, Preferences, str] | None:
    """The calling chat's preferences (the update's one read of them), or a reply
    explaining why there are none."""
    deps = deps_of(context)
    if update.effective_chat is None:
        return None
    prefs, language = await asyncio.to_thread(_reader, update, deps)
    if settings_change and not may_configure(update, deps, prefs):
        await reply(update, context, t(language, "group_admin_only"))
        return None
    if prefs is None or not prefs.active:
        await reply(update, context, t(language, "not_registered"))
        return None
    return deps, prefs, language


def _update(deps: Deps, chat_id: int, **changes: object) -> None:
    """The update's one write of the chat's preferences."""
    with transaction(deps.engine) as session:
        subscribers.update_subscriber(session, chat_id, **changes)


def _known(deps: Deps) -> tuple[list[str], str]:
    with transaction(deps.engine) as session:
        slugs = [topic.slug for topic in topics.list_topics(session, enabled_only=True)]
    return slugs, ", ".join(slugs)


def _listed(deps: Deps) -> list[tuple[str, str]]:
    """Enabled topics as (slug, name), for the /topics keyboard."""
    with transaction(deps.engine) as session:
        return [(tp.slug, tp.name) for tp in topics.list_topics(session, enabled_only=True)]


def _store(deps: Deps, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(session, *args, **kwargs)`` in its own transaction. Like every store call
    of a handler (``_reader``, ``_update``, ``_known``), run in a thread
    (``asyncio.to_thread``): the event loop never waits for the database."""
    with transaction(deps.engine) as session:
        return call(session, *args, **kwargs)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    deps = deps_of(context)
    chat = update.effective_chat
    if chat is None:
        return
    user = update.effective_user

    def register() -> tuple[Preferences | None, bool, str, bool]:
        with transaction(deps.engine) as session:  # the read and the write: one transaction
            prefs = subscribers.preferences(session, chat.id, deps.settings)
            if not may_configure(update, deps, prefs):
                return prefs, False, "", False
            subscriber, created = subscribers.register(
                session,
                chat.id,
                chat_type=chat.type,
                title=_chat_title(chat),
                language=language_for(user.language_code if user else None),
                now=deps.clock.now(),
            )
            return prefs, True, subscriber.language, created

    prefs, allowed, language, created = await asyncio.to_thread(register)
    if not allowed:
        await reply(update, context, t(_language_of(update, prefs), "group_refused"))
        return
    await reply(update, context, t(language, "start_new" if created else "start_back"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    deps = deps_of(context)
    language = await asyncio.to_thread(_language, update, deps)
    text = t(language, "help", languages="|".join(languages()))
    if is_admin(update, deps):
        text += t(language, "help_admin")
    await reply(update, context, text)


async def topics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context)
    if found is None:
        return
    deps, prefs, language = found
    listed = await asyncio.to_thread(_listed, deps)
    await reply(
        update,
        context,
        t(language, "topics_header"),
        reply_markup=topics_keyboard(listed, set(prefs.topics)),
    )


async def _change(update: Update, context: ContextTypes.DEFAULT_TYPE, *, subscribe: bool) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    known, known_text = await asyncio.to_thread(_known, deps)
    # In the order the reader typed them, once each: the confirmation echoes that order.
    wanted = list(
        dict.fromkeys(arg.strip().lower().lstrip("#") for arg in context.args or [] if arg.strip())
    )
    if not wanted:
        usage = "usage_subscribe" if subscribe else "usage_unsubscribe"
        await reply(update, context, t(language, usage, known=known_text))
        return
    if wanted == ["all"]:
        wanted = known
    unknown = [slug for slug in wanted if slug not in known]
    if unknown:
        await reply(
            update,
            context,
            t(language, "unknown_topics", topics=html.escape(", ".join(unknown)), known=known_text),
        )
        return
    changed = await asyncio.to_thread(
        _store,
        deps,
        subscribers.set_subscriptions,
        prefs.subscriber_id,
        wanted,
        subscribed=subscribe,
    )
    if changed:
        changed = [slug for slug in wanted if slug in changed]
        key = "subscribed" if subscribe else "unsubscribed"
        await reply(update, context, t(language, key, topics=", ".join(changed)))
    else:
        await reply(update, context, t(language, "nothing_changed", topics=", ".join(wanted)))


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _change(update, context, subscribe=True)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _change(update, context, subscribe=False)


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget me: asks first (yes / cancel buttons); ``stop_pressed`` does it."""
    deps = deps_of(context)
    chat = update.effective_chat
    if chat is None:
        return
    prefs, language = await asyncio.to_thread(_reader, update, deps)
    if chat.type != "private" and not is_admin(update, deps):
        await reply(update, context, t(language, "group_admin_only"))
        return
    if prefs is None:
        await reply(update, context, t(language, "not_registered"))
        return
    keyboard = stop_keyboard(t(language, "stop_yes"), t(language, "stop_cancel"))
    await reply(update, context, t(language, "stop_confirm"), reply_markup=keyboard)


async def stop_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button under /stop's question: "yes" forgets the chat, "cancel" changes nothing.
    Either way the question is replaced by the outcome, so it cannot be pressed twice."""
    deps = deps_of(context)
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or not (query.data or "").startswith(STOP_PREFIX):
        return
    language = await asyncio.to_thread(_language, update, deps)
    if chat.type != "private" and not is_admin(update, deps):
        await answer(query, t(language, "group_admin_only"), show_alert=True)
        return
    if query.data == f"{STOP_PREFIX}yes":
        forgotten = await asyncio.to_thread(_store, deps, subscribers.forget, chat.id)
        outcome = t(language, "stopped" if forgotten else "not_registered")
    else:
        outcome = t(language, "stop_cancelled")
    await answer(query)
    await edit_text(update, context, outcome)


async def toggle_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Inline button on /topics: flip one subscription and redraw the keyboard."""
    deps = deps_of(context)
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or not (query.data or "").startswith(TOGGLE_PREFIX):
        return
    slug = (query.data or "")[len(TOGGLE_PREFIX) :]
    prefs, language = await asyncio.to_thread(_reader, update, deps)
    if chat.type != "private" and not is_admin(update, deps):
        await answer(query, t(language, "group_admin_only"), show_alert=True)
        return

    def flip() -> tuple[Topic | None, bool | None, list[tuple[str, str]]]:
        with transaction(deps.engine) as session:
            topic = topics.find_topic(session, slug)
            if prefs is None or topic is None:
                return topic, None, []
            now_on = slug not in prefs.topics
            subscribers.set_subscriptions(session, prefs.subscriber_id, [slug], subscribed=now_on)
            listed = [(tp.slug, tp.name) for tp in topics.list_topics(session, enabled_only=True)]
            return topic, now_on, listed

    topic, now_on, listed = await asyncio.to_thread(flip)
    if prefs is None or now_on is None or topic is None:
        await answer(query, t(language, "not_registered"))
        return
    mine = (set(prefs.topics) | {slug}) if now_on else (set(prefs.topics) - {slug})
    await answer(query, t(language, "toggled_on" if now_on else "toggled_off", topic=topic.name))
    await edit_keyboard(update, context, topics_keyboard(listed, mine))


async def _verdict_press(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Deps, CallbackQuery, Chat, str] | None:
    """What a verdict press needs — or None, the press answered already: in a group,
    only an administrator speaks for the group."""
    deps = deps_of(context)
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return None
    language = await asyncio.to_thread(_language, update, deps)
    if chat.type != "private" and not is_admin(update, deps):
        await answer(query, t(language, "group_admin_only"), show_alert=True)
        return None
    return deps, query, chat, language


async def verdict_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍 / 👎 / a reason under an alert (``bot.feedback``): store the verdict, answer
    with a toast, redraw the buttons. The delivery row decides what the verdict is about;
    data that names no sent alert of this chat (forged, malformed, gone with its item)
    changes nothing and is answered politely."""
    found = await _verdict_press(update, context)
    if found is None:
        return
    deps, query, chat, language = found
    pressed = feedback.decode(query.data)
    state = None
    if pressed is not None:
        decide = partial(feedback.next_state, code=pressed.code)
        state = await asyncio.to_thread(
            _store, deps, verdicts.press, pressed.delivery_id, chat.id, decide, deps.clock.now()
        )
    if pressed is None or state is None:
        await answer(query, t(language, "verdict_gone"))
        return
    await answer(query, feedback.toast(language, state))
    buttons = feedback.keyboard(pressed.delivery_id, language, state)
    await edit_keyboard(update, context, inline(buttons))


async def digest_verdict_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A verdict button under a digest message (``bot.feedback``: ``d:<line>:<n>:<code>``):
    as under an alert, the line's row decides whose verdict it is and on what; the
    message's own buttons (Telegram sends them with the press) say which lines to
    redraw. Data naming no line of this chat, or none under this message, changes
    nothing and is answered politely."""
    found = await _verdict_press(update, context)
    if found is None:
        return
    deps, query, chat, language = found
    pressed = feedback.decode_line(query.data)
    message = query.message
    markup = getattr(message, "reply_markup", None)
    shown = feedback.lines_of(
        button.callback_data if isinstance(button.callback_data, str) else None
        for row in (markup.inline_keyboard if markup is not None else ())
        for button in row
    )
    found = None
    if pressed is not None and any(line_id == pressed.line_id for _, line_id in shown):
        decide = partial(feedback.next_state, code=pressed.code)
        found = await asyncio.to_thread(
            _store,
            deps,
            _press_line,
            pressed.line_id,
            chat.id,
            decide,
            deps.clock.now(),
            [line_id for _, line_id in shown],
        )
    if found is None:
        await answer(query, t(language, "verdict_line_gone"))
        return
    state, states = found
    await answer(query, feedback.toast(language, state))
    asking = pressed.line_id if pressed.code == "n" else None  # 👎: ask why, for this one
    board = feedback.digest_keyboard(shown, language, states, asking)
    await edit_keyboard(update, context, inline(board))


def _press_line(
    session: Session,
    line_id: int,
    chat_id: int,
    decide: Callable[[feedback.VerdictState | None], feedback.VerdictState],
    now: datetime,
    shown: list[int],
) -> tuple[feedback.VerdictState, dict[int, feedback.VerdictState]] | None:
    """The verdict on one digest line, then the verdicts on every line of its message."""
    state = verdicts.press_line(session, line_id, chat_id, decide, now)
    if state is None:
        return None
    return state, verdicts.line_states(session, shown, chat_id)


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings: everything the chat has chosen, on one screen."""
    found = await _registered(update, context)
    if found is None:
        return
    deps, prefs, language = found
    known, _ = await asyncio.to_thread(_known, deps)
    chosen = [slug for slug in known if slug in prefs.topics]
    if not chosen:
        topics_text = t(language, "settings_no_topics")
    elif len(chosen) == len(known):
        topics_text = t(language, "settings_all_topics", count=len(known))
    else:
        topics_text = ", ".join(chosen)
    quiet_hours = (
        f"{format_hhmm(prefs.quiet[0])}–{format_hhmm(prefs.quiet[1])}"
        if prefs.quiet
        else t(language, "settings_no_quiet")
    )
    when = {"time": format_hhmm(prefs.digest_time), "zone": html.escape(prefs.timezone)}
    if prefs.mode == WEEKLY:
        # A second read, for a weekly reader only: Preferences has no digest day.
        day = await asyncio.to_thread(_store, deps, subscribers.digest_day, prefs.chat_id)
        digest_text = t(language, "settings_weekly", day=_weekday(language, day), **when)
    else:
        digest_text = t(language, "settings_daily", **when)
    text = t(
        language,
        "settings",
        topics=topics_text,
        mode=t(language, f"mode_{prefs.mode}"),
        digest=digest_text,
        quiet=quiet_hours,
        lang=language_name(language),
        state=t(language, "settings_paused" if prefs.paused else "settings_active"),
    )
    await reply(update, context, text)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command mcwatch does not have: a pointer to /help. In a group or channel only
    when it is addressed to mcwatch (``/foo@mcwatch_bot``): a bare ``/foo`` there may be
    another bot's."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not message.text:
        return
    name, _, addressee = message.text.split(maxsplit=1)[0].partition("@")
    ours = (context.bot.username or "").lower()
    if addressee and addressee.lower() != ours:
        return  # another bot's command
    if chat.type != "private" and not addressee:
        return
    language = await asyncio.to_thread(_language, update, deps_of(context))
    await reply(update, context, t(language, "unknown_command", command=html.escape(name[:64])))


async def free_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Anything but a command in a private chat: a pointer to /help. (``app`` routes no
    group or channel chatter here: people talk to each other there.)"""
    language = await asyncio.to_thread(_language, update, deps_of(context))
    await reply(update, context, t(language, "free_text"))


async def mode(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    wanted = (context.args or [""])[0].lower()
    if wanted not in MODES:
        current = t(language, f"mode_{prefs.mode}")
        await reply(update, context, t(language, "usage_mode", mode=current))
        return
    if wanted != WEEKLY:
        await asyncio.to_thread(_update, deps, prefs.chat_id, mode=wanted)
        await reply(update, context, t(language, "mode_set", mode=t(language, f"mode_{wanted}")))
        return

    def to_weekly() -> int:
        with transaction(deps.engine) as session:  # the one write, and the day it keeps
            subscribers.update_subscriber(session, prefs.chat_id, mode=wanted)
            return subscribers.digest_day(session, prefs.chat_id)

    day = await asyncio.to_thread(to_weekly)
    when = {"time": format_hhmm(prefs.digest_time), "zone": html.escape(prefs.timezone)}
    text = t(language, "mode_set", mode=t(language, "mode_weekly"))
    text += " " + t(language, "mode_weekly_when", day=_weekday(language, day), **when)
    await reply(update, context, text)


def _weekday(language: str, day: int) -> str:
    """0 = Monday … 6 in the reader's language ("lundi", "Monday")."""
    return names(language, "weekdays")[day]


async def digestday(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/digestday DAY: the weekly digest's day ("lundi", "mon", "Monday", 1–7)."""
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    typed = " ".join(context.args or []).strip()
    wanted = parse_weekday(typed, language) if typed else None
    if wanted is None:
        if typed:
            shown = html.escape(typed[:40])
            await reply(update, context, t(language, "bad_digestday", value=shown))
            return
        day = await asyncio.to_thread(_store, deps, subscribers.digest_day, prefs.chat_id)
        usage = t(language, "usage_digestday", day=_weekday(language, day))
        await reply(update, context, usage)
        return
    await asyncio.to_thread(_update, deps, prefs.chat_id, digest_day=wanted)
    when = {"time": format_hhmm(prefs.digest_time), "zone": html.escape(prefs.timezone)}
    text = t(language, "digestday_set", day=_weekday(language, wanted), **when)
    if prefs.mode != WEEKLY:
        text += " " + t(language, "digestday_not_weekly", mode=t(language, f"mode_{prefs.mode}"))
    await reply(update, context, text)


async def digesttime(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    try:
        wanted = parse_hhmm((context.args or [""])[0])
    except UnparsableTime:
        current = format_hhmm(prefs.digest_time)
        await reply(update, context, t(language, "usage_digesttime", time=current))
        return
    await asyncio.to_thread(_update, deps, prefs.chat_id, digest_time=wanted)
    value = format_hhmm(wanted)
    key = "digesttime_set_weekly" if prefs.mode == WEEKLY else "digesttime_set"
    await reply(update, context, t(language, key, time=value, zone=prefs.timezone))


async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    try:
        wanted = parse_zone((context.args or [""])[0])
    except UnparsableTime:
        await reply(update, context, t(language, "usage_timezone", zone=prefs.timezone))
        return
    await asyncio.to_thread(_update, deps, prefs.chat_id, timezone=wanted)
    await reply(update, context, t(language, "timezone_set", zone=wanted))


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    wanted = (context.args or [""])[0].lower()
    if wanted not in languages():
        await reply(update, context, t(language, "usage_lang", languages="|".join(languages())))
        return
    await asyncio.to_thread(_update, deps, prefs.chat_id, language=wanted)
    await reply(update, context, t(wanted, "lang_set"))


async def quiet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    try:
        wanted = parse_quiet(" ".join(context.args or []))
    except UnparsableTime:
        await reply(update, context, t(language, "usage_quiet"))
        return
    if wanted is None:
        await asyncio.to_thread(_update, deps, prefs.chat_id, quiet_start=None, quiet_end=None)
        await reply(update, context, t(language, "quiet_off"))
        return
    start, end = wanted
    await asyncio.to_thread(_update, deps, prefs.chat_id, quiet_start=start, quiet_end=end)
    hours = {"start": format_hhmm(start), "end": format_hhmm(end), "zone": prefs.timezone}
    await reply(update, context, t(language, "quiet_set", **hours))


async def _pause(update: Update, context: ContextTypes.DEFAULT_TYPE, *, paused: bool) -> None:
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    await asyncio.to_thread(_update, deps, prefs.chat_id, paused=paused)
    await reply(update, context, t(language, "paused" if paused else "resumed"))


async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _pause(update, context, paused=True)


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _pause(update, context, paused=False)


async def _send_list(
    update: Update, context: ContextTypes.DEFAULT_TYPE, header: str, lines: list[str]
) -> None:
    for message in split_messages(header, lines):
        await reply(update, context, message)


def _latest_items(
    engine: Engine, limit: int, slugs: Sequence[str] | None, wanted: ProvenanceFilter
) -> list[StoredItem]:
    with transaction(engine) as session:
        return items.recent_items(
            session, limit=limit, topics=slugs, country=wanted.country, kind=wanted.kind
        )


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/latest [N] [country:CN] [kind:KIND]`` (``bot.provenance.parse_filter``)."""
    found = await _registered(update, context)
    if found is None:
        return
    deps, prefs, language = found
    try:
        wanted = parse_filter(context.args or [])
    except ValueError:
        wanted = ProvenanceFilter(rest=("?",))  # a bad code or kind: the usage says them
    arg = (wanted.rest or (str(LATEST_DEFAULT),))[0]
    if len(wanted.rest) > 1 or not arg.isdigit() or not 1 <= int(arg) <= LATEST_MAX:
        await reply(update, context, t(language, "usage_latest", kinds=", ".join(KINDS)))
        return
    rows = await asyncio.to_thread(_latest_items, deps.engine, int(arg), prefs.topics, wanted)
    if not rows:
        await reply(update, context, t(language, "latest_empty"))
        return
    lines = [
        render_item_line(
            i.title, i.link, i.source, i.published, i.topics, language, country=i.country
        )
        for i in rows
    ]
    await _send_list(update, context, t(language, "latest_header"), lines)


async def search(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _registered(update, context)
    if found is None:
        return
    deps, _, language = found
    query = " ".join(word for word in (context.args or []) if word.strip())
    shown = html.escape(query)
    if not query:
        await reply(update, context, t(language, "usage_search"))
        return
    # `mcwatch items search`'s search (the rule language, without the gate), over the
    # stored items a topic matched: what readers of the bot are shown.
    try:
        hits = await asyncio.to_thread(
            rules_search,
            deps.engine,
            query,
            limit=SEARCH_RESULTS,
            matched_only=True,
        )
    except RuleSyntaxError as exc:
        error = _rule_error(exc, language)
        await reply(update, context, t(language, "search_bad_rule", error=error))
        return
    if not hits:
        await reply(update, context, t(language, "search_empty", words=shown))
        return
    lines = [
        render_item_line(
            i.title, i.link, i.source, i.published, i.topics, language, country=i.country
        )
        for i in hits
    ]
    await _send_list(update, context, t(language, "search_header", words=shown), lines)


def _rule_error(exc: RuleSyntaxError, language: str) -> str:
    """A query's error for a reply, escaped: the parser's hint is English (bot.match);
    other readers get the column in words."""
    detail = str(exc) if language == DEFAULT else t(language, "rule_error_at", column=exc.column)
    return html.escape(detail)


async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/watch WORDS: the reader's own rule over the Mali–China stories (bot.watches),
    tried on the last 30 days before it is kept."""
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    query = normalise(" ".join(context.args or []))
    if not query:
        await reply(update, context, t(language, "usage_watch"))
        return
    if len(query) > QUERY_MAX_CHARS:
        limits = {"limit": QUERY_MAX_CHARS, "length": len(query)}
        await reply(update, context, t(language, "watch_too_long", **limits))
        return
    try:
        since = deps.clock.now() - TEST_WINDOW
        stories = await asyncio.to_thread(watch_stories, deps.engine, query, since)
        number = await asyncio.to_thread(_add_watch, deps, prefs.subscriber_id, query)
    except RuleSyntaxError as exc:
        error = _rule_error(exc, language)
        await reply(update, context, t(language, "watch_bad_rule", error=error))
        return
    except watches.WatchRefused as refused:
        key = "watch_limit" if refused.reason == "limit" else "watch_duplicate"
        await reply(update, context, t(language, key, limit=MAX_WATCHES, query=html.escape(query)))
        return
    text = t(language, "watch_added", number=number, query=html.escape(query), n=stories)
    mode = t(language, f"mode_{prefs.mode}")
    await reply(update, context, text + "\n" + t(language, "watch_how", mode=mode, number=number))


def _add_watch(deps: Deps, subscriber_id: int, query: str) -> int:
    """Store the watch; its number in /watches."""
    with transaction(deps.engine) as session:
        watches.add(session, subscriber_id, query, deps.clock.now())
        return len(watches.list_of(session, subscriber_id))


def _watch_list(deps: Deps, subscriber_id: int) -> list[tuple[str, int]]:
    with transaction(deps.engine) as session:
        listed = watches.list_of(session, subscriber_id)
        counts = watches.hit_counts(session, [w.id for w in listed if w.id is not None])
        return [(w.query, counts.get(w.id or 0, 0)) for w in listed]


async def watches_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/watches: the reader's watches, numbered, with the stories each found."""
    found = await _registered(update, context)
    if found is None:
        return
    deps, prefs, language = found
    listed = await asyncio.to_thread(_watch_list, deps, prefs.subscriber_id)
    if not listed:
        await reply(update, context, t(language, "watches_none"))
        return
    lines = [
        t(language, "watches_line", number=number, query=html.escape(query), n=hits)
        for number, (query, hits) in enumerate(listed, 1)
    ]
    lines.append(t(language, "watches_footer"))
    await _send_list(update, context, t(language, "watches_header"), lines)


async def unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unwatch N: remove the reader's N-th watch (numbered as /watches shows them)."""
    found = await _registered(update, context, settings_change=True)
    if found is None:
        return
    deps, prefs, language = found
    typed = " ".join(context.args or []).strip()
    if not typed:
        await reply(update, context, t(language, "usage_unwatch"))
        return
    removed = None
    if typed.isdigit() and len(typed) <= 3:
        removed = await asyncio.to_thread(
            _store, deps, watches.remove, prefs.subscriber_id, int(typed)
        )
    if removed is None:
        await reply(update, context, t(language, "unwatch_bad", value=html.escape(typed[:20])))
        return
    await reply(update, context, t(language, "unwatch_done", query=html.escape(removed.query)))


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A digest now: everything since the last daily digest (or the last day)."""
    found = await _registered(update, context)
    if found is None:
        return
    deps, prefs, language = found
    # Drawing the chart takes a few hundred ms of CPU: keep the bot answering meanwhile.
    plan = await asyncio.to_thread(digest_now, deps, prefs)
    for index, message in enumerate(plan.messages):
        buttons = plan.keyboard(index)
        await reply(update, context, message, reply_markup=inline(buttons) if buttons else None)
    if plan.chart is not None:
        await reply_photo(update, context, plan.chart, t(language, "trend_caption"))


async def trend(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The chart of stories per topic over the last 14 days."""
    found = await _registered(update, context)
    if found is None:
        return
    deps, prefs, language = found
    png = await asyncio.to_thread(trend_chart, deps, language, prefs.timezone)
    await reply_photo(update, context, png, t(language, "trend_caption"))
