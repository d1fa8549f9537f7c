"""A small typed client for the WhatsApp Cloud API (Graph API) over one shared httpx client.

    async with WhatsAppClient(api_url, phone_number_id, access_token) as wa:
        result = await wa.send("6281234567890", reply)            # Sender protocol
        result = await wa.send(address, reply, template=template)  # outside the 24-hour window

Every send returns a `SendResult` (never raises for API or network errors); `classify_error`
maps Graph error codes to what the caller should do:

| status         | when                                                                      |
|----------------|---------------------------------------------------------------------------|
| RETRY          | HTTP 429 / 5xx / network error / timeout; codes 1, 2, 4, 80007 (app or    |
|                | account request limits), 130429 (throughput), 131056 (pair rate limit),   |
|                | 131000 (something went wrong), 131016 / 133004 (service unavailable),     |
|                | 131057 (account maintenance), 131048 (spam rate limit: much later) and    |
|                | 131049 (Meta holds back marketing messages to this person "to maintain    |
|                | healthy ecosystem engagement": it is per person and temporary, so it is   |
|                | retried 12 hours later, not treated as unreachable)                       |
| NEEDS_TEMPLATE | 131047: more than 24 hours since the person last wrote                    |
| UNREACHABLE    | 131026: not on WhatsApp, blocked the business, or cannot receive it       |
| FAILED         | everything else, e.g. 100 / 131008 / 131009 (bad request), 131051         |
|                | (unsupported type), 131050 (person stopped marketing messages: this       |
|                | message only), 132xxx (template problems), 190 / HTTP 401 (access token   |
|                | invalid or expired), 10 / 200 (permission), 131031 (account locked)       |

`retry_after` is the server's Retry-After header when present, else a base delay per code,
doubled for each earlier attempt (`attempt`), capped. Logs carry the error code and Meta's
short title, never a phone number (digit runs are masked) or the token.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bot import metrics
from bot.channels.base import SendResult, SendStatus, Template
from bot.channels.whatsapp_render import (
    DEFAULT_LIST_BUTTON,
    render,
    render_document,
    render_image,
    render_template,
)
from conversations.types import Reply

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"

# code -> base delay in seconds before trying again
RETRY_CODES: dict[int, float] = {
    1: 5.0,  # API unknown (transient)
    2: 30.0,  # API service temporarily unavailable
    4: 60.0,  # application request limit reached
    80007: 60.0,  # WhatsApp Business Account rate limit
    130429: 2.0,  # Cloud API throughput reached
    131056: 6.0,  # (business, consumer) pair rate limit: wait before writing this person again
    131000: 5.0,  # something went wrong
    131016: 30.0,  # service unavailable
    133004: 30.0,  # server temporarily unavailable
    131057: 300.0,  # business account in maintenance mode
    131048: 3600.0,  # spam rate limit (quality): much later
    131049: 12 * 3600.0,  # per-user marketing limit ("healthy ecosystem engagement")
}
NEEDS_TEMPLATE_CODES = frozenset({131047})
UNREACHABLE_CODES = frozenset({131026})
AUTH_CODES = frozenset({190})
DEFAULT_RETRY = 5.0  # 5xx / network
MAX_RETRY = 3600.0  # cap for the doubling (codes whose base is larger keep their base)

_DIGITS = re.compile(r"\+?\d[\d\s-]{6,}\d")


def scrub(text: str, limit: int = 200) -> str:
    """`text` without anything that looks like a phone number, shortened for logs."""
    return _DIGITS.sub("<number>", text)[:limit]


def retry_delay(base: float, attempt: int = 0) -> float:
    """`base` doubled for each earlier attempt, at most `max(base, MAX_RETRY)`."""
    return min(base * (2 ** max(0, min(attempt, 20))), max(base, MAX_RETRY))


def _retry_after_header(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 7 * 24 * 3600 else None


def classify_error(
    http_status: int | None,
    code: int | None,
    *,
    retry_after: str | None = None,
    attempt: int = 0,
) -> tuple[SendStatus, float | None]:
    """What to do about a failed send: the status and, for RETRY, the delay in seconds.

    Works for synchronous API errors (HTTP status + `error.code`) and for asynchronous ones
    (a `failed` status webhook: `classify_error(None, status.error_code)`)."""
    if code in NEEDS_TEMPLATE_CODES:
        return SendStatus.NEEDS_TEMPLATE, None
    if code in UNREACHABLE_CODES:
        return SendStatus.UNREACHABLE, None
    if code in RETRY_CODES:
        base = RETRY_CODES[code]
    elif http_status is not None and (http_status == 429 or http_status >= 500):
        base = DEFAULT_RETRY  # throttled or a server error, whatever the code
    else:
        return SendStatus.FAILED, None
    header = _retry_after_header(retry_after)
    return SendStatus.RETRY, header if header is not None else retry_delay(base, attempt)


class WhatsAppError(Exception):
    """Raised by the calls that return data rather than a SendResult (`upload_media`)."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(f"{result.status.value}: {result.error_code} {result.error}")
        self.result = result


@dataclass(frozen=True, slots=True)
class _GraphError:
    code: int | None
    message: str


def _graph_error(response: httpx.Response) -> _GraphError:
    try:
        data = response.json()
    except ValueError:
        return _GraphError(None, f"HTTP {response.status_code}")
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return _GraphError(None, f"HTTP {response.status_code}")
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    text = message or f"HTTP {response.status_code}"
    if isinstance(details, str) and details and details not in text:
        text = f"{text}: {details}"
    return _GraphError(code, scrub(text))


class WhatsAppClient:
    """Sends messages through `{api_url}/{phone_number_id}/messages` with the bearer token.

    Implements `bot.channels.base.Sender` (`channel = "whatsapp"`, `send`)."""

    channel = CHANNEL

    def __init__(
        self,
        api_url: str,
        phone_number_id: str,
        access_token: str,
        *,
        timeout: float = 15.0,
        list_button: str = DEFAULT_LIST_BUTTON,
        max_connections: int = 64,
    ) -> None:
        if not phone_number_id or not access_token:
            raise ValueError("WhatsApp needs a phone number id and an access token")
        self.api_url = api_url.rstrip("/")
        self.phone_number_id = phone_number_id
        self.list_button = list_button
        self.last_send_at: float | None = None  # for /healthz
        self.last_send_error: str | None = None
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> WhatsAppClient:
        """From `bot.settings.Settings` (WHATSAPP_API_URL, _PHONE_NUMBER_ID, _ACCESS_TOKEN)."""
        return cls(
            settings.whatsapp_api_url,
            settings.whatsapp_phone_number_id or "",
            settings.token("whatsapp_access_token") or "",
            **kwargs,
        )

    async def __aenter__(self) -> WhatsAppClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def messages_path(self) -> str:
        return f"/{self.phone_number_id}/messages"

    # --- sending -----------------------------------------------------------------------------

    async def send_payload(self, payload: dict[str, Any], *, attempt: int = 0) -> SendResult:
        """POST one message body; the classified result (never raises for API/network errors).
        Every attempt is counted and timed in bot/metrics.py (replies and outbox alike)."""
        started = time.perf_counter()
        result = await self._post_payload(payload, attempt)
        metrics.send_attempt(
            CHANNEL, time.perf_counter() - started, result.status.value, result.error_code
        )
        if result.status == SendStatus.SENT:
            self.last_send_at = time.time()
        else:
            self.last_send_error = f"{result.error_code} at {time.strftime('%Y-%m-%dT%H:%M:%S')}"
        return result

    async def _post_payload(self, payload: dict[str, Any], attempt: int) -> SendResult:
        kind = payload.get("type", "?")
        try:
            response = await self._http.post(self.messages_path, json=payload)
        except httpx.TimeoutException as exc:
            return self._transport_failure("timeout", exc, kind, attempt)
        except httpx.HTTPError as exc:
            return self._transport_failure("network", exc, kind, attempt)
        if response.status_code == 200:
            wamid = _message_id(response)
            if wamid:
                return SendResult(SendStatus.SENT, external_id=wamid)
            log.warning("whatsapp %s send: 200 without a message id", kind)
            return SendResult(SendStatus.FAILED, error_code="no_id", error="no message id")
        return self._api_failure(response, kind, attempt)

    async def send(
        self,
        address: str,
        reply: Reply,
        *,
        template: Template | None = None,
        attempt: int = 0,
        list_button: str | None = None,
        callback_data: str | None = None,
        skip_parts: int = 0,
    ) -> SendResult:
        """Show `reply` to `address`, or send `template` instead when given (outside the
        24-hour window the caller passes the template; `reply` is then not sent).
        `list_button` labels an interactive list's button in the person's language (default:
        the client's `list_button`). `callback_data` goes into every message as
        `biz_opaque_callback_data`, which Meta echoes in its status webhooks.

        A reply may need several messages (long text, text before buttons): they are sent in
        order and the first failure is returned, with `parts_sent` the number delivered before
        it; a retry passes that (summed over the attempts) as `skip_parts`, so the parts
        already delivered are not sent twice. On success the result carries the id of the
        last message."""
        skip = 0
        if template is not None:
            payloads = [render_template(address, template, callback_data=callback_data)]
        else:
            payloads = render(
                address,
                reply,
                list_button=list_button or self.list_button,
                callback_data=callback_data,
            )
            skip = min(max(skip_parts, 0), len(payloads))
            if skip and skip == len(payloads):  # every part was delivered before
                return SendResult(SendStatus.SENT)
            payloads = payloads[skip:]
        if not payloads:
            return SendResult(SendStatus.FAILED, error_code="empty", error="nothing to send")
        result = SendResult(SendStatus.FAILED, error_code="empty", error="nothing to send")
        for index, payload in enumerate(payloads):
            result = await self.send_payload(payload, attempt=attempt)
            if result.status is not SendStatus.SENT:
                if index or skip:
                    part, parts = skip + index + 1, skip + len(payloads)
                    result.error = f"part {part}/{parts}: {result.error}"
                result.parts_sent = index
                return result
        result.parts_sent = len(payloads)
        return result

    async def send_text(self, to: str, text: str) -> SendResult:
        return await self.send(to, Reply(text))

    async def send_template(self, to: str, template: Template) -> SendResult:
        return await self.send_payload(render_template(to, template))

    async def send_document(
        self, to: str, media_id: str, filename: str, caption: str | None = None
    ) -> SendResult:
        return await self.send_payload(render_document(to, media_id, filename, caption))

    async def send_image(self, to: str, media_id: str, caption: str | None = None) -> SendResult:
        return await self.send_payload(render_image(to, media_id, caption))

    async def mark_read(self, wamid: str) -> SendResult:
        """Mark an inbound message as read (blue ticks)."""
        payload = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        try:
            response = await self._http.post(self.messages_path, json=payload)
        except httpx.HTTPError as exc:
            return self._transport_failure("network", exc, "read", 0)
        if response.status_code == 200:
            return SendResult(SendStatus.SENT, external_id=wamid)
        return self._api_failure(response, "read", 0)

    async def upload_media(self, data: bytes, mime: str, filename: str) -> str:
        """Upload a file (an export, a chart) and return its media id; raises WhatsAppError."""
        try:
            response = await self._http.post(
                f"/{self.phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": mime},
                files={"file": (filename, data, mime)},
            )
        except httpx.TimeoutException as exc:
            raise WhatsAppError(self._transport_failure("timeout", exc, "media", 0)) from exc
        except httpx.HTTPError as exc:
            raise WhatsAppError(self._transport_failure("network", exc, "media", 0)) from exc
        if response.status_code == 200:
            try:
                media_id = response.json().get("id")
            except (ValueError, AttributeError):
                media_id = None
            if isinstance(media_id, str) and media_id:
                return media_id
            raise WhatsAppError(SendResult(SendStatus.FAILED, error_code="no_id", error="no id"))
        raise WhatsAppError(self._api_failure(response, "media", 0))

    # --- health ------------------------------------------------------------------------------

    async def check(self) -> dict[str, Any]:
        """For /healthz: does the Graph API accept the token for this phone number? One GET of
        the phone number (its quality rating comes along: RED means Meta may limit sending)."""
        try:
            response = await self._http.get(
                f"/{self.phone_number_id}", params={"fields": "id,quality_rating"}
            )
        except httpx.HTTPError as exc:
            return {"ok": False, "error": f"Graph API not reachable: {type(exc).__name__}"}
        if response.status_code == 200:
            data = response.json() if response.content else {}
            rating = data.get("quality_rating") if isinstance(data, dict) else None
            return {"ok": True, **({"quality_rating": rating} if rating else {})}
        error = _graph_error(response)
        if error.code in AUTH_CODES or response.status_code == 401:
            return {"ok": False, "error": "the Graph API rejects WHATSAPP_ACCESS_TOKEN"}
        return {
            "ok": False,
            "error": f"Graph API error {error.code or response.status_code}: {error.message}"[:200],
        }

    # --- failures ------------------------------------------------------------------------------

    def _transport_failure(self, what: str, exc: Exception, kind: Any, attempt: int) -> SendResult:
        delay = retry_delay(DEFAULT_RETRY, attempt)
        name = type(exc).__name__
        log.warning("whatsapp %s send: %s (%s), retry in %.0fs", kind, what, name, delay)
        return SendResult(SendStatus.RETRY, retry_after=delay, error_code=what, error=name)

    def _api_failure(self, response: httpx.Response, kind: Any, attempt: int) -> SendResult:
        error = _graph_error(response)
        status, delay = classify_error(
            response.status_code,
            error.code,
            retry_after=response.headers.get("retry-after"),
            attempt=attempt,
        )
        message = error.message
        if error.code in AUTH_CODES or response.status_code == 401:
            message = (
                f"access token invalid or expired: renew WHATSAPP_ACCESS_TOKEN ({error.message})"
            )[:200]
        code = str(error.code) if error.code is not None else f"http_{response.status_code}"
        level = logging.ERROR if status is SendStatus.FAILED else logging.WARNING
        log.log(
            level,
            "whatsapp %s send failed: code=%s http=%s -> %s%s: %s",
            kind,
            code,
            response.status_code,
            status.value,
            f" (retry in {delay:.0f}s)" if delay is not None else "",
            message,
        )
        return SendResult(status, retry_after=delay, error_code=code, error=message)


def _message_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    messages = data.get("messages") if isinstance(data, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        return wamid if isinstance(wamid, str) and wamid else None
    return None


__all__ = [
    "CHANNEL",
    "WhatsAppClient",
    "WhatsAppError",
    "classify_error",
    "retry_delay",
    "scrub",
]
