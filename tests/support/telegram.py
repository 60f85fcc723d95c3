"""A conversation with the real bot: the real Application and handlers, the real
``TelegramSender`` and outbox, python-telegram-bot over HTTP to the Bot API stand-in.

Tests take the ``bot`` fixture and stay synchronous and short::

    def test_something(bot: Conversation) -> None:
        bot.say(CHAT, "/start", language_code="fr")      # → the replies to CHAT
        bot.publish("Pékin et Bamako…", topics=("security",))
        bot.deliver()                                     # → DeliverReport
        bot.clock.advance(hours=8)

One event loop (``asyncio.Runner``) lives as long as the conversation, as it does in
``mcwatch run``. Each ``say``/``press``/``member`` pushes one update into the stand-in
and runs ``bot.jobs.handle_updates`` until the stand-in has nothing pending: the same code
path as ``mcwatch run --once``. A handler that raises fails the test: the product's
error handler logs it in one line, and the conversation's own records it and re-raises it
from ``handle`` (``handle(errors="keep")`` keeps them in ``errors`` instead).

The Application, the stand-in and the seeded database are built once per test module
and database kind; ``bot`` resets them before each test (no subscriber, item, feed or
delivery; nothing recorded by the stand-in; the clock at its start).

Time is the ``FixedClock``'s: nothing here sleeps. The stand-in's flood buckets run on
real time, so it is given ``HUMAN_PACE`` limits (a person does not type four commands a
second) and the bot (replies, edits, alerts, digests: one ``deps.pacer``) a ``Pacer``
without limits whose waits (after a ``retry_after`` or a 5xx backoff) move the
FixedClock. A ``Conversation`` built with ``pacer=Pacer`` and a stand-in at Telegram's
own ``FloodLimits()`` paces for real instead (tests/test_bot_replies.py). The flood rules
themselves are tested in tests/test_pacing.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import col, select
from telegram.ext import Application, ContextTypes

from bot.clock import FixedClock
from bot.deliver.outbox import DeliverReport, deliver_pending
from bot.deliver.pacing import Pacer
from bot.deliver.plan import plan_alerts
from bot.deps import Deps, open_deps
from bot.ingest.fetch import FetchLimits
from bot.ingest.pipeline import PollOutcome, poll
from bot.jobs import handle_updates
from bot.settings import Secret, Settings
from bot.telegram.app import attach, build_application
from bot.telegram.sender import TelegramSender
from bot.types import Item as NewItem
from bot.types import Match
from store import deliveries, feeds, items, stories, subscribers, topics
from store.db import transaction
from store.feeds import NewFeed
from store.models import (
    Delivery,
    Digest,
    Feed,
    Item,
    ItemTopic,
    Story,
    Subscriber,
    Subscription,
)
from store.topics import topic_ids_by_slug
from tests.support.botapi import BotApi, FloodLimits, SentMessage
from tests.support.builders import no_pacing, seeded

TOKEN = "123456:TEST-token-not-real"
# What a test writes, children first; topics and the lexicon (meta) are seeded once.
RESET_ORDER = (Delivery, Digest, Subscription, Subscriber, ItemTopic, Item, Story, Feed)
ADMIN = 9001  # a Telegram user id listed in MCWATCH_ADMIN_IDS
HUMAN_PACE = FloodLimits(private_burst=1000, group_per_minute=1000, overall_per_second=1000)


@dataclass
class Published:
    item_id: int
    story_id: int
    queued: int


@dataclass
class Conversation:
    """The bot, its database and its clock, driven one Telegram update at a time."""

    botapi: BotApi
    engine: Engine
    clock: FixedClock = field(default_factory=FixedClock)
    admin_ids: frozenset[int] = frozenset({ADMIN})
    errors: list[BaseException] = field(default_factory=list)
    # None: the FixedClock pacer without limits (see module doc); else built per reset.
    pacer: Callable[[], Pacer] | None = None
    _runner: asyncio.Runner | None = None
    _stack: AsyncExitStack | None = None
    application: Application | None = None  # type: ignore[type-arg]
    deps: Deps | None = None
    _feed_ids: dict[str, int] = field(default_factory=dict)
    _published: int = 0
    _groups: int = 0

    # -- lifetime -------------------------------------------------------------------
    def __enter__(self) -> Conversation:
        self._runner = asyncio.Runner()
        self._runner.run(self._open())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._runner is not None and self._stack is not None
        try:
            self._runner.run(self._stack.aclose())
        finally:
            self._runner.close()

    async def _open(self) -> None:
        settings = Settings(
            database_url=str(self.engine.url),
            telegram_token=Secret(TOKEN),
            telegram_api_url=self.botapi.base_url,
            admin_ids=self.admin_ids,
        )
        self._stack = AsyncExitStack()
        application = build_application(settings)
        application.add_error_handler(self._record_error)
        await application.initialize()
        self._stack.push_async_callback(application.shutdown)
        self.deps = await self._stack.enter_async_context(
            open_deps(
                settings,
                self.engine,
                TelegramSender(application.bot),
                clock=self.clock,
                pacer=self._pacer(),
                fetch_limits=FetchLimits(timeout=5.0),
            )
        )
        attach(application, self.deps)
        self.application = application

    def _pacer(self) -> Pacer:
        """``self.pacer()`` if given. Else no pacing of our own (the stand-in is at
        HUMAN_PACE), but a ``retry_after`` hold or a backoff is waited out on the
        FixedClock: waiting moves the clock, nothing sleeps."""
        if self.pacer is not None:
            return self.pacer()

        async def wait(seconds: float) -> None:
            self.clock.advance(seconds=seconds)

        return replace(no_pacing(), now=lambda: self.clock.now().timestamp(), sleep=wait)

    async def _record_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.error is not None:
            self.errors.append(context.error)

    def _run(self, coroutine: Any) -> Any:
        assert self._runner is not None
        return self._runner.run(coroutine)

    def reset(self) -> None:
        """Between two tests: an empty database (topics kept), a fresh stand-in, the
        clock back at its start. The Application, event loop and HTTP clients stay."""
        assert self.deps is not None
        with transaction(self.engine) as session:
            for table in RESET_ORDER:
                session.execute(delete(table))
        self.botapi.reset()
        self.clock.current = FixedClock().current
        self.deps.pacer = self._pacer()
        self.deps.fingerprints.clear()
        self.errors.clear()
        self._feed_ids.clear()

    def new_group(self) -> int:
        """A group chat id never used before in this module (the stand-in's flood
        buckets and a real pacer's windows are per chat and outlive ``reset``)."""
        self._groups += 1
        return -1_000_000_000 - self._groups

    # -- what users do --------------------------------------------------------------
    def handle(self, *, errors: Literal["raise", "keep"] = "raise") -> int:
        """Run every pending update through the handlers (as ``run --once`` does).
        A handler's exception is raised here, or with ``errors="keep"`` left in
        ``self.errors`` for the test to look at."""
        assert self.application is not None and self.deps is not None
        handled = 0
        while self.botapi.pending_updates():
            batch = self._run(handle_updates(self.application, self.deps))
            if not batch:  # only already-handled updates were left: confirm them
                break
            handled += batch
        if self.errors and errors == "raise":
            raise self.errors[0]
        return handled

    def say(
        self,
        chat_id: int,
        text: str,
        *,
        language_code: str | None = "en",
        user_id: int | None = None,
        chat_type: str = "private",
    ) -> list[SentMessage]:
        """``text`` written in ``chat_id``; returns what the bot sent there in answer."""
        before = len(self.botapi.sent)
        self.botapi.push_message(
            chat_id, text, language_code=language_code, user_id=user_id, chat_type=chat_type
        )
        self.handle()
        return [m for m in self.botapi.sent[before:] if m.chat_id == chat_id]

    def said(self, chat_id: int, text: str, **kwargs: Any) -> str:
        """What the user sees in answer to ``text``: all replies, joined."""
        return "\n".join(
            m.plain if m.plain is not None else m.caption or ""
            for m in self.say(chat_id, text, **kwargs)
        )

    def press(
        self, chat_id: int, message: SentMessage, data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """The user taps the inline button ``data`` under ``message``; returns the
        callback answer the bot gave (``text``, ``show_alert``)."""
        assert message.reply_markup is not None, "that message has no buttons"
        assert data in button_data(message), f"no button {data!r} under that message"
        before = len(self.botapi.callback_answers)
        self.botapi.push_callback(chat_id, data, message_id=message.message_id, user_id=user_id)
        self.handle()
        answers = self.botapi.callback_answers[before:]
        assert len(answers) == 1, f"a callback query must be answered once, got {answers}"
        return answers[0]

    def member(self, chat_id: int, **kwargs: Any) -> list[SentMessage]:
        """The bot's membership of a group or channel changed (``push_chat_member``)."""
        before = len(self.botapi.sent)
        self.botapi.push_chat_member(chat_id, **kwargs)
        self.handle()
        return [m for m in self.botapi.sent[before:] if m.chat_id == chat_id]

    # -- the world ------------------------------------------------------------------
    def register(self, chat_id: int, *, language: str = "fr") -> None:
        """A private reader as /start leaves them (all topics, instant), without the
        round trip: for tests about something else than /start."""
        with transaction(self.engine) as session:
            subscribers.register(
                session,
                chat_id,
                chat_type="private",
                title=f"User{chat_id}",
                language=language,
                now=self.clock.now(),
            )

    def publish(
        self,
        title: str,
        summary: str = "",
        *,
        topics: Sequence[str] = ("security",),
        terms: Sequence[str] = ("chine", "sécurité"),
        source: str = "Le Sahel Quotidien",
        link: str | None = None,
        language: str = "fr",
        published: datetime | None = None,
        story_id: int | None = None,
    ) -> Published:
        """A matched item arrives: stored, planned for every instant reader, queued —
        the pipeline's store → plan → queue stages (fetching and matching are tested
        in test_pipeline / test_match_*). With ``story_id`` it is another outlet's
        report of that story: alerts already sent get an "also reported by" edit."""
        assert self.deps is not None
        self._published += 1
        n = self._published
        now = self.clock.now()
        with transaction(self.engine) as session:
            feed_id = self._feed_ids.get(source)
            if feed_id is None:
                url = f"https://feed{len(self._feed_ids) + 1}.example/rss"
                feed = feeds.add_feed(session, NewFeed(url=url, name=source), now)
                assert feed.id is not None
                feed_id = self._feed_ids[source] = feed.id
            record = NewItem(
                identity=f"guid:{n}",
                title=title,
                link=link if link is not None else f"https://news.example/{n}",
                summary=summary,
                published=published or now,
                language=language,
            )
            row = items.add_item(session, feed_id, source, record, now, story_id=story_id)
            assert row.id is not None and row.story_id is not None
            found = [Match(slug, tuple(terms)) for slug in topics]
            items.record_matches(session, row.id, found, topic_ids_by_slug(session))
            intents = plan_alerts(row.id, found, subscribers.instant_recipients(session))
            if story_id is not None:
                stories.flag_edits(session, story_id)
            queued = deliveries.queue_alerts(session, row.story_id, intents, now)
            return Published(row.id, row.story_id, queued)

    def add_feed(self, url: str, name: str) -> int:
        with transaction(self.engine) as session:
            feed = feeds.add_feed(session, NewFeed(url=url, name=name), self.clock.now())
            assert feed.id is not None
            return feed.id

    def poll(self) -> list[PollOutcome]:
        """The real pipeline over every enabled feed (fetch … queue), as ``mcwatch poll
        --all`` does."""
        assert self.deps is not None
        outcomes: list[PollOutcome] = self._run(poll(self.deps, include_not_due=True))
        return outcomes

    def deliver(self) -> DeliverReport:
        """One deliver tick at the clock's time."""
        assert self.deps is not None
        report: DeliverReport = self._run(deliver_pending(self.deps))
        return report

    # -- what the database says -----------------------------------------------------
    def subscriber(self, chat_id: int) -> Subscriber | None:
        with transaction(self.engine) as session:
            return subscribers.find_subscriber(session, chat_id)

    def subscriptions(self, chat_id: int) -> set[str]:
        with transaction(self.engine) as session:
            found = subscribers.find_subscriber(session, chat_id)
            if found is None or found.id is None:
                return set()
            return set(subscribers.subscribed_slugs(session, found.id))

    def delivery_statuses(self) -> dict[str, int]:
        with transaction(self.engine) as session:
            return deliveries.count_by_status(session)

    def deliveries_of(self, chat_id: int) -> list[Delivery]:
        with transaction(self.engine) as session:
            return list(
                session.exec(
                    select(Delivery)
                    .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
                    .where(Subscriber.chat_id == chat_id)
                )
            )


def button_data(message: SentMessage) -> list[str]:
    """The callback data of every inline button under ``message``, in order."""
    markup = message.reply_markup or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def button_labels(message: SentMessage) -> dict[str, str]:
    """callback data → label, for every inline button under ``message``."""
    markup = message.reply_markup or {}
    return {b["callback_data"]: b["text"] for row in markup.get("inline_keyboard", []) for b in row}


def all_slugs(engine: Engine) -> set[str]:
    with transaction(engine) as session:
        return {t.slug for t in topics.list_topics(session, enabled_only=True)}


@pytest.fixture(scope="module")
def _module_bot(module_engine: Engine) -> Iterator[Conversation]:
    """One Application, stand-in and seeded database per test module and database kind:
    building them takes ~0.5 s, resetting them a few milliseconds."""
    clock = FixedClock()
    seeded(module_engine, clock)
    server = BotApi(token=TOKEN, limits=HUMAN_PACE)
    try:
        with Conversation(server, module_engine, clock) as conversation:
            yield conversation
    finally:
        server.close()


@pytest.fixture
def bot(_module_bot: Conversation) -> Conversation:
    """A conversation with the bot: seeded topics, no subscriber, no item, no feed."""
    _module_bot.reset()
    return _module_bot
