"""A Telegram Bot API stand-in on 127.0.0.1 that the real python-telegram-bot talks to.

PTB reaches it through ``base_url`` (``MCWATCH_TELEGRAM_API_URL``), over real HTTP. It
enforces what Telegram enforces on the methods mcwatch uses, and answers with Telegram's
own error shapes so PTB raises its own exceptions:

- message text 1–4096 characters *after entity parsing*, counted in UTF-16 code units;
  captions 0–1024 (core.telegram.org/bots/api#sendmessage, #sendphoto);
- HTML parse mode: only Telegram's tags (b strong i em u ins s strike del span.tg-spoiler
  tg-spoiler a tg-emoji code pre blockquote), properly nested and closed, and only the
  entities ``&lt; &gt; &amp; &quot;`` and numeric ones; every other ``<``, ``>`` or ``&``
  must be escaped (#html-style). Telegram tolerates a stray ``&``; the stand-in does not,
  so an escaping bug in mcwatch fails a test instead of slipping through;
- flood limits as token buckets: a private chat gets a burst of 3 then 1 message/s, a
  group or channel 20 per minute, the bot 30 per second overall (core.telegram.org/bots/faq
  "My bot is hitting limits"); beyond them ``429`` with ``parameters.retry_after``;
- ``403 Forbidden: bot was blocked by the user`` for a chat the test has blocked.
- an inline button's ``callback_data`` 1–64 bytes (#inlinekeyboardbutton).

Tests inject updates (``push_message``, ``push_callback``, ``push_chat_member``) that
``getUpdates`` hands out with Telegram's offset semantics, and faults (``block``,
``retry_after_next``, ``fail_next``, and ``fault_rate``: a seeded share of the calls to a
chat answered 429 or 500, as a Bot API having a bad day). Everything accepted is
recorded in ``sent``; every injected fault in ``faults``.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.support.feed_server import LoopbackServer

BOT_USER = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "mcwatch",
    "username": "mcwatch_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
# The calls that put something in a chat: the ones ``fault_rate`` hits.
CHAT_METHODS = frozenset({"sendMessage", "sendPhoto", "editMessageText", "editMessageReplyMarkup"})

# Telegram's HTML tags (core.telegram.org/bots/api#html-style) and the attributes it reads.
ALLOWED_TAGS = frozenset(
    "b strong i em u ins s strike del span tg-spoiler a tg-emoji code pre blockquote".split()
)
_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTRIBUTE = re.compile(r"""\s*([a-zA-Z-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")


class EntityError(ValueError):
    """What Telegram calls "can't parse entities"."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_entities(raw: str, offset: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "&":
            found = _ENTITY.match(raw, i)
            if not found:
                raise EntityError(
                    f"Character '&' is reserved and must be escaped at byte offset {offset + i}"
                )
            decimal, hexadecimal, named = found.groups()
            if named:
                out.append(_NAMED[named])
            else:
                point = int(decimal) if decimal else int(hexadecimal, 16)
                if not 0 < point <= 0x10FFFF:
                    raise EntityError(f"Invalid numeric entity at byte offset {offset + i}")
                out.append(chr(point))
            i = found.end()
        elif char in "<>":
            raise EntityError(f"Character '{char}' is reserved and must be escaped")
        else:
            out.append(char)
            i += 1
    return "".join(out)


def parse_html(source: str) -> str:
    """The text Telegram would display for ``source`` in HTML parse mode, or EntityError."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(source):
        lt = source.find("<", i)
        chunk = source[i:] if lt < 0 else source[i:lt]
        out.append(_decode_entities(chunk, i))
        if lt < 0:
            break
        gt = source.find(">", lt)
        if gt < 0:
            raise EntityError(f"Unclosed start tag at byte offset {lt}")
        inside = source[lt + 1 : gt]
        if inside.startswith("/"):
            name = inside[1:].strip().lower()
            if not stack:
                raise EntityError(f'Unexpected end tag "{name}" at byte offset {lt}')
            if stack[-1] != name:
                raise EntityError(
                    f'Unmatched end tag at byte offset {lt}, expected "</{stack[-1]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
        else:
            match = _TAG_NAME.match(inside)
            if not match:
                raise EntityError(f"Unexpected start tag at byte offset {lt}")
            name = match.group(0).lower()
            if name not in ALLOWED_TAGS:
                raise EntityError(f'Unsupported start tag "{name}" at byte offset {lt}')
            rest = inside[match.end() :]
            attributes = {}
            for attribute in _ATTRIBUTE.finditer(rest):
                value = attribute.group(2) or ""
                if value[:1] in "\"'":
                    value = value[1:-1]
                attributes[attribute.group(1).lower()] = _decode_entities(value, lt)
            if name == "span" and attributes.get("class") != "tg-spoiler":
                raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {lt}')
            if (
                name in ("pre", "code")
                and stack
                and stack[-1] in ("pre", "code")
                and not (name == "code" and stack[-1] == "pre")
            ):
                raise EntityError(f"Entities inside {stack[-1]} are not allowed")
            stack.append(name)
        i = gt + 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


@dataclass
class SentMessage:
    """One message Telegram accepted; ``text`` is the current text (after edits)."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    parse_mode: str | None
    plain: str | None  # what the user sees: entities parsed
    reply_markup: dict[str, Any] | None = None
    photo: bytes | None = None
    caption: str | None = None
    reply_to: int | None = None
    edits: list[str] = field(default_factory=list)
    at: float = 0.0  # time.monotonic() when it was accepted (pacing checks)


@dataclass
class _Bucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0 if a token was taken, else seconds until one is there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass(frozen=True)
class FloodLimits:
    private_burst: int = 3
    private_per_second: float = 1.0
    group_per_minute: int = 20
    overall_per_second: int = 30


CALLBACK_DATA_LIMIT = 64  # bytes (core.telegram.org/bots/api#inlinekeyboardbutton)


def _markup_of(params: dict[str, Any]) -> dict[str, Any] | None:
    """The message's reply_markup, refused as Telegram refuses a button's callback data
    that is empty or longer than 64 bytes."""
    markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else None
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


class BotApi:
    """The stand-in server. ``base_url`` goes into ``MCWATCH_TELEGRAM_API_URL``."""

    def __init__(
        self,
        token: str | None = None,
        limits: FloodLimits | None = None,
        *,
        fault_rate: float = 0.0,
        seed: int = 0,
        fault_retry_after: int = 1,
    ) -> None:
        self.token = token
        self.limits = limits or FloodLimits()
        self.faults: list[tuple[str, int, int]] = []  # (method, chat id, status) injected
        self.sent: list[SentMessage] = []
        self.rejected: list[tuple[str, int, str]] = []  # (method, chat id, description)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.left_chats: list[int] = []
        self.commands: list[dict[str, Any]] = []
        self.too_many_requests = 0
        self.blocked: set[int] = set()
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 1
        self._messages: dict[tuple[int, int], SentMessage] = {}
        self._incoming: dict[tuple[int, int], dict[str, Any]] = {}
        self._buckets: dict[int, _Bucket] = {}
        self._overall = _Bucket(
            self.limits.overall_per_second,
            self.limits.overall_per_second,
            self.limits.overall_per_second,
            time.monotonic(),
        )
        self._forced_retry: list[tuple[int | None, int]] = []  # (chat or None=all, seconds)
        self._forced_failure: list[tuple[str | None, int]] = []  # (method or None, status)
        self._lock = threading.Condition()
        self._active = 0  # requests being handled right now
        self.faulty(fault_rate, seed=seed, retry_after=fault_retry_after)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: with Nagle on, the body waits for the
            # client's delayed ACK (40 ms on Linux) on every call.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                server._serve(self)

            do_GET = do_POST

        self._httpd = LoopbackServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self._closed = False
        # serve_forever checks for shutdown every poll_interval (0.5 s by default).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    # -- what tests say -------------------------------------------------------------
    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        language_code: str | None = "en",
        user_id: int | None = None,
        chat_type: str = "private",
        title: str | None = None,
    ) -> int:
        """A user writes ``text`` in ``chat_id``; returns the update id."""
        user = self._user(user_id if user_id is not None else chat_id, language_code)
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat(chat_id, chat_type, title),
                "text": text,
            }
            if chat_type != "channel":
                message["from"] = user
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
                ]
            self._incoming[(chat_id, message_id)] = message
            key = "channel_post" if chat_type == "channel" else "message"
            return self._push({key: message})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int,
        user_id: int | None = None,
        language_code: str | None = "en",
    ) -> int:
        """A user presses an inline button (``data``) under bot message ``message_id``."""
        with self._lock:
            sent = self._messages[(chat_id, message_id)]
            message = self._message_json(sent)
            return self._push(
                {
                    "callback_query": {
                        "id": f"cb{self._next_update_id}",
                        "from": self._user(
                            user_id if user_id is not None else chat_id, language_code
                        ),
                        "message": message,
                        "chat_instance": f"ci{chat_id}",
                        "data": data,
                    }
                }
            )

    def push_chat_member(
        self,
        chat_id: int,
        *,
        by_user_id: int,
        chat_type: str = "group",
        title: str = "Desk",
        old_status: str = "left",
        new_status: str = "member",
        language_code: str | None = "en",
    ) -> int:
        """The bot was added to (or removed from) a group or channel by ``by_user_id``."""
        bot = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}

        def member(status: str) -> dict[str, Any]:
            extra: dict[str, Any] = {}
            if status == "administrator":
                extra = {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": False,
                    "can_manage_video_chats": False,
                    "can_restrict_members": False,
                    "can_promote_members": False,
                    "can_change_info": False,
                    "can_invite_users": False,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_post_messages": True,
                }
            if status == "kicked":
                extra = {"until_date": 0}
            return {"status": status, "user": bot, **extra}

        with self._lock:
            return self._push(
                {
                    "my_chat_member": {
                        "chat": self._chat(chat_id, chat_type, title),
                        "from": self._user(by_user_id, language_code),
                        "date": int(time.time()),
                        "old_chat_member": member(old_status),
                        "new_chat_member": member(new_status),
                    }
                }
            )

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: every later send to them is 403."""
        self.blocked.add(chat_id)

    def retry_after_next(self, seconds: int, *, chat_id: int | None = None, times: int = 1) -> None:
        """The next ``times`` sends (to ``chat_id``, or to anyone) get 429 retry_after."""
        with self._lock:
            self._forced_retry.extend([(chat_id, seconds)] * times)

    def fail_next(self, status: int = 500, *, method: str | None = None, times: int = 1) -> None:
        """The next ``times`` calls (of ``method``, or any) answer with HTTP ``status``."""
        with self._lock:
            self._forced_failure.extend([(method, status)] * times)

    def faulty(self, rate: float, *, seed: int = 0, retry_after: int = 1) -> None:
        """From now on a share ``rate`` (0–1) of the calls to a chat (``CHAT_METHODS``)
        fails: half of those with 429 ``retry_after`` seconds, half with 500. The draws
        come from ``random.Random(seed)``, so a test sees the same faults every run."""
        assert 0.0 <= rate <= 1.0
        with self._lock:
            self.fault_rate = rate
            self.fault_retry_after = retry_after
            self._random = random.Random(seed)

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.sent if m.chat_id == chat_id]

    def texts_to(self, chat_id: int) -> list[str]:
        """What the user sees in each message (entities parsed; captions for photos)."""
        return [
            (m.plain if m.plain is not None else m.caption or "") for m in self.messages_to(chat_id)
        ]

    def reset(self) -> None:
        """A fresh Telegram for the next test: everything recorded, injected or pending is
        forgotten and the flood buckets are full again. Message and update ids keep
        counting up, as Telegram's do."""
        with self._lock:
            self.sent.clear()
            self.rejected.clear()
            self.calls.clear()
            self.callback_answers.clear()
            self.left_chats.clear()
            self.commands.clear()
            self.blocked.clear()
            self._updates.clear()
            self._forced_retry.clear()
            self._forced_failure.clear()
            self._messages.clear()
            self._incoming.clear()
            self._buckets.clear()
            self.too_many_requests = 0
            self.faults.clear()
            self.fault_rate = 0.0
            rate = self.limits.overall_per_second
            self._overall = _Bucket(rate, rate, rate, time.monotonic())

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled (a killed client's last request may
        still be running in its thread); False if that took longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- the wire -------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._active += 1
        try:
            self._handle(handler)
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", handler.path.split("?", 1)[0])
        try:
            if not match:
                raise ApiError(404, "Not Found")
            token, method = match.groups()
            if self.token is not None and token != self.token:
                raise ApiError(401, "Unauthorized")
            params, files = self._read(handler)
            with self._lock:
                self.calls.append((method, params))
            result = self._call(method, params, files)
            self._answer(handler, 200, {"ok": True, "result": result})
        except ApiError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            self._answer(handler, exc.code, body)

    @staticmethod
    def _read(handler: BaseHTTPRequestHandler) -> tuple[dict[str, Any], dict[str, bytes]]:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + raw
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    files[str(name)] = payload
                else:
                    params[str(name)] = payload.decode()
        elif content_type.startswith("application/json"):
            params = json.loads(raw or b"{}")
        else:
            params = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        return params, files

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _call(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            for index, (only, status) in enumerate(self._forced_failure):
                if only is None or only == method:
                    del self._forced_failure[index]
                    raise ApiError(status, "Internal Server Error" if status >= 500 else "Error")
            unlucky = method in CHAT_METHODS and self._random.random() < self.fault_rate
            if unlucky:
                chat_id = int(params.get("chat_id") or 0)
                if self._random.random() < 0.5:
                    self.faults.append((method, chat_id, 429))
                    seconds = self.fault_retry_after
                    raise ApiError(429, f"Too Many Requests: retry after {seconds}", seconds)
                self.faults.append((method, chat_id, 500))
                raise ApiError(500, "Internal Server Error")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return handler(params, files)

    # -- methods --------------------------------------------------------------------
    def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return BOT_USER

    def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    def _m_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.commands.append(params)
        return True

    def _m_leaveChat(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.left_chats.append(int(params["chat_id"]))
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers.append(params)
        return True

    def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 30.0)
        with self._lock:
            if offset:  # confirms everything before it (Telegram forgets those)
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            return list(self._updates[:100])

    def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = int(params["chat_id"])
        text = params.get("text", "")
        plain = self._check_text(text, params.get("parse_mode"), MESSAGE_LIMIT, "message")
        return self._deliver("sendMessage", chat_id, params, text=text, plain=plain)

    def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = int(params["chat_id"])
        photo = files.get("photo")
        if not photo or not photo.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        caption = params.get("caption") or ""
        plain_caption = self._check_text(
            caption, params.get("parse_mode"), CAPTION_LIMIT, "caption", allow_empty=True
        )
        return self._deliver("sendPhoto", chat_id, params, photo=photo, caption=plain_caption)

    def _m_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = int(params["chat_id"])
        message_id = int(params["message_id"])
        text = params.get("text", "")
        plain = self._check_text(text, params.get("parse_mode"), MESSAGE_LIMIT, "message")
        # Telegram: an edit without reply_markup removes the inline keyboard.
        markup = _markup_of(params)
        with self._lock:
            sent = self._messages.get((chat_id, message_id))
            if sent is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if sent.text == text and sent.reply_markup == markup:
                raise ApiError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
        self._admit_edit("editMessageText", chat_id)
        with self._lock:
            sent.edits.append(text)
            sent.text, sent.plain, sent.reply_markup = text, plain, markup
            return self._message_json(sent)

    def _m_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = int(params["chat_id"])
        message_id = int(params["message_id"])
        with self._lock:
            sent = self._messages.get((chat_id, message_id))
            if sent is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            markup = _markup_of(params)
            if markup == sent.reply_markup:
                raise ApiError(400, "Bad Request: message is not modified")
        self._admit_edit("editMessageReplyMarkup", chat_id)  # an edit counts as a message
        with self._lock:
            sent.reply_markup = markup
            return self._message_json(sent)

    # -- rules ----------------------------------------------------------------------
    @staticmethod
    def _check_text(
        text: str, parse_mode: str | None, limit: int, what: str, *, allow_empty: bool = False
    ) -> str:
        if parse_mode is not None and parse_mode.upper() not in ("HTML",):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        try:
            plain = parse_html(text) if parse_mode else text
        except EntityError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        if not plain.strip() and not allow_empty:
            raise ApiError(400, f"Bad Request: {what} text is empty")
        if utf16_len(plain) > limit:
            raise ApiError(400, f"Bad Request: {what} is too long")
        return plain

    def _admit(self, chat_id: int) -> None:
        """Blocked users, forced faults, then the flood limits, in Telegram's order."""
        now = time.monotonic()
        with self._lock:
            if chat_id in self.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            for index, (only, seconds) in enumerate(self._forced_retry):
                if only is None or only == chat_id:
                    del self._forced_retry[index]
                    self.too_many_requests += 1
                    raise ApiError(429, f"Too Many Requests: retry after {seconds}", seconds)
            bucket = self._buckets.get(chat_id)
            if bucket is None:
                if chat_id < 0:
                    per_minute = self.limits.group_per_minute
                    bucket = _Bucket(per_minute, per_minute / 60.0, per_minute, now)
                else:
                    burst = self.limits.private_burst
                    bucket = _Bucket(burst, self.limits.private_per_second, burst, now)
                self._buckets[chat_id] = bucket
            wait = max(bucket.take(now), 0.0)
            if wait == 0.0:
                wait = self._overall.take(now)
                if wait:
                    bucket.tokens += 1.0  # give the chat's token back: it was not sent
            if wait:
                self.too_many_requests += 1
                seconds = max(1, math.ceil(wait))
                raise ApiError(429, f"Too Many Requests: retry after {seconds}", seconds)

    def _admit_edit(self, method: str, chat_id: int) -> None:
        try:
            self._admit(chat_id)
        except ApiError as exc:
            with self._lock:
                self.rejected.append((method, chat_id, exc.description))
            raise

    def _deliver(
        self,
        method: str,
        chat_id: int,
        params: dict[str, Any],
        *,
        text: str | None = None,
        plain: str | None = None,
        photo: bytes | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        try:
            self._admit(chat_id)
        except ApiError as exc:
            with self._lock:
                self.rejected.append((method, chat_id, exc.description))
            raise
        markup = _markup_of(params)
        reply = params.get("reply_parameters")
        reply_to = json.loads(reply).get("message_id") if reply else None
        if reply_to is None and params.get("reply_to_message_id"):
            reply_to = int(params["reply_to_message_id"])
        with self._lock:
            sent = SentMessage(
                method=method,
                chat_id=chat_id,
                message_id=self._next_message_id,
                text=text,
                parse_mode=params.get("parse_mode"),
                plain=plain,
                reply_markup=markup,
                photo=photo,
                caption=caption,
                reply_to=reply_to,
                at=time.monotonic(),
            )
            self._next_message_id += 1
            self.sent.append(sent)
            self._messages[(chat_id, sent.message_id)] = sent
            return self._message_json(sent)

    # -- JSON shapes ----------------------------------------------------------------
    def _push(self, payload: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **payload})
        self._lock.notify_all()
        return update_id

    @staticmethod
    def _user(user_id: int, language_code: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if language_code:
            user["language_code"] = language_code
        return user

    @staticmethod
    def _chat(chat_id: int, chat_type: str, title: str | None) -> dict[str, Any]:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        return {"id": chat_id, "type": chat_type, "title": title or f"Chat {chat_id}"}

    def _message_json(self, sent: SentMessage) -> dict[str, Any]:
        chat_type = "private" if sent.chat_id > 0 else "supergroup"
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": self._chat(sent.chat_id, chat_type, None),
            "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
        }
        if sent.photo is not None:
            message["photo"] = [
                {
                    "file_id": f"p{sent.message_id}",
                    "file_unique_id": f"u{sent.message_id}",
                    "width": 800,
                    "height": 400,
                    "file_size": len(sent.photo),
                }
            ]
            if sent.caption:
                message["caption"] = sent.caption
        else:
            message["text"] = sent.plain if sent.plain is not None else sent.text
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message


@pytest.fixture
def botapi() -> Iterator[BotApi]:
    server = BotApi()
    try:
        yield server
    finally:
        server.close()
