"""A fake Telegram Bot API server on 127.0.0.1 for python-telegram-bot (or any HTTP client).

Point PTB at it with `base_url=api.base_url` (= f"{api.url}/bot") and
`base_file_url=api.base_file_url` (= f"{api.url}/file/bot"), or the bot's `TELEGRAM_API_URL`
setting at `api.url`.

Public API
----------
`FakeBotApi(token="123456:TEST-TOKEN", *, username="jejak_test_bot", first_name="Jejak Test",
            bot_id=None, enforce_limits=False, global_per_second=30, per_chat_per_second=1,
            limit_window=1.0, strict_chats=False, webhook_delivery=True, webhook_retry_delay=0.2,
            port=0)`  (port 0: an ephemeral one)
  lifecycle: `.start() -> self`, `.stop()`, `with FakeBotApi() as api:` / `async with`;
             `.url`, `.base_url`, `.base_file_url`, `.token`, `.bot_user` (the getMe dict).
  methods served at `/bot<token>/<method>` (GET or POST; JSON, url-encoded or multipart; method
  names case-insensitive): getMe, getUpdates (long poll: offset confirms, timeout waits, limit,
  allowed_updates; a second getUpdates ends a waiting one with 409 like Telegram; 409 while a
  webhook is set), deleteWebhook (drop_pending_updates), setWebhook (url, secret_token,
  allowed_updates, max_connections, drop_pending_updates), getWebhookInfo, sendMessage,
  editMessageText, editMessageReplyMarkup, answerCallbackQuery, sendPhoto, sendDocument,
  sendChatAction, setMyCommands, getMyCommands, deleteMyCommands, getFile, close, logOut.
  Files: `/file/bot<token>/<file_path>` (pushed photos/voices and uploaded documents).
  Unknown method -> 404 {"ok": false, "error_code": 404, "description": "Not Found: method not
  found"}; wrong token -> 401 "Unauthorized". Like Telegram it answers 400 for: empty or >4096
  char text, callback_data > 64 bytes, editing an unknown message, "message is not modified",
  an unknown callback_query_id, a bad secret_token.

  pushing updates (test side, any thread; each returns the Update dict; `user` kwargs are
  `user_id` (default = chat_id), `first_name="Budi"`, `last_name=None`, `username=None`,
  `language_code="id"`):
    push_text(chat_id, text, **user)            # "/cmd" texts get a bot_command entity
    push_command(chat_id, command, args="", **user)   # command "start" or "/start"
    push_callback(chat_id, data, message_id=None, **user)
        # message = the bot's message (default: its latest one in the chat with a keyboard)
    tap(chat_id, label, **user)                 # push_callback for the button whose text or
                                                # callback_data equals `label` in last_keyboard
    push_photo(chat_id, caption=None, **user)
    push_sticker(chat_id, emoji="👍", **user)
    push_voice(chat_id, duration=3, **user)
    push_document(chat_id, file_name="cv.pdf", caption=None, **user)
    push_location(chat_id, latitude=-6.2, longitude=106.8, **user)
    push_contact(chat_id, phone_number, **user)
    push_edited_message(chat_id, text, message_id=None, **user)   # default: last user message
    push_group_message(chat_id, text, *, user_id, chat_type="group", title="XII TKJ 1", ...)
    push_channel_post(chat_id, text, title="Info BKK")
    push_raw(update_dict)     # keeps its update_id if given (re-send a duplicate), else assigns
    pending_updates() -> int

  observing (any thread):
    calls(method=None) -> list[Call]   every API call except getUpdates, incl. failed ones
    sent(chat_id=None, method=None) -> list[Call]   successful calls that target a chat
    messages(chat_id=None) -> list[Call]  successful new messages (sendMessage/Photo/Document)
    texts(chat_id=None) -> list[str]      their text (or caption)
    last_message(chat_id) -> dict | None  the bot's latest message in the chat (edits applied)
    last_keyboard(chat_id) -> list[list[dict]] | None   inline_keyboard of the latest bot
                                          message in the chat that has one (edits applied)
    bot_message(chat_id, message_id) -> dict | None
    callback_answers(callback_query_id=None) -> list[Call]
    webhook -> dict (url, secret_token, allowed_updates, max_connections) ; webhook_deliveries
    stats() -> counters: "sends" (successful new messages), one per error status answered
                ("400", "403", "409", "429", "5xx"), "429_rate_limited" (limit enforcement) and
                "<status>_injected" (fail_next)
    too_many_requests -> int (all 429s answered)
  waiting (async variants never block the caller's loop; all raise WaitTimeout, an
  AssertionError, listing what was sent):
    await await_messages(chat_id=None, n=1, timeout=5.0) -> list[Call]   >= n messages in total
    wait_messages(...)  (sync)
    await await_new_messages(chat_id, n=1, timeout=5.0) -> list[Call]    the next n messages to
    wait_new_messages(...)  (sync)        the chat not yet returned by an earlier *_new_* call
    await await_for(cond, timeout=5.0) / wait_for(cond, timeout=5.0)      cond: callable -> the
        first truthy value, or an int n -> waits for n successful messages overall
    await await_calls(method, n=1, chat_id=None, timeout=5.0) / wait_calls(...)
  faults and limits:
    set_limits(enabled=True, global_per_second=30, per_chat_per_second=1, window=1.0)
        sliding windows over sendMessage/sendPhoto/sendDocument; over the limit -> 429
        {"ok":false,"error_code":429,"description":"Too Many Requests: retry after N",
         "parameters":{"retry_after":N}} (N = whole seconds until a slot frees, >= 1)
    block(chat_id) / unblock(chat_id) -> sends answer 403 "Forbidden: bot was blocked by the user"
    fail_next(n=1, status=500, *, error_code=None, description=None, retry_after=None,
              chat_id=None, methods=None)  # next n matching send calls fail; status 429 gets
              # parameters.retry_after (default 1); methods default: the send methods above
              # plus editMessageText/editMessageReplyMarkup; methods="*" for any call
    clear()        forget recorded calls, cursors, counters and pending faults
  webhook mode: after setWebhook with a url, pushed updates are POSTed there (JSON, header
    X-Telegram-Bot-Api-Secret-Token), in order per chat, retried after a non-2xx answer; the
    fake accepts http:// URLs (Telegram itself wants https). `webhook_targets = [url, ...]`
    plays a round-robin load balancer in front of several workers. To post one update by hand:
    deliver_webhook(url, update, secret_token=None) -> httpx.Response   (sync) and
    await adeliver_webhook(url, update, secret_token=None)                 (async)
"""

# ruff: noqa: ASYNC109  (the waiters take a timeout on purpose, like the sync ones)

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.httpserver import (
    HttpServer,
    Recorder,
    Request,
    Response,
    UploadedFile,
)
from tests.fakes.httpserver import (
    LazyText as _Lazy,
)

SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
FAULT_METHODS = SEND_METHODS | {"editMessageText", "editMessageReplyMarkup"}
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "url",
        "secret_token",
        "parse_mode",
        "action",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "ip_address",
        "file_id",
        "photo",
        "document",
    }
)
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "my_chat_member",
    "chat_member",
)


@dataclass(slots=True)
class Call:
    """One recorded Bot API call."""

    seq: int
    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    time: float  # time.monotonic() when received
    status: int = 200
    ok: bool = True
    result: Any = None
    description: str | None = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        return self.params.get("text", self.params.get("caption"))

    @property
    def reply_markup(self) -> dict | None:
        markup = self.params.get("reply_markup")
        return markup if isinstance(markup, dict) else None

    @property
    def keyboard(self) -> list[list[dict]] | None:
        markup = self.reply_markup
        return markup.get("inline_keyboard") if markup else None

    @property
    def button_labels(self) -> list[str]:
        return [b.get("text", "") for row in (self.keyboard or []) for b in row]

    @property
    def message_id(self) -> int | None:
        if isinstance(self.result, dict):
            return self.result.get("message_id")
        return None


@dataclass
class _Queued:
    update: dict
    update_id: int
    forced: bool = False  # an update_id already used (a deliberate duplicate)
    delivered: bool = False


@dataclass
class _Fault:
    remaining: int
    status: int
    error_code: int
    description: str
    retry_after: int | None
    chat_id: Any
    methods: frozenset[str] | None  # None = any method


@dataclass
class _WebhookState:
    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None
    extra: dict = field(default_factory=dict)


def _decode_value(key: str, value: str) -> Any:
    if key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _norm_chat(chat_id: Any) -> Any:
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
        return int(chat_id)
    return chat_id


class FakeBotApi(Recorder):
    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        username: str = "jejak_test_bot",
        first_name: str = "Jejak Test",
        bot_id: int | None = None,
        enforce_limits: bool = False,
        global_per_second: int = 30,
        per_chat_per_second: int = 1,
        limit_window: float = 1.0,
        strict_chats: bool = False,
        webhook_delivery: bool = True,
        webhook_retry_delay: float = 0.2,
        port: int = 0,
    ) -> None:
        super().__init__()
        self.token = token
        if bot_id is None:
            head = token.split(":", 1)[0]
            bot_id = int(head) if head.isdigit() else 123456
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.strict_chats = strict_chats
        self.webhook_delivery = webhook_delivery
        # a round-robin load balancer: when set, each delivery goes to the next of these URLs
        # instead of the registered one (still one update per chat in flight, in order)
        self.webhook_targets: list[str] = []
        self._wh_turn = itertools.count()
        self.webhook_retry_delay = webhook_retry_delay
        self._server = HttpServer(self._handle, port=port)
        self._server.on_shutdown = self._on_shutdown  # type: ignore[method-assign]
        # updates
        self._queue: list[_Queued] = []
        self._last_batch: list[_Queued] = []
        self._used_ids: set[int] = set()
        self._next_update_id = 100001
        self._poll_generation = 0
        # chats and messages
        self._chats: dict[Any, dict] = {}
        self._msg_ids: dict[Any, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._bot_messages: dict[Any, dict[int, dict]] = defaultdict(dict)
        self._user_messages: dict[Any, list[int]] = defaultdict(list)
        self._callbacks: dict[str, dict] = {}
        self._cb_counter = itertools.count(1)
        self._file_counter = itertools.count(1)
        self._files: dict[str, tuple[str, bytes, dict]] = {}  # file_id -> (path, data, meta)
        self._file_paths: dict[str, bytes] = {}
        self._commands: dict[str, list] = {}
        # records
        self._calls: list[Call] = []
        self._msgs: list[Call] = []  # successful SEND_METHODS calls
        self._msgs_by_chat: dict[Any, list[Call]] = defaultdict(list)
        self._seq = itertools.count(1)
        self._cursors: dict[Any, int] = defaultdict(int)
        self._stats: dict[str, int] = defaultdict(int)
        # faults and limits
        self._blocked: set[Any] = set()
        self._faults: list[_Fault] = []
        self.limits_enabled = enforce_limits
        self.global_per_second = global_per_second
        self.per_chat_per_second = per_chat_per_second
        self.limit_window = limit_window
        self._global_window: deque[float] = deque()
        self._chat_windows: dict[Any, deque[float]] = defaultdict(deque)
        # webhook
        self._webhook = _WebhookState()
        self.webhook_deliveries: list[dict] = []
        self._wh_lanes_busy: set[Any] = set()
        self._wh_client: httpx.AsyncClient | None = None
        self._wh_sem: asyncio.Semaphore | None = None
        self._wh_retry_scheduled = False

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeBotApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeBotApi:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def _on_shutdown(self) -> None:
        if self._wh_client is not None:
            await self._wh_client.aclose()
            self._wh_client = None

    # test-side: pushing updates --------------------------------------------------------------
    def _user(
        self,
        chat_id: Any,
        user_id: int | None = None,
        first_name: str = "Budi",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "id",
    ) -> dict:
        user: dict[str, Any] = {
            "id": user_id if user_id is not None else chat_id,
            "is_bot": False,
            "first_name": first_name,
        }
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def _private_chat(self, chat_id: Any, user: dict) -> dict:
        chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if "last_name" in user:
            chat["last_name"] = user["last_name"]
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def _user_message(self, chat: dict, user: dict | None, **content: Any) -> dict:
        with self._lock:
            self._chats[chat["id"]] = chat
            message_id = next(self._msg_ids[chat["id"]])
            self._user_messages[chat["id"]].append(message_id)
        msg: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat}
        if user is not None:
            msg["from"] = user
        msg.update({k: v for k, v in content.items() if v is not None})
        return msg

    def _new_file(self, kind: str, ext: str, data: bytes, meta: dict | None = None) -> dict:
        with self._lock:
            n = next(self._file_counter)
        file_id = f"{kind.upper()}-{n:06d}-FILEID"
        path = f"{kind}s/file_{n}.{ext}"
        info = {"file_id": file_id, "file_unique_id": f"U{kind[:3]}{n:06d}"}
        info.update(meta or {})
        info.setdefault("file_size", len(data))
        with self._lock:
            self._files[file_id] = (path, data, info)
            self._file_paths[path] = data
        return info

    def push_text(self, chat_id: Any, text: str, **user: Any) -> dict:
        u = self._user(chat_id, **user)
        entities = None
        if text.startswith("/"):
            length = len(text.split()[0]) if text.split() else 1
            entities = [{"type": "bot_command", "offset": 0, "length": length}]
        msg = self._user_message(self._private_chat(chat_id, u), u, text=text, entities=entities)
        return self._push({"message": msg})

    def push_command(self, chat_id: Any, command: str, args: str = "", **user: Any) -> dict:
        cmd = command if command.startswith("/") else f"/{command}"
        return self.push_text(chat_id, f"{cmd} {args}".strip(), **user)

    def push_callback(
        self, chat_id: Any, data: str, message_id: int | None = None, **user: Any
    ) -> dict:
        u = self._user(chat_id, **user)
        with self._lock:
            msgs = self._bot_messages[chat_id]
            if message_id is None:
                with_kb = [m for m in msgs.values() if m.get("reply_markup")]
                chosen = with_kb[-1] if with_kb else (list(msgs.values())[-1] if msgs else None)
            else:
                chosen = msgs.get(message_id)
            if chosen is None:
                chat = self._chats.get(chat_id) or self._private_chat(chat_id, u)
                self._chats.setdefault(chat_id, chat)
                mid = message_id if message_id is not None else next(self._msg_ids[chat_id])
                chosen = {
                    "message_id": mid,
                    "date": int(time.time()),
                    "chat": chat,
                    "from": self.bot_user,
                    "text": "(message)",
                }
                msgs[mid] = chosen
            query_id = f"{next(self._cb_counter)}{abs(hash(chat_id)) % 10**6:06d}"
            self._callbacks[query_id] = {"answered": False}
            message = json.loads(json.dumps(chosen))
        update = {
            "callback_query": {
                "id": query_id,
                "from": u,
                "chat_instance": f"ci{chat_id}",
                "message": message,
                "data": data,
            }
        }
        return self._push(update)

    def tap(self, chat_id: Any, label: str, **user: Any) -> dict:
        with self._lock:
            found = self._find_button(chat_id, label)
        if found is None:
            kb = self.last_keyboard(chat_id)
            raise AssertionError(f"no button {label!r} in chat {chat_id}; last keyboard: {kb}")
        data, message_id = found
        return self.push_callback(chat_id, data, message_id=message_id, **user)

    def _find_button(self, chat_id: Any, label: str) -> tuple[str, int] | None:
        msgs = [m for m in self._bot_messages[chat_id].values() if m.get("reply_markup")]
        for msg in reversed(msgs):
            for row in msg["reply_markup"].get("inline_keyboard", []):
                for button in row:
                    if label in (button.get("text"), button.get("callback_data")):
                        if "callback_data" not in button:
                            raise AssertionError(f"button {label!r} has no callback_data")
                        return button["callback_data"], msg["message_id"]
        return None

    def push_photo(self, chat_id: Any, caption: str | None = None, **user: Any) -> dict:
        u = self._user(chat_id, **user)
        small = self._new_file("photo", "jpg", b"\xff\xd8fake-small", {"width": 90, "height": 90})
        big = self._new_file("photo", "jpg", b"\xff\xd8fake-big", {"width": 800, "height": 800})
        msg = self._user_message(
            self._private_chat(chat_id, u), u, photo=[small, big], caption=caption
        )
        return self._push({"message": msg})

    def push_sticker(self, chat_id: Any, emoji: str = "👍", **user: Any) -> dict:
        u = self._user(chat_id, **user)
        sticker = self._new_file(
            "sticker",
            "webp",
            b"RIFFfake",
            {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            },
        )
        msg = self._user_message(self._private_chat(chat_id, u), u, sticker=sticker)
        return self._push({"message": msg})

    def push_voice(self, chat_id: Any, duration: int = 3, **user: Any) -> dict:
        u = self._user(chat_id, **user)
        voice = self._new_file(
            "voice", "oga", b"OggSfake", {"duration": duration, "mime_type": "audio/ogg"}
        )
        msg = self._user_message(self._private_chat(chat_id, u), u, voice=voice)
        return self._push({"message": msg})

    def push_document(
        self, chat_id: Any, file_name: str = "cv.pdf", caption: str | None = None, **user: Any
    ) -> dict:
        u = self._user(chat_id, **user)
        doc = self._new_file(
            "document",
            "pdf",
            b"%PDF-1.4 fake",
            {"file_name": file_name, "mime_type": "application/pdf"},
        )
        msg = self._user_message(self._private_chat(chat_id, u), u, document=doc, caption=caption)
        return self._push({"message": msg})

    def push_location(
        self, chat_id: Any, latitude: float = -6.2, longitude: float = 106.8, **user: Any
    ) -> dict:
        u = self._user(chat_id, **user)
        loc = {"latitude": latitude, "longitude": longitude}
        msg = self._user_message(self._private_chat(chat_id, u), u, location=loc)
        return self._push({"message": msg})

    def push_contact(self, chat_id: Any, phone_number: str, **user: Any) -> dict:
        u = self._user(chat_id, **user)
        contact = {"phone_number": phone_number, "first_name": u["first_name"], "user_id": u["id"]}
        msg = self._user_message(self._private_chat(chat_id, u), u, contact=contact)
        return self._push({"message": msg})

    def push_edited_message(
        self, chat_id: Any, text: str, message_id: int | None = None, **user: Any
    ) -> dict:
        u = self._user(chat_id, **user)
        chat = self._private_chat(chat_id, u)
        with self._lock:
            if message_id is None:
                ids = self._user_messages[chat_id]
                message_id = ids[-1] if ids else next(self._msg_ids[chat_id])
        now = int(time.time())
        msg = {
            "message_id": message_id,
            "date": now - 60,
            "edit_date": now,
            "chat": chat,
            "from": u,
            "text": text,
        }
        return self._push({"edited_message": msg})

    def push_group_message(
        self,
        chat_id: Any,
        text: str,
        *,
        user_id: int = 424242,
        chat_type: str = "group",
        title: str = "XII TKJ 1",
        first_name: str = "Budi",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "id",
    ) -> dict:
        u = self._user(chat_id, user_id, first_name, last_name, username, language_code)
        chat = {"id": chat_id, "type": chat_type, "title": title}
        entities = None
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        msg = self._user_message(chat, u, text=text, entities=entities)
        return self._push({"message": msg})

    def push_channel_post(self, chat_id: Any, text: str, title: str = "Info BKK") -> dict:
        chat = {"id": chat_id, "type": "channel", "title": title}
        msg = self._user_message(chat, None, text=text, sender_chat=chat)
        return self._push({"channel_post": msg})

    def push_raw(self, update: dict) -> dict:
        """Queue `update` as is; an update_id it carries is kept (also a duplicate one)."""
        return self._push(json.loads(json.dumps(update)), keep_id=True)

    def _push(self, update: dict, keep_id: bool = False) -> dict:
        with self._lock:
            forced = False
            if keep_id and "update_id" in update:
                uid = int(update["update_id"])
                forced = uid in self._used_ids or uid < self._next_update_id
                self._next_update_id = max(self._next_update_id, uid + 1)
            else:
                uid = self._next_update_id
                self._next_update_id += 1
                update = {"update_id": uid, **update}
            self._used_ids.add(uid)
            self._queue.append(_Queued(update, uid, forced))
            self._changed()
        if self._webhook.url and self.webhook_delivery:
            self._server.call_soon(self._webhook_pump)
        return update

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._queue)

    # test-side: observing ------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def sent(self, chat_id: Any = None, method: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self._calls
                if c.ok
                and "chat_id" in c.params
                and (chat_id is None or c.chat_id == chat_id)
                and (method is None or c.method == method)
            ]

    def messages(self, chat_id: Any = None) -> list[Call]:
        with self._lock:
            return list(self._msgs if chat_id is None else self._msgs_by_chat.get(chat_id, ()))

    def texts(self, chat_id: Any = None) -> list[str]:
        return [c.text or "" for c in self.messages(chat_id)]

    def bot_message(self, chat_id: Any, message_id: int) -> dict | None:
        with self._lock:
            return self._bot_messages[chat_id].get(message_id)

    def last_message(self, chat_id: Any) -> dict | None:
        with self._lock:
            msgs = self._bot_messages.get(chat_id)
            return list(msgs.values())[-1] if msgs else None

    def last_keyboard(self, chat_id: Any) -> list[list[dict]] | None:
        with self._lock:
            msgs = self._bot_messages.get(chat_id) or {}
            for msg in reversed(list(msgs.values())):
                markup = msg.get("reply_markup")
                if markup and markup.get("inline_keyboard"):
                    return markup["inline_keyboard"]
            return None

    def callback_answers(self, callback_query_id: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls("answerCallbackQuery")
            if callback_query_id is None or c.params.get("callback_query_id") == callback_query_id
        ]

    def unanswered_callbacks(self) -> list[str]:
        """Ids of the pushed button taps the bot never answered (the spinner would keep going)."""
        with self._lock:
            return [qid for qid, state in self._callbacks.items() if not state["answered"]]

    @property
    def webhook(self) -> dict:
        with self._lock:
            w = self._webhook
            return {
                "url": w.url,
                "secret_token": w.secret_token,
                "allowed_updates": w.allowed_updates,
                "max_connections": w.max_connections,
            }

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    @property
    def too_many_requests(self) -> int:
        with self._lock:
            return self._stats["429"]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._msgs.clear()
            self._msgs_by_chat.clear()
            self._cursors.clear()
            self._stats.clear()
            self._faults.clear()
            self.webhook_deliveries.clear()
            self._global_window.clear()
            self._chat_windows.clear()

    # waiting -----------------------------------------------------------------------------------
    def _dump(self, chat_id: Any = None) -> str:
        return "; ".join(
            f"{c.method}({c.chat_id}): {c.text!r}"
            for c in self.calls()
            if chat_id in (None, c.chat_id)
        )[-2000:]

    def _count_cond(self, cond: Callable[[], Any] | int) -> Callable[[], Any]:
        if isinstance(cond, int):
            n = cond
            return lambda: len(self._msgs) >= n
        return cond

    def wait_for(self, cond: Callable[[], Any] | int, timeout: float = 5.0, what=None) -> Any:
        return super().wait_for(self._count_cond(cond), timeout, what)

    async def await_for(
        self,
        cond: Callable[[], Any] | int,
        timeout: float = 5.0,
        what=None,
    ) -> Any:
        return await super().await_for(self._count_cond(cond), timeout, what)

    def _messages_cond(self, chat_id: Any, n: int) -> Callable[[], Any]:
        def cond() -> list[Call] | None:
            msgs = self._msgs if chat_id is None else self._msgs_by_chat.get(chat_id, ())
            return list(msgs) if len(msgs) >= n else None

        return cond

    def _new_cond(self, chat_id: Any, n: int) -> Callable[[], Any]:
        def cond() -> list[Call] | None:
            msgs = self._msgs if chat_id is None else self._msgs_by_chat.get(chat_id, ())
            start = self._cursors[chat_id]
            if len(msgs) - start >= n:
                self._cursors[chat_id] = start + n
                return msgs[start : start + n]
            return None

        return cond

    def _what(self, chat_id: Any, n: int) -> str:
        return f"{n} message(s) to chat {chat_id}; sent so far: {self._dump(chat_id)}"

    async def await_messages(self, chat_id: Any = None, n: int = 1, timeout: float = 5.0):
        cond = self._messages_cond(chat_id, n)
        return await Recorder.await_for(self, cond, timeout, _Lazy(self._what, chat_id, n))

    def wait_messages(self, chat_id: Any = None, n: int = 1, timeout: float = 5.0):
        cond = self._messages_cond(chat_id, n)
        return Recorder.wait_for(self, cond, timeout, _Lazy(self._what, chat_id, n))

    async def await_new_messages(self, chat_id: Any, n: int = 1, timeout: float = 5.0):
        cond = self._new_cond(chat_id, n)
        return await Recorder.await_for(self, cond, timeout, _Lazy(self._what, chat_id, n))

    def wait_new_messages(self, chat_id: Any, n: int = 1, timeout: float = 5.0):
        cond = self._new_cond(chat_id, n)
        return Recorder.wait_for(self, cond, timeout, _Lazy(self._what, chat_id, n))

    def _calls_cond(self, method: str, n: int, chat_id: Any) -> Callable[[], Any]:
        def cond() -> list[Call] | None:
            found = [
                c for c in self.calls(method) if c.ok and (chat_id is None or c.chat_id == chat_id)
            ]
            return found if len(found) >= n else None

        return cond

    async def await_calls(self, method: str, n: int = 1, chat_id: Any = None, timeout=5.0):
        what = f"{n} {method} call(s)"
        return await Recorder.await_for(self, self._calls_cond(method, n, chat_id), timeout, what)

    def wait_calls(self, method: str, n: int = 1, chat_id: Any = None, timeout=5.0):
        what = f"{n} {method} call(s)"
        return Recorder.wait_for(self, self._calls_cond(method, n, chat_id), timeout, what)

    def _timeout_message(self, what: Any, timeout: float) -> str:
        return f"timed out after {timeout}s waiting for {what or 'condition'}"

    # faults and limits ---------------------------------------------------------------------
    def set_limits(
        self,
        enabled: bool = True,
        global_per_second: int = 30,
        per_chat_per_second: int = 1,
        window: float = 1.0,
    ) -> None:
        with self._lock:
            self.limits_enabled = enabled
            self.global_per_second = global_per_second
            self.per_chat_per_second = per_chat_per_second
            self.limit_window = window
            self._global_window.clear()
            self._chat_windows.clear()

    def block(self, chat_id: Any) -> None:
        with self._lock:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: Any) -> None:
        with self._lock:
            self._blocked.discard(chat_id)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        error_code: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: Any = None,
        methods: Iterable[str] | str | None = None,
    ) -> None:
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                400: "Bad Request: injected failure",
                403: "Forbidden: bot was blocked by the user",
                502: "Bad Gateway",
            }.get(status, "Internal Server Error")
        if methods == "*":
            mset = None
        elif methods is None:
            mset = FAULT_METHODS
        else:
            mset = frozenset([methods] if isinstance(methods, str) else methods)
        with self._lock:
            self._faults.append(
                _Fault(n, status, error_code or status, description, retry_after, chat_id, mset)
            )

    def _take_fault(self, method: str, chat_id: Any) -> _Fault | None:
        for fault in self._faults:
            if fault.methods is not None and method not in fault.methods:
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def _check_limits(self, chat_id: Any, now: float) -> int | None:
        """Return retry_after seconds if this send is over a limit, else record it."""
        window = self.limit_window
        g = self._global_window
        while g and g[0] <= now - window:
            g.popleft()
        c = self._chat_windows[chat_id]
        while c and c[0] <= now - window:
            c.popleft()
        waits = []
        if len(g) >= self.global_per_second:
            waits.append(g[0] + window - now)
        if len(c) >= self.per_chat_per_second:
            waits.append(c[0] + window - now)
        if waits:
            return max(1, math.ceil(max(waits)))
        g.append(now)
        c.append(now)
        return None

    # server side ---------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None, code=None):
        body: dict[str, Any] = {
            "ok": False,
            "error_code": code or status,
            "description": description,
        }
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return Response.json(body, status)

    async def _handle(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/file/bot"):
            rest = path[len("/file/bot") :]
            token, _, file_path = rest.partition("/")
            if token != self.token:
                return self._error(401, "Unauthorized")
            with self._lock:
                data = self._file_paths.get(file_path)
            if data is None:
                return self._error(404, "Not Found")
            return Response(200, data, "application/octet-stream")
        if not path.startswith("/bot"):
            return self._error(404, "Not Found")
        token, _, method = path[4:].partition("/")
        if token != self.token:
            return self._error(401, "Unauthorized")
        params: dict[str, Any] = {}
        if isinstance(req.json, dict):
            params.update(req.json)
            for k, v in req.form.items():
                params.setdefault(k, _decode_value(k, v))
        else:
            params = {k: _decode_value(k, v) for k, v in req.form.items()}
        for name in req.files:
            params.setdefault(name, f"attach://{name}")
        if "chat_id" in params:
            params["chat_id"] = _norm_chat(params["chat_id"])
        handler = _METHODS.get(method.lower())
        if handler is None:
            return self._error(404, "Not Found: method not found")
        canonical = handler.__name__[4:]
        if canonical == "getUpdates":
            return await self._get_updates(params)
        return self._dispatch(canonical, handler, params, req.files)

    def _dispatch(self, method: str, handler, params: dict, files: dict) -> Response:
        now = time.monotonic()
        chat_id = params.get("chat_id")
        with self._lock:
            call = Call(next(self._seq), method, params, files, now)
            self._calls.append(call)
            response = None
            fault = self._take_fault(method, chat_id)
            if fault is not None:
                self._stats[f"{fault.status}_injected"] += 1
                response = self._error(
                    fault.status, fault.description, fault.retry_after, fault.error_code
                )
            elif method in SEND_METHODS and chat_id in self._blocked:
                response = self._error(403, "Forbidden: bot was blocked by the user")
            elif method in SEND_METHODS and self.limits_enabled:
                retry = self._check_limits(chat_id, now)
                if retry is not None:
                    self._stats["429_rate_limited"] += 1
                    response = self._error(429, f"Too Many Requests: retry after {retry}", retry)
            if response is None:
                try:
                    result = handler(self, params, files)
                    response = Response.json({"ok": True, "result": result})
                    call.result = result
                except _ApiError as exc:
                    response = self._error(exc.status, exc.description)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    response = self._error(400, f"Bad Request: {type(exc).__name__}: {exc}")
            call.status = response.status
            call.ok = response.status == 200
            if not call.ok:
                body = json.loads(response.body)
                call.description = body.get("description")
                status = response.status
                self._stats["5xx" if status >= 500 else str(status)] += 1
            elif method in SEND_METHODS:
                self._stats["sends"] += 1
                self._msgs.append(call)
                self._msgs_by_chat[chat_id].append(call)
            self._changed()
        return response

    # getUpdates ------------------------------------------------------------------------------
    async def _get_updates(self, params: dict) -> Response:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        with self._lock:
            if self._webhook.url:
                return self._error(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._changed()  # ends an older waiting getUpdates with 409
            self._confirm(offset)

        def ready() -> Any:
            if self._poll_generation != generation:
                return "conflict"
            return bool(self._deliverable(allowed))

        try:
            outcome = await Recorder.await_for(self, ready, timeout) if timeout > 0 else ready()
        except AssertionError:
            outcome = False
        with self._lock:
            if outcome == "conflict":
                return self._error(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            batch = self._deliverable(allowed)[:limit]
            for entry in batch:
                entry.delivered = True
            if batch:
                self._last_batch = batch
            return Response.json({"ok": True, "result": [e.update for e in batch]})

    def _deliverable(self, allowed: list[str] | None) -> list[_Queued]:
        if not allowed:
            return self._queue
        kinds = set(allowed)
        return [e for e in self._queue if any(k in e.update for k in kinds)]

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._queue = self._queue[offset:]
            return
        if offset == 0:
            return
        drop: set[int] = set()
        if self._last_batch and offset - 1 == self._last_batch[-1].update_id:
            drop.update(id(e) for e in self._last_batch)
            self._last_batch = []
        self._queue = [
            e
            for e in self._queue
            if id(e) not in drop and not (e.update_id < offset and (not e.forced or e.delivered))
        ]

    # webhook delivery ------------------------------------------------------------------------
    def _webhook_pump(self) -> None:
        """Runs on the server loop: start deliveries for chats without one in flight."""
        with self._lock:
            url = self._webhook.url
            if not url or not self.webhook_delivery:
                return
            if self._wh_client is None:
                self._wh_client = httpx.AsyncClient(timeout=10)
            if self._wh_sem is None:
                self._wh_sem = asyncio.Semaphore(self._webhook.max_connections)
            starts = []
            for entry in self._queue:
                if entry.delivered:
                    continue
                lane = _lane(entry.update)
                if lane in self._wh_lanes_busy:
                    continue
                self._wh_lanes_busy.add(lane)
                entry.delivered = True
                starts.append((lane, entry))
        loop = asyncio.get_running_loop()
        for lane, entry in starts:
            loop.create_task(self._deliver_one(lane, entry))

    async def _deliver_one(self, lane: Any, entry: _Queued) -> None:
        assert self._wh_sem is not None and self._wh_client is not None
        with self._lock:
            url, secret = self._webhook.url, self._webhook.secret_token
            if self.webhook_targets:
                url = self.webhook_targets[next(self._wh_turn) % len(self.webhook_targets)]
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        status, error = 0, None
        async with self._wh_sem:
            try:
                status = await self._wh_post(url, entry.update, headers)
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status}"
            except (httpx.HTTPError, OSError) as exc:
                error = f"Connection failed: {type(exc).__name__}"
        with self._lock:
            self.webhook_deliveries.append(
                {
                    "update_id": entry.update_id,
                    "status": status,
                    "error": error,
                    "time": time.monotonic(),
                }
            )
            self._wh_lanes_busy.discard(lane)
            if error is None:
                with contextlib.suppress(ValueError):
                    self._queue.remove(entry)
            else:
                entry.delivered = False
                self._webhook.last_error_date = int(time.time())
                self._webhook.last_error_message = error
            self._changed()
        if error is None:
            self._webhook_pump()
        else:
            await asyncio.sleep(self.webhook_retry_delay)
            self._webhook_pump()

    async def _wh_post(self, url: str, update: dict, headers: dict[str, str]) -> int:
        """POST one update to the webhook; its HTTP status (a subclass may use another client)."""
        assert self._wh_client is not None
        return (await self._wh_client.post(url, json=update, headers=headers)).status_code

    async def adeliver_webhook(
        self, url: str, update: dict, secret_token: str | None = None
    ) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token else {}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, json=update, headers=headers)

    def deliver_webhook(
        self, url: str, update: dict, secret_token: str | None = None
    ) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token else {}
        return httpx.post(url, json=update, headers=headers, timeout=10)

    # Bot API methods (called under self._lock) --------------------------------------------
    def _chat(self, chat_id: Any) -> dict:
        chat = self._chats.get(chat_id)
        if chat is None:
            if self.strict_chats:
                raise _ApiError(400, "Bad Request: chat not found")
            if isinstance(chat_id, int) and chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": "User"}
            else:
                chat = {"id": chat_id, "type": "supergroup", "title": "Group"}
        return chat

    def _bot_msg(self, params: dict, **content: Any) -> dict:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        chat = self._chat(chat_id)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            _validate_keyboard(markup)
        msg: dict[str, Any] = {
            "message_id": next(self._msg_ids[chat_id]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        msg.update({k: v for k, v in content.items() if v is not None})
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            msg["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        self._bot_messages[chat_id][msg["message_id"]] = msg
        return msg

    def api_getMe(self, params, files):
        return self.bot_user

    def api_getUpdates(self, params, files):  # handled asynchronously in _get_updates
        raise NotImplementedError

    def api_deleteWebhook(self, params, files):
        self._webhook = _WebhookState()
        if params.get("drop_pending_updates"):
            self._queue.clear()
            self._last_batch = []
        return True

    def api_setWebhook(self, params, files):
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        url = str(params.get("url") or "")
        if url and not url.startswith(("http://", "https://")):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self._webhook = _WebhookState(
            url=url,
            secret_token=secret,
            allowed_updates=params.get("allowed_updates"),
            max_connections=int(params.get("max_connections") or 40),
        )
        self._wh_sem = None
        if url and self._queue:
            for entry in self._queue:
                entry.delivered = False
            self._server.call_soon(self._webhook_pump)
        return True

    def api_getWebhookInfo(self, params, files):
        w = self._webhook
        info: dict[str, Any] = {
            "url": w.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if w.url:
            info["max_connections"] = w.max_connections
            if w.allowed_updates:
                info["allowed_updates"] = w.allowed_updates
            if w.last_error_date:
                info["last_error_date"] = w.last_error_date
                info["last_error_message"] = w.last_error_message
        return info

    def api_sendMessage(self, params, files):
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        return self._bot_msg(params, text=text, entities=params.get("entities"))

    def _caption(self, params):
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        return caption

    def api_sendPhoto(self, params, files):
        caption = self._caption(params)
        photo = params.get("photo")
        if photo is None:
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        upload = files.get("photo")
        data = upload.data if upload else b""
        sizes = [self._new_file("photo", "jpg", data, {"width": 320, "height": 320})]
        return self._bot_msg(params, photo=sizes, caption=caption)

    def api_sendDocument(self, params, files):
        caption = self._caption(params)
        if params.get("document") is None:
            raise _ApiError(400, "Bad Request: there is no document in the request")
        upload = files.get("document")
        meta: dict[str, Any] = {}
        if upload is not None:
            meta["file_name"] = upload.filename or "file"
            meta["mime_type"] = upload.content_type or "application/octet-stream"
        doc = self._new_file("document", "bin", upload.data if upload else b"", meta)
        return self._bot_msg(params, document=doc, caption=caption)

    def _find_for_edit(self, params) -> dict:
        if params.get("inline_message_id"):
            raise _ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id, mid = params.get("chat_id"), params.get("message_id")
        msg = self._bot_messages.get(chat_id, {}).get(int(mid)) if mid is not None else None
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return msg

    def api_editMessageText(self, params, files):
        msg = self._find_for_edit(params)
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(str(text)) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        new_markup = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            _validate_keyboard(markup)
        if msg.get("text") == text and msg.get("reply_markup") == new_markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        msg["text"] = str(text)
        msg["edit_date"] = int(time.time())
        if new_markup:
            msg["reply_markup"] = {"inline_keyboard": new_markup["inline_keyboard"]}
        else:
            msg.pop("reply_markup", None)
        return msg

    def api_editMessageReplyMarkup(self, params, files):
        msg = self._find_for_edit(params)
        markup = params.get("reply_markup")
        new_markup = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            _validate_keyboard(markup)
        if msg.get("reply_markup") == (
            {"inline_keyboard": new_markup["inline_keyboard"]} if new_markup else None
        ):
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        if new_markup:
            msg["reply_markup"] = {"inline_keyboard": new_markup["inline_keyboard"]}
        else:
            msg.pop("reply_markup", None)
        msg["edit_date"] = int(time.time())
        return msg

    def api_answerCallbackQuery(self, params, files):
        qid = str(params.get("callback_query_id") or "")
        state = self._callbacks.get(qid)
        if state is None:
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        state["answered"] = True
        return True

    def api_sendChatAction(self, params, files):
        if params.get("chat_id") is None:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        return True

    @staticmethod
    def _commands_key(params) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def api_setMyCommands(self, params, files):
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        for c in commands:
            cmd = str(c.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", cmd):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(params)] = commands
        return True

    def api_getMyCommands(self, params, files):
        return self._commands.get(self._commands_key(params), [])

    def api_deleteMyCommands(self, params, files):
        self._commands.pop(self._commands_key(params), None)
        return True

    def api_getFile(self, params, files):
        entry = self._files.get(str(params.get("file_id")))
        if entry is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path, data, info = entry
        return {
            "file_id": info["file_id"],
            "file_unique_id": info["file_unique_id"],
            "file_size": len(data),
            "file_path": path,
        }

    def api_close(self, params, files):
        return True

    def api_logOut(self, params, files):
        return True


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _validate_keyboard(markup: dict) -> None:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list):
        raise _ApiError(400, "Bad Request: can't parse inline keyboard button")
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise _ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _lane(update: dict) -> Any:
    for kind in _UPDATE_TYPES:
        obj = update.get(kind)
        if isinstance(obj, dict):
            if "chat" in obj:
                return obj["chat"].get("id")
            if "message" in obj and isinstance(obj["message"], dict):
                return obj["message"].get("chat", {}).get("id")
            if "from" in obj:
                return ("user", obj["from"].get("id"))
    return ("update", update.get("update_id"))


_METHODS: dict[str, Callable] = {
    name[4:].lower(): fn for name, fn in vars(FakeBotApi).items() if name.startswith("api_")
}
