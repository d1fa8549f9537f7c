"""A fake WhatsApp Cloud API (Graph API) server on 127.0.0.1.

Point the bot's `WHATSAPP_API_URL` at `api.url` (or `api.versioned_url`, "…/v23.0"); it serves
`POST [/vNN.N]/{phone_number_id}/messages` and `POST [/vNN.N]/{phone_number_id}/media`.

Public API
----------
`FakeGraphApi(access_token="TEST-ACCESS-TOKEN", *, phone_number_id=None, enforce_24h=False,
              messages_per_second=None, pair_messages=None, pair_window=6.0, clock=time.time,
              api_version="v23.0")`
  lifecycle: `.start() -> self`, `.stop()`, `with`/`async with`; `.url`, `.versioned_url`,
             `.access_token`, `.phone_number_id` (None = accept any id in the path).
  endpoints:
    POST /{id}/messages: `Authorization: Bearer <token>` (or ?access_token=) else 401 code 190.
      Validates like Meta (HTTP 400, code 100, details in error_data.details): messaging_product
      "whatsapp", `to`; text.body 1..4096; interactive button: body.text 1..1024, 1-3 reply
      buttons, titles 1..20 and unique, ids 1..256 and unique; interactive list: body.text
      1..4096, action.button 1..20, 1-10 sections, 1..10 rows in all, row title 1..24,
      description <= 72, row ids unique; header text <= 60, footer <= 60; template: name and
      language.code (and, if any were registered, a known template with the right number of
      body parameters and quick-reply payloads only for buttons it has: 132001 / 132000);
      image/audio/video/document/sticker: id or link;
      reaction: message_id. Success: {"messaging_product":"whatsapp","contacts":[{"input":to,
      "wa_id":digits}],"messages":[{"id":"wamid.…"}]} (templates add "message_status":
      "accepted"). Mark-as-read ({"status":"read","message_id":…}) -> {"success": true}.
    POST /{id}/media (multipart: file, type, messaging_product) -> {"id": "<media id>"}.
    GET /{media_id} -> {"url", "mime_type", "sha256", "file_size", "id", "messaging_product"};
    GET /{phone_number_id} -> {"id", "quality_rating"} (`.quality_rating`, default "GREEN");
    GET /media-download/{media_id} -> the bytes.
    Errors have Meta's shape: {"error": {"message": "(#CODE) title", "type": "OAuthException",
      "code": CODE, "error_data": {"messaging_product": "whatsapp", "details": …},
      "fbtrace_id": …}}.
  24-hour rule (when `enforce_24h`): `note_inbound(wa_id, when=None)` (when: aware datetime or
    epoch seconds; default clock()); any non-template message to a wa_id without an inbound in
    the last 24 h fails with 131047 "Re-engagement message".
  faults and limits:
    fail_next(n=1, code=None, *, status=None, to=None, details=None, retry_after=None,
              after=0)  # next n sends (to `to` if given) fail with `code` (130429 -> HTTP
        429, 131056, 131047, 131026, 131049, 131048, 131000, 1 -> 500, 2 -> 503, 190 -> 401,
        100 -> 400) or with `status` alone; `retry_after` (seconds) adds a Retry-After
        header; `after` lets that many matching sends through first (fail a later part)
    fail_recipient(wa_id, code=131026)   # every send to wa_id fails until clear_faults()
    clear_faults()
    set_limits(messages_per_second=None, pair_messages=None, pair_window=6.0)
        # sliding 1-s window overall -> 130429 (HTTP 429); more than pair_messages to one
        # recipient within pair_window seconds -> 131056 (HTTP 400)
    register_template(name, language, body_params=0, quick_replies=0)
        # an approved template: its number of body variables and of quick-reply buttons
  observing:
    calls(kind=None) -> list[GraphCall]   kind: "message" | "read" | "media" | "media_get" |
                                          "phone_get"
    sent(to=None) -> list[GraphCall]      successful messages (not read receipts)
    errors(code=None) -> list[GraphCall]  failed calls
    texts(to=None) -> list[str]
    stats() -> {"sends": n, "130429": n, "131047": n, "401": n, "400": n, …}  (per error code)
    clear()
  waiting (async never blocks the caller's loop; WaitTimeout is an AssertionError):
    await await_messages(to=None, n=1, timeout=5.0) / wait_messages(...)      >= n in total
    await await_new_messages(to, n=1, timeout=5.0) / wait_new_messages(...)   next n unseen
    await await_for(cond, timeout=5.0) / wait_for(cond, timeout=5.0)   cond: callable or int
  `GraphCall`: seq, kind, phone_number_id, payload, files, time (monotonic), status, ok,
    response, to (wa_id), message_id (wamid); properties type, text, button_titles,
    button_ids, list_rows, row_ids, template_name, template_language, error_code.
  inbound webhooks (for the bot's endpoint):
    sign(body: bytes, app_secret) -> "sha256=<hex>"
    webhook_envelope(messages=(), statuses=(), contacts=(), phone_number_id=…, display=…) -> dict
    inbound_text(wa_id, text, name="Budi", wamid=None, timestamp=None) -> message dict
    inbound_button_reply(wa_id, reply_id, title, context_id=None) -> message dict
    inbound_list_reply(wa_id, row_id, title, description=None, context_id=None) -> message dict
    inbound_template_button(wa_id, payload, text, context_id=None) -> message dict
    status_event(wamid, wa_id, status="delivered", error_code=None,
                 biz_opaque_callback_data=None) -> status dict
    status_for(call, status="delivered", error_code=None) -> the status dict Meta sends for a
        message the bot sent (a GraphCall): its wamid, recipient, and the
        biz_opaque_callback_data it carried
    contact(wa_id, name="Budi") -> contact dict
    text_payload(wa_id, text, name="Budi", phone_number_id="…") -> a whole webhook body
    api.post_webhook(url, payload, app_secret, signature=<auto>) -> httpx.Response (sync) and
    await api.apost_webhook(...) : posts the raw JSON with X-Hub-Signature-256 and notes every
    inbound message's sender for the 24-hour rule.
"""

# ruff: noqa: ASYNC109  (the waiters take a timeout on purpose, like the sync ones)

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tests.fakes.httpserver import (
    HttpServer,
    LazyText,
    Recorder,
    Request,
    Response,
    UploadedFile,
)

DAY = 24 * 3600
DEFAULT_PHONE_NUMBER_ID = "106540352242922"

# code -> (HTTP status, title, details)
ERRORS: dict[int, tuple[int, str, str]] = {
    1: (500, "An unknown error has occurred.", "An unknown error occurred."),
    2: (503, "Service temporarily unavailable", "Temporary due to downtime or overload."),
    100: (400, "Invalid parameter", "Invalid parameter"),
    190: (401, "Invalid OAuth access token - Cannot parse access token", "Invalid access token"),
    130429: (
        429,
        "Rate limit hit",
        "Cloud API message throughput has been reached.",
    ),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error."),
    131026: (
        400,
        "Message Undeliverable",
        "Message failed to send because the recipient is not on WhatsApp or cannot receive it.",
    ),
    131047: (
        400,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131048: (
        400,
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be "
        "sent from this phone number.",
    ),
    131049: (
        400,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131056: (
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    132000: (
        400,
        "Number of parameters does not match the expected number of params",
        "The number of variable parameter values does not match the template.",
    ),
    132001: (
        404,
        "Template name does not exist in the translation",
        "The template does not exist in the given language.",
    ),
}
_STATUS_CODE = {500: 1, 503: 2, 429: 130429, 401: 190, 400: 100}
_MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
_VERSION_RE = re.compile(r"^v\d+(\.\d+)?$")


class _Invalid(Exception):
    def __init__(self, details: str, code: int = 100) -> None:
        super().__init__(details)
        self.details = details
        self.code = code


@dataclass(slots=True)
class GraphCall:
    seq: int
    kind: str
    phone_number_id: str | None
    payload: dict
    files: dict[str, UploadedFile]
    time: float
    status: int = 200
    ok: bool = True
    response: Any = None
    to: str | None = None
    message_id: str | None = None

    @property
    def type(self) -> str | None:
        return self.payload.get("type", "text") if self.kind == "message" else None

    @property
    def interactive(self) -> dict:
        value = self.payload.get("interactive")
        return value if isinstance(value, dict) else {}

    @property
    def text(self) -> str | None:
        if self.type == "text":
            return (self.payload.get("text") or {}).get("body")
        if self.type == "interactive":
            return (self.interactive.get("body") or {}).get("text")
        if self.type in _MEDIA_TYPES:
            return (self.payload.get(self.type) or {}).get("caption")
        return None

    @property
    def button_titles(self) -> list[str]:
        buttons = (self.interactive.get("action") or {}).get("buttons") or []
        return [(b.get("reply") or {}).get("title", "") for b in buttons]

    @property
    def button_ids(self) -> list[str]:
        buttons = (self.interactive.get("action") or {}).get("buttons") or []
        return [(b.get("reply") or {}).get("id", "") for b in buttons]

    @property
    def list_rows(self) -> list[dict]:
        sections = (self.interactive.get("action") or {}).get("sections") or []
        return [row for s in sections for row in (s.get("rows") or [])]

    @property
    def row_ids(self) -> list[str]:
        return [row.get("id", "") for row in self.list_rows]

    @property
    def template_name(self) -> str | None:
        return (self.payload.get("template") or {}).get("name")

    @property
    def template_language(self) -> str | None:
        return ((self.payload.get("template") or {}).get("language") or {}).get("code")

    @property
    def error_code(self) -> int | None:
        if self.ok or not isinstance(self.response, dict):
            return None
        return (self.response.get("error") or {}).get("code")


@dataclass
class _Fault:
    remaining: int | None  # None = persistent
    code: int
    status: int
    to: str | None
    details: str | None
    retry_after: float | None = None
    after: int = 0  # matching sends let through before the fault applies


def wa_digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value))


def _error_body(
    code: int,
    status: int | None = None,
    details: str | None = None,
    retry_after: float | None = None,
) -> Response:
    http, title, default_details = ERRORS.get(code, (status or 400, "Error", "Error"))
    body: dict[str, Any] = {
        "message": f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or default_details},
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if (status or http) >= 500:
        body["is_transient"] = True
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return Response.json({"error": body}, status or http, headers)


def _need_str(value: Any, where: str, lo: int, hi: int) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"Param {where} is required and must be a string")
    if not lo <= len(value) <= hi:
        raise _Invalid(f"Param {where} must be between {lo} and {hi} characters long")
    return value


def validate_message(
    payload: dict, templates: dict[tuple[str, str], tuple[int, int]] | None = None
) -> None:
    """Raise `_Invalid` when Meta would refuse `payload`."""
    if payload.get("messaging_product") != "whatsapp":
        raise _Invalid("The parameter messaging_product is required.")
    if not wa_digits(payload.get("to", "")):
        raise _Invalid("The parameter to is required.")
    mtype = payload.get("type", "text")
    if mtype == "text":
        text = payload.get("text")
        if not isinstance(text, dict):
            raise _Invalid("Param text must be an object")
        _need_str(text.get("body"), "text['body']", 1, 4096)
    elif mtype == "interactive":
        _validate_interactive(payload.get("interactive"))
    elif mtype == "template":
        tpl = payload.get("template")
        if not isinstance(tpl, dict) or not tpl.get("name"):
            raise _Invalid("Param template['name'] is required")
        lang = tpl.get("language")
        if not isinstance(lang, dict) or not lang.get("code"):
            raise _Invalid("Param template['language']['code'] is required")
        if templates:
            key = (tpl["name"], lang["code"])
            if key not in templates:
                raise _Invalid(
                    f"template name ({tpl['name']}) does not exist in {lang['code']}", 132001
                )
            body_params, quick_replies = templates[key]
            components = tpl.get("components") or []
            given = sum(
                len(c.get("parameters") or [])
                for c in components
                if str(c.get("type", "")).lower() == "body"
            )
            if given != body_params:
                raise _Invalid(
                    f"body: number of localizable_params ({given}) does not match the expected "
                    f"number of params ({body_params})",
                    132000,
                )
            for c in components:
                if str(c.get("type", "")).lower() != "button":
                    continue
                index = str(c.get("index", ""))
                if (
                    c.get("sub_type") != "quick_reply"
                    or not index.isdigit()
                    or int(index) >= quick_replies
                ):
                    raise _Invalid(
                        f"buttons: button at index {index} of type {c.get('sub_type')} does "
                        f"not exist (the template has {quick_replies} quick-reply button(s))",
                        132000,
                    )
    elif mtype in _MEDIA_TYPES:
        media = payload.get(mtype)
        if not isinstance(media, dict) or not (media.get("id") or media.get("link")):
            raise _Invalid(f"Param {mtype} must contain an id or a link")
    elif mtype == "reaction":
        reaction = payload.get("reaction")
        if not isinstance(reaction, dict) or not reaction.get("message_id"):
            raise _Invalid("Param reaction['message_id'] is required")
    elif mtype not in ("location", "contacts"):
        raise _Invalid(f"Param type must be one of the supported message types, got {mtype!r}")


def _validate_interactive(inter: Any) -> None:
    if not isinstance(inter, dict):
        raise _Invalid("Param interactive must be an object")
    itype = inter.get("type")
    action = inter.get("action")
    if not isinstance(action, dict):
        raise _Invalid("Param interactive['action'] is required")
    header = inter.get("header")
    if isinstance(header, dict) and header.get("type") == "text":
        _need_str(header.get("text"), "interactive['header']['text']", 1, 60)
    footer = inter.get("footer")
    if footer is not None:
        _need_str((footer or {}).get("text"), "interactive['footer']['text']", 1, 60)
    body = inter.get("body")
    body_text = body.get("text") if isinstance(body, dict) else None
    if itype == "button":
        _need_str(body_text, "interactive['body']['text']", 1, 1024)
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise _Invalid("Param interactive['action']['buttons'] must have 1 to 3 buttons")
        titles, ids = [], []
        for i, b in enumerate(buttons):
            reply = b.get("reply") if isinstance(b, dict) else None
            if b.get("type") != "reply" or not isinstance(reply, dict):
                raise _Invalid(f"Param interactive['action']['buttons'][{i}] must be a reply")
            titles.append(
                _need_str(
                    reply.get("title"),
                    f"interactive['action']['buttons'][{i}]['reply']['title']",
                    1,
                    20,
                )
            )
            ids.append(
                _need_str(
                    reply.get("id"), f"interactive['action']['buttons'][{i}]['reply']['id']", 1, 256
                )
            )
        if len(set(titles)) != len(titles):
            raise _Invalid("Button titles must be unique")
        if len(set(ids)) != len(ids):
            raise _Invalid("Button ids must be unique")
    elif itype == "list":
        _need_str(body_text, "interactive['body']['text']", 1, 4096)
        _need_str(action.get("button"), "interactive['action']['button']", 1, 20)
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            raise _Invalid("Param interactive['action']['sections'] must have 1 to 10 sections")
        ids = []
        for si, s in enumerate(sections):
            if len(sections) > 1 or s.get("title") is not None:
                _need_str(
                    s.get("title"), f"interactive['action']['sections'][{si}]['title']", 1, 24
                )
            rows = s.get("rows")
            if not isinstance(rows, list) or not rows:
                raise _Invalid(f"Param interactive['action']['sections'][{si}]['rows'] is empty")
            for ri, row in enumerate(rows):
                where = f"interactive['action']['sections'][{si}]['rows'][{ri}]"
                ids.append(_need_str(row.get("id"), f"{where}['id']", 1, 200))
                _need_str(row.get("title"), f"{where}['title']", 1, 24)
                if row.get("description") is not None:
                    _need_str(row.get("description"), f"{where}['description']", 0, 72)
        if len(ids) > 10:
            raise _Invalid("Total row count exceed max allowed count: 10")
        if len(set(ids)) != len(ids):
            raise _Invalid("Row ids must be unique")
    elif itype in ("cta_url", "flow", "location_request_message", "product", "product_list"):
        _need_str(body_text, "interactive['body']['text']", 1, 1024)
    else:
        raise _Invalid(f"Param interactive['type'] is invalid: {itype!r}")


class FakeGraphApi(Recorder):
    def __init__(
        self,
        access_token: str = "TEST-ACCESS-TOKEN",
        *,
        phone_number_id: str | None = None,
        enforce_24h: bool = False,
        messages_per_second: float | None = None,
        pair_messages: int | None = None,
        pair_window: float = 6.0,
        clock: Callable[[], float] = time.time,
        api_version: str = "v23.0",
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.quality_rating = "GREEN"
        self.enforce_24h = enforce_24h
        self.clock = clock
        self.api_version = api_version
        self.messages_per_second = messages_per_second
        self.pair_messages = pair_messages
        self.pair_window = pair_window
        self._server = HttpServer(self._handle)
        self._calls: list[GraphCall] = []
        self._sent: list[GraphCall] = []  # successful messages
        self._sent_by_to: dict[str, list[GraphCall]] = defaultdict(list)
        self._seq = itertools.count(1)
        self._faults: list[_Fault] = []
        self._inbound: dict[str, float] = {}
        self._templates: dict[tuple[str, str], tuple[int, int]] = {}
        self._media: dict[str, UploadedFile] = {}
        self._cursors: dict[Any, int] = defaultdict(int)
        self._stats: dict[str, int] = defaultdict(int)
        self._window: deque[float] = deque()
        self._pair: dict[str, deque[float]] = defaultdict(deque)

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeGraphApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeGraphApi:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def versioned_url(self) -> str:
        return f"{self.url}/{self.api_version}"

    # configuration -----------------------------------------------------------------------
    def note_inbound(self, wa_id: str, when: datetime | float | None = None) -> None:
        if when is None:
            ts = self.clock()
        elif isinstance(when, datetime):
            ts = when.timestamp()
        else:
            ts = float(when)
        with self._lock:
            key = wa_digits(wa_id)
            self._inbound[key] = max(ts, self._inbound.get(key, ts))

    def register_template(
        self, name: str, language: str, body_params: int = 0, quick_replies: int = 0
    ) -> None:
        """An approved template: sends to it need exactly `body_params` body parameters, and
        may give a payload for each of its `quick_replies` quick-reply buttons (no others)."""
        with self._lock:
            self._templates[(name, language)] = (body_params, quick_replies)

    def fail_next(
        self,
        n: int = 1,
        code: int | None = None,
        *,
        status: int | None = None,
        to: str | None = None,
        details: str | None = None,
        retry_after: float | None = None,
        after: int = 0,
    ) -> None:
        code, status = self._code_status(code, status)
        to = wa_digits(to) if to else None
        with self._lock:
            self._faults.append(_Fault(n, code, status, to, details, retry_after, after))

    def fail_recipient(self, wa_id: str, code: int = 131026, *, status: int | None = None) -> None:
        code, status = self._code_status(code, status)
        with self._lock:
            self._faults.append(_Fault(None, code, status, wa_digits(wa_id), None))

    @staticmethod
    def _code_status(code: int | None, status: int | None) -> tuple[int, int]:
        if code is None:
            if status is None:
                raise ValueError("give an error code or an HTTP status")
            code = _STATUS_CODE.get(status, 131000)
        if status is None:
            status = ERRORS.get(code, (400,))[0]
        return code, status

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_limits(
        self,
        messages_per_second: float | None = None,
        pair_messages: int | None = None,
        pair_window: float = 6.0,
    ) -> None:
        with self._lock:
            self.messages_per_second = messages_per_second
            self.pair_messages = pair_messages
            self.pair_window = pair_window
            self._window.clear()
            self._pair.clear()

    # observing ----------------------------------------------------------------------------
    def calls(self, kind: str | None = None) -> list[GraphCall]:
        with self._lock:
            return [c for c in self._calls if kind is None or c.kind == kind]

    def sent(self, to: str | None = None) -> list[GraphCall]:
        with self._lock:
            return list(self._sent if to is None else self._sent_by_to.get(wa_digits(to), ()))

    def errors(self, code: int | None = None) -> list[GraphCall]:
        with self._lock:
            return [c for c in self._calls if not c.ok and (code is None or c.error_code == code)]

    def texts(self, to: str | None = None) -> list[str]:
        return [c.text or "" for c in self.sent(to)]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._sent.clear()
            self._sent_by_to.clear()
            self._cursors.clear()
            self._stats.clear()
            self._faults.clear()
            self._window.clear()
            self._pair.clear()

    # waiting ----------------------------------------------------------------------------------
    def _count_cond(self, cond: Callable[[], Any] | int) -> Callable[[], Any]:
        if isinstance(cond, int):
            n = cond
            return lambda: len(self._sent) >= n
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

    def _all_cond(self, to: str | None, n: int) -> Callable[[], Any]:
        def cond() -> list[GraphCall] | None:
            msgs = self._sent if to is None else self._sent_by_to.get(wa_digits(to), ())
            return list(msgs) if len(msgs) >= n else None

        return cond

    def _new_cond(self, to: str | None, n: int) -> Callable[[], Any]:
        key = wa_digits(to) if to is not None else None

        def cond() -> list[GraphCall] | None:
            msgs = self._sent if key is None else self._sent_by_to.get(key, ())
            start = self._cursors[key]
            if len(msgs) - start >= n:
                self._cursors[key] = start + n
                return msgs[start : start + n]
            return None

        return cond

    def _what(self, to: str | None, n: int) -> str:
        seen = "; ".join(f"{c.to}: {c.type} {c.text!r}" for c in self.calls("message"))
        return f"{n} message(s) to {to}; calls so far: {seen[-2000:]}"

    async def await_messages(self, to: str | None = None, n: int = 1, timeout: float = 5.0):
        return await Recorder.await_for(
            self, self._all_cond(to, n), timeout, LazyText(self._what, to, n)
        )

    def wait_messages(self, to: str | None = None, n: int = 1, timeout: float = 5.0):
        return Recorder.wait_for(self, self._all_cond(to, n), timeout, LazyText(self._what, to, n))

    async def await_new_messages(self, to: str | None, n: int = 1, timeout: float = 5.0):
        return await Recorder.await_for(
            self, self._new_cond(to, n), timeout, LazyText(self._what, to, n)
        )

    def wait_new_messages(self, to: str | None, n: int = 1, timeout: float = 5.0):
        return Recorder.wait_for(self, self._new_cond(to, n), timeout, LazyText(self._what, to, n))

    # webhooks towards the bot -------------------------------------------------------------
    def _note_payload(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        for entry in payload.get("entry") or []:
            for change in entry.get("changes") or []:
                for msg in (change.get("value") or {}).get("messages") or []:
                    if msg.get("from"):
                        self.note_inbound(msg["from"])

    def _webhook_request(self, payload: Any, app_secret: str, signature: str | None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        sig = sign(body, app_secret) if signature is None else signature
        if sig:
            headers["X-Hub-Signature-256"] = sig
        if not isinstance(payload, bytes):
            self._note_payload(payload)
        return body, headers

    def post_webhook(
        self, url: str, payload: Any, app_secret: str, signature: str | None = None
    ) -> httpx.Response:
        """POST `payload` (dict, or raw bytes) signed with `app_secret`; `signature=""` omits
        the header, any other string replaces it."""
        body, headers = self._webhook_request(payload, app_secret, signature)
        return httpx.post(url, content=body, headers=headers, timeout=10)

    async def apost_webhook(
        self, url: str, payload: Any, app_secret: str, signature: str | None = None
    ) -> httpx.Response:
        body, headers = self._webhook_request(payload, app_secret, signature)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, content=body, headers=headers)

    # server side -------------------------------------------------------------------------------
    async def _handle(self, req: Request) -> Response:
        segments = [s for s in req.path.split("/") if s]
        if segments and _VERSION_RE.match(segments[0]):
            segments = segments[1:]
        if len(segments) == 2 and segments[0] == "media-download" and req.method == "GET":
            return self._download(req, segments[1])
        token = None
        auth = req.header("authorization") or ""
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        token = token or req.query.get("access_token")
        kind = "message"
        if len(segments) == 2 and segments[1] == "media" and req.method == "POST":
            kind = "media"
        elif len(segments) == 1 and req.method == "GET":
            kind = "media_get" if segments[0] in self._media else "phone_get"
        elif not (len(segments) == 2 and segments[1] == "messages" and req.method == "POST"):
            return _error_body(100, 400, f"Unknown path components: {req.path}")
        payload = req.json if isinstance(req.json, dict) else dict(req.form)
        if kind == "message" and payload.get("status") == "read":
            kind = "read"
        pnid = segments[0] if kind != "media_get" else None  # phone_get: checked as an id
        now = time.monotonic()
        with self._lock:
            call = GraphCall(next(self._seq), kind, pnid, payload, dict(req.files), now)
            self._calls.append(call)
            response = self._process(call, token, req)
            call.status = response.status
            call.ok = response.status == 200
            call.response = json.loads(response.body) if response.body else None
            if call.ok and kind == "message":
                self._stats["sends"] += 1
                self._sent.append(call)
                self._sent_by_to[call.to or ""].append(call)
            elif not call.ok:
                self._stats[str(call.error_code or response.status)] += 1
            self._changed()
        return response

    def _process(self, call: GraphCall, token: str | None, req: Request) -> Response:
        if token != self.access_token:
            return _error_body(190, 401)
        if self.phone_number_id is not None and call.phone_number_id not in (
            None,
            self.phone_number_id,
        ):
            return _error_body(
                100,
                400,
                f"Unsupported post request. Object with ID '{call.phone_number_id}' does not "
                "exist, cannot be loaded due to missing permissions, or does not support this "
                "operation.",
            )
        if call.kind == "media":
            return self._upload(req)
        if call.kind == "media_get":
            return self._media_info(req.path.rstrip("/").rsplit("/", 1)[-1])
        if call.kind == "phone_get":  # the business phone number (Jejak's /healthz check)
            return Response.json(
                {"id": call.phone_number_id, "quality_rating": self.quality_rating}
            )
        if call.kind == "read":
            if not call.payload.get("message_id"):
                return _error_body(100, 400, "Param message_id is required")
            return Response.json({"success": True})
        payload = call.payload
        try:
            validate_message(payload, self._templates)
        except _Invalid as exc:
            return _error_body(exc.code, None, exc.details)
        to_input = str(payload["to"])
        wa_id = wa_digits(to_input)
        call.to = wa_id
        fault = self._take_fault(wa_id)
        if fault is not None:
            return _error_body(fault.code, fault.status, fault.details, fault.retry_after)
        now = time.monotonic()
        if self.messages_per_second:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.messages_per_second:
                return _error_body(130429)
        if self.pair_messages:
            pair = self._pair[wa_id]
            while pair and pair[0] <= now - self.pair_window:
                pair.popleft()
            if len(pair) >= self.pair_messages:
                return _error_body(131056)
        if self.enforce_24h and payload.get("type", "text") != "template":
            last = self._inbound.get(wa_id)
            if last is None or self.clock() - last > DAY:
                return _error_body(131047)
        if self.messages_per_second:
            self._window.append(now)
        if self.pair_messages:
            self._pair[wa_id].append(now)
        wamid = "wamid.HBgL" + secrets.token_hex(12).upper() + f"{call.seq:06d}"
        call.message_id = wamid
        message: dict[str, Any] = {"id": wamid}
        if payload.get("type") == "template":
            message["message_status"] = "accepted"
        return Response.json(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to_input, "wa_id": wa_id}],
                "messages": [message],
            }
        )

    def _take_fault(self, wa_id: str) -> _Fault | None:
        for fault in self._faults:
            if fault.to is not None and fault.to != wa_id:
                continue
            if fault.after > 0:
                fault.after -= 1
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _upload(self, req: Request) -> Response:
        upload = req.files.get("file")
        if upload is None:
            return _error_body(100, 400, "Param file is required")
        if req.form.get("messaging_product") != "whatsapp":
            return _error_body(100, 400, "The parameter messaging_product is required.")
        media_id = str(10**15 + len(self._media) + 1)
        if req.form.get("type"):
            upload = UploadedFile(upload.name, upload.filename, req.form["type"], upload.data)
        self._media[media_id] = upload
        return Response.json({"id": media_id})

    def _media_info(self, media_id: str) -> Response:
        media = self._media.get(media_id)
        if media is None:
            return _error_body(100, 400, f"Object with ID '{media_id}' does not exist")
        return Response.json(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/media-download/{media_id}",
                "mime_type": media.content_type or "application/octet-stream",
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": len(media.data),
                "id": media_id,
            }
        )

    def _download(self, req: Request, media_id: str) -> Response:
        auth = req.header("authorization") or ""
        if auth != f"Bearer {self.access_token}":
            return _error_body(190, 401)
        with self._lock:
            media = self._media.get(media_id)
        if media is None:
            return Response.text("not found", 404)
        return Response(200, media.data, media.content_type or "application/octet-stream")


# inbound webhook payload builders ------------------------------------------------------------
_wamid_counter = itertools.count(1)


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _new_wamid() -> str:
    return f"wamid.HBgNINBOUND{next(_wamid_counter):08d}{secrets.token_hex(4).upper()}"


def _base_message(wa_id: str, mtype: str, wamid: str | None, timestamp: int | None) -> dict:
    return {
        "from": wa_digits(wa_id),
        "id": wamid or _new_wamid(),
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": mtype,
    }


def contact(wa_id: str, name: str = "Budi") -> dict:
    return {"profile": {"name": name}, "wa_id": wa_digits(wa_id)}


def inbound_text(
    wa_id: str, text: str, wamid: str | None = None, timestamp: int | None = None
) -> dict:
    msg = _base_message(wa_id, "text", wamid, timestamp)
    msg["text"] = {"body": text}
    return msg


def _context(msg: dict, context_id: str | None, business_number: str = "15550001234") -> dict:
    if context_id:
        msg["context"] = {"from": business_number, "id": context_id}
    return msg


def inbound_button_reply(
    wa_id: str, reply_id: str, title: str, context_id: str | None = None, **kw: Any
) -> dict:
    msg = _base_message(wa_id, "interactive", kw.get("wamid"), kw.get("timestamp"))
    msg["interactive"] = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return _context(msg, context_id)


def inbound_list_reply(
    wa_id: str,
    row_id: str,
    title: str,
    description: str | None = None,
    context_id: str | None = None,
    **kw: Any,
) -> dict:
    msg = _base_message(wa_id, "interactive", kw.get("wamid"), kw.get("timestamp"))
    reply = {"id": row_id, "title": title}
    if description:
        reply["description"] = description
    msg["interactive"] = {"type": "list_reply", "list_reply": reply}
    return _context(msg, context_id)


def inbound_template_button(
    wa_id: str, payload: str, text: str, context_id: str | None = None, **kw: Any
) -> dict:
    msg = _base_message(wa_id, "button", kw.get("wamid"), kw.get("timestamp"))
    msg["button"] = {"payload": payload, "text": text}
    return _context(msg, context_id)


def status_event(
    wamid: str,
    wa_id: str,
    status: str = "delivered",
    error_code: int | None = None,
    timestamp: int | None = None,
    biz_opaque_callback_data: str | None = None,
) -> dict:
    event: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "recipient_id": wa_digits(wa_id),
    }
    if biz_opaque_callback_data is not None:  # Meta echoes the sent message's value
        event["biz_opaque_callback_data"] = biz_opaque_callback_data
    if status != "failed":
        event["conversation"] = {
            "id": "CONVERSATION_ID",
            "origin": {"type": "service"},
        }
        event["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if error_code is not None:
        _, title, details = ERRORS.get(error_code, (400, "Error", "Error"))
        event["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
            }
        ]
    return event


def status_for(call: GraphCall, status: str = "delivered", error_code: int | None = None) -> dict:
    """The status webhook entry Meta sends for a message the bot sent (echoing the
    biz_opaque_callback_data that message carried, as Meta does)."""
    return status_event(
        call.message_id or "",
        call.to or "",
        status,
        error_code,
        biz_opaque_callback_data=call.payload.get("biz_opaque_callback_data"),
    )


def webhook_envelope(
    messages: Iterable[dict] = (),
    statuses: Iterable[dict] = (),
    contacts: Iterable[dict] = (),
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    display_phone_number: str = "15550001234",
    waba_id: str = "102290129340398",
) -> dict:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    messages, statuses, contacts = list(messages), list(statuses), list(contacts)
    if contacts:
        value["contacts"] = contacts
    if messages:
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }


def text_payload(
    wa_id: str, text: str, name: str = "Budi", phone_number_id: str = DEFAULT_PHONE_NUMBER_ID
) -> dict:
    return webhook_envelope(
        messages=[inbound_text(wa_id, text)],
        contacts=[contact(wa_id, name)],
        phone_number_id=phone_number_id,
    )
