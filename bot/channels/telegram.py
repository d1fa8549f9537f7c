"""The Telegram channel (python-telegram-bot 22): updates in, channel-neutral events to the shell,
replies out as messages with inline keyboards.

- Private chats only; group messages that address the bot get one polite line, the rest is ignored.
- Photos, stickers, voice notes, documents, ... become MEDIA (the engine answers politely).
- Edited messages and channel posts are ignored.
- Updates from different chats run concurrently (bounded); updates from one chat run strictly
  in order (`PerChatUpdateProcessor`); each update_id is processed at most once (see the shell).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageLimit
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, TypeHandler

from bot import metrics
from bot.channels.base import SendResult, SendStatus, Template, attachment_bytes
from bot.channels.ordering import KeyedSequencer
from bot.channels.probe import CachedProbe
from bot.channels.reply_ids import action_reply_id, choice_reply_id, decode_reply_id
from bot.channels.telegram_http import AiohttpRequest
from bot.conversation import ConversationService
from bot.errors import SettingError
from conversations.types import Inbound, InputKind, Outcome, Reply

log = logging.getLogger(__name__)
CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query", "edited_message", "my_chat_member"]
BOT_COMMANDS = {
    "id": [
        ("ubah", "Perbarui status Anda"),
        ("data", "Lihat data Anda"),
        ("hapus", "Hapus data Anda"),
        ("stop", "Berhenti menerima pesan"),
        ("bahasa", "Ganti bahasa / change language"),
        ("bantuan", "Bantuan"),
    ],
    "en": [
        ("ubah", "Update your status"),
        ("data", "See your data"),
        ("hapus", "Delete your data"),
        ("stop", "Stop receiving messages"),
        ("bahasa", "Switch language"),
        ("bantuan", "Help"),
    ],
}


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, strictly ordered within one chat.

    PTB starts `do_process_update` in arrival order (its semaphore is FIFO); each call chains
    itself behind the previous update of the same chat before running.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._sequencer = KeyedSequencer()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await self._sequencer.run(_chat_key(update), coroutine)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _chat_key(update: object) -> Any:
    if isinstance(update, Update):
        chat = update.effective_chat
        if chat is not None:
            return chat.id
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        return ("update", update.update_id)
    return ("object", id(update))


# ---- update -> inbound ----
def to_inbound(update: Update, bot_id: int | None = None) -> Inbound | None:
    """The channel-neutral event for a private-chat update, or None for anything ignored.

    Update ids are counted per bot, so the idempotency key is "<bot id>:<update id>": another
    bot on the same database (a new token, a second school) never collides with this one."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or chat.type != ChatType.PRIVATE:
        return None
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "address": str(chat.id),
        "external_id": f"{bot_id}:{update.update_id}" if bot_id else str(update.update_id),
        "language_hint": user.language_code if user else None,
        "display_name": user.first_name if user else None,
        "username": user.username if user else None,
    }
    if update.callback_query is not None:
        query = update.callback_query
        decoded = decode_reply_id(query.data)
        ref = str(query.message.message_id) if query.message else None
        if decoded is None:
            return Inbound(kind=InputKind.CHOICE, question="?", value="", message_ref=ref, **base)
        return Inbound(
            kind=decoded.kind,
            question=decoded.question,
            value=decoded.value,
            message_ref=ref,
            **base,
        )
    message = update.message
    if message is None:  # edited_message, channel_post, poll, ...
        return None
    if message.text is not None:
        text = message.text
        if text.startswith("/start"):
            parts = text.split(None, 1)
            if parts[0] == "/start" or parts[0].startswith("/start@"):
                code = parts[1].strip() if len(parts) > 1 else None
                return Inbound(kind=InputKind.START, text=text, value=code, **base)
        return Inbound(kind=InputKind.TEXT, text=text, **base)
    return Inbound(kind=InputKind.MEDIA, **base)


# ---- reply -> telegram ----
def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    if reply.options and reply.question:
        for number, option in enumerate(reply.options, start=1):
            numbered = reply.numbered and len(reply.options) > 3
            label = f"{number}. {option.label}" if numbered else option.label
            rows.append(
                [
                    InlineKeyboardButton(
                        label, callback_data=choice_reply_id(reply.question, option.code)
                    )
                ]
            )
    if reply.action:
        label = reply.options[0].label if reply.options else reply.action
        rows.append([InlineKeyboardButton(label, callback_data=action_reply_id(reply.action))])
    return InlineKeyboardMarkup(rows) if rows else None


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Split at line breaks into chunks within Telegram's message length."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


UnreachableCallback = Callable[[str, str, str], Awaitable[None]]
DEFAULT_API_URL = "https://api.telegram.org"
# start-up: while the Bot API cannot be reached, try again after 1, 2, 4, ... up to 60 seconds
START_RETRY_FIRST = 1.0
START_RETRY_MAX = 60.0


class TokenRejected(SettingError):
    """The Bot API refuses TELEGRAM_BOT_TOKEN (401, or 404 for a malformed token)."""

    def __init__(self, api_url: str) -> None:
        where = "" if api_url == DEFAULT_API_URL else f" at {api_url} (TELEGRAM_API_URL)"
        super().__init__(
            f"TELEGRAM_BOT_TOKEN was rejected by the Telegram Bot API{where}: copy the token "
            "again from @BotFather (/mybots, API Token) into TELEGRAM_BOT_TOKEN, or leave it "
            "empty to run without Telegram."
            + (" Is TELEGRAM_API_URL a Bot API server?" if where else "")
        )


class TelegramChannel:
    """Owns the PTB Application; feeds the conversation service; sends replies."""

    channel = CHANNEL

    def __init__(
        self,
        token: str,
        service: ConversationService,
        *,
        api_url: str = "https://api.telegram.org",
        concurrency: int = 32,
        http: str = "aiohttp",
        on_unreachable: UnreachableCallback | None = None,
    ) -> None:
        self.service = service
        self.on_unreachable = on_unreachable
        api_url = api_url.rstrip("/")
        self.api_url = api_url
        builder: ApplicationBuilder = (
            Application.builder()
            .token(token)
            .base_url(f"{api_url}/bot")
            .base_file_url(f"{api_url}/file/bot")
            .concurrent_updates(PerChatUpdateProcessor(max(1, concurrency)))
        )
        pool = max(8, concurrency + 8)  # every update in flight, plus outreach sends
        if http == "aiohttp":  # see bot/channels/telegram_http.py
            builder = builder.request(AiohttpRequest(pool)).get_updates_request(AiohttpRequest(1))
        else:
            builder = builder.connection_pool_size(pool)
        self.application: Application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.mode = "stopped"
        # for /healthz (wall-clock epoch seconds; None until it happened)
        self.last_update_at: float | None = None
        self.last_send_at: float | None = None
        self.last_send_error: str | None = None
        self.webhook_url: str | None = None
        self.probe = CachedProbe(self._check)

    @property
    def bot(self):
        return self.application.bot

    # -- lifecycle (polling) --
    async def _initialize(self) -> None:
        """`Application.initialize` (its getMe checks the token), tried again with growing
        pauses for as long as the Bot API cannot be reached: a school's internet may be down
        when the server boots, and the rest of the process (HTTP server, WhatsApp webhooks)
        keeps serving meanwhile. A rejected token raises `TokenRejected` (never the token)."""
        delay = START_RETRY_FIRST
        self.mode = "connecting"
        while True:
            try:
                await self.application.initialize()
                return
            except InvalidToken:
                await self._close_requests()
                self.mode = "stopped"
                raise TokenRejected(self.api_url) from None
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                reason = f"asked to wait {wait:g} s (429)"
            except TelegramError as exc:
                wait, reason = delay, f"{type(exc).__name__}: {exc}"
                delay = min(delay * 2, START_RETRY_MAX)
            except BaseException:
                await self._close_requests()
                self.mode = "stopped"
                raise
            log.warning(
                "telegram: the Bot API at %s cannot be reached (%s); trying again in %g s "
                "(everything else keeps running)",
                self.api_url,
                reason,
                wait,
            )
            try:
                await asyncio.sleep(wait)
            except BaseException:  # stopped while waiting
                await self._close_requests()
                self.mode = "stopped"
                raise

    async def _close_requests(self) -> None:
        """Close the HTTP sessions a failed `initialize` opened (PTB's `shutdown` skips a bot
        that never finished initializing)."""
        for request in getattr(self.application.bot, "_request", ()):
            with contextlib.suppress(Exception):
                await request.shutdown()

    async def start_polling(self) -> None:
        app = self.application
        await self._initialize()
        await self._set_commands()
        await app.start()
        await app.updater.start_polling(
            drop_pending_updates=False,
            allowed_updates=ALLOWED_UPDATES,
            poll_interval=0.0,
            timeout=30,
        )
        self.mode = "polling"

    async def start_webhook(self, url: str, secret: str) -> None:
        """Webhook mode: register `url` with the secret token; updates arrive via
        `enqueue_json` (POST /webhooks/telegram) instead of getUpdates."""
        app = self.application
        await self._initialize()
        await self._set_commands()
        delay = START_RETRY_FIRST
        while True:  # like `_initialize`: the Bot API may still be unreachable for a while
            try:
                await self.bot.set_webhook(
                    url=url,
                    secret_token=secret,
                    allowed_updates=ALLOWED_UPDATES,
                    drop_pending_updates=False,
                )
                break
            except RetryAfter as exc:
                wait, reason = _seconds(exc.retry_after), "429"
            except NetworkError as exc:
                wait, reason = delay, f"{type(exc).__name__}: {exc}"
            except BadRequest as exc:
                raise SettingError(
                    f"TELEGRAM_WEBHOOK_URL was refused by the Telegram Bot API ({exc}): it must "
                    "be an https:// address on port 443, 80, 88 or 8443 that the internet reaches"
                ) from None
            log.warning(
                "telegram: could not register the webhook yet (%s); trying again in %g s",
                reason,
                wait,
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, START_RETRY_MAX)
        await app.start()
        self.mode, self.webhook_url = "webhook", url

    async def enqueue_json(self, data: dict) -> None:
        """One update posted to the webhook endpoint: queued for the same handler as polling."""
        update = Update.de_json(data, self.bot)
        if update is not None:
            await self.application.update_queue.put(update)

    async def process_json(self, data: dict) -> None:
        """One update posted to the webhook endpoint, handled before this returns: through the
        same per-chat ordered processor and handler as polling; raises if handling failed.

        The endpoint answers Telegram only afterwards, so an update is acknowledged once its
        answer is committed and its replies sent: a failure makes Telegram deliver it again
        (the inbound record makes that harmless), and with several workers behind a load
        balancer one chat's next update cannot overtake the previous one (Telegram sends a
        chat's updates in order, waiting for each answer)."""
        update = Update.de_json(data, self.bot)
        if update is None:
            return
        await self.application.update_processor.process_update(
            update, self._on_update(update, None)
        )

    async def health(self) -> dict[str, Any]:
        """For /healthz: `ok` is false when the process stopped polling or the Bot API refuses
        the token or no longer has this server's webhook (see `_check`)."""
        app = self.application
        info: dict[str, Any] = {"mode": self.mode, "running": bool(app.running)}
        if self.mode == "polling":
            info["polling"] = bool(app.updater and app.updater.running)
        info["last_update_at"] = _iso(self.last_update_at)
        info["last_send_at"] = _iso(self.last_send_at)
        if self.last_send_error:
            info["last_send_error"] = self.last_send_error
        info.update(await self.probe())
        if not info["running"] or info.get("polling") is False:
            info.update(ok=False, error=f"not running ({self.mode})")
        return info

    async def _check(self) -> dict[str, Any]:
        """One Bot API call: getWebhookInfo in webhook mode (is the webhook still ours?),
        getMe otherwise (is the token still accepted?)."""
        try:
            if self.mode != "webhook":
                await self.bot.get_me()
                return {"ok": True}
            info = await self.bot.get_webhook_info()
        except (InvalidToken, Forbidden):
            return {"ok": False, "error": "the Bot API rejects the token: TELEGRAM_BOT_TOKEN"}
        except TelegramError as exc:
            return {"ok": False, "error": f"Bot API not reachable: {type(exc).__name__}"}
        result: dict[str, Any] = {"ok": True, "pending_updates": info.pending_update_count}
        if info.url != self.webhook_url:
            result.update(
                ok=False,
                error="the Bot API's webhook is not TELEGRAM_WEBHOOK_URL (changed or deleted "
                "elsewhere); restart Jejak to register it again",
            )
        if info.last_error_message:
            when = info.last_error_date.isoformat() if info.last_error_date else "?"
            result["last_webhook_error"] = f"{info.last_error_message} ({when})"
        return result

    async def stop(self) -> None:
        app = self.application
        if app.updater and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    async def _set_commands(self) -> None:
        try:
            for lang, commands in BOT_COMMANDS.items():
                await self.bot.set_my_commands(
                    [BotCommand(c, d) for c, d in commands],
                    language_code=None if lang == "id" else lang,
                )
        except TelegramError as exc:  # cosmetic: never block start-up on it
            log.warning("could not set the bot's command menu: %s", exc)

    # -- inbound --
    async def process_update(self, update: Update) -> None:
        """Entry point for webhook mode: same path as polling."""
        await self.application.process_update(update)

    async def _on_update(self, update: Update, _context) -> None:
        self.last_update_at = time.time()
        try:
            outcome = await self._handle_update(update)
        except Exception:
            metrics.update_handled(CHANNEL, "error")
            raise
        metrics.update_handled(CHANNEL, outcome)

    async def _handle_update(self, update: Update) -> str:
        """One update. Bot API calls that do not depend on each other go out together: a tap's
        answerCallbackQuery while the answer is committed, the tapped message's edit with the
        reply. Against the real Bot API each round trip is 50-200 ms, so a tap costs one round
        trip after the commit instead of three."""
        answering = None
        if update.callback_query is not None:
            answering = asyncio.create_task(_answer(update.callback_query))
        try:
            inbound = to_inbound(update, self.bot.id)
            if inbound is None:
                await self._maybe_group_hint(update)
                return "ignored"
            outcome = await self.service.handle(inbound)
            if outcome.duplicate:
                return "duplicate"
            results = await asyncio.gather(
                self._mark_tapped(update, outcome),
                self.send_replies(inbound.address, outcome.replies),
                return_exceptions=True,  # both finish before the chat's next update starts
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return "processed"
        finally:
            if answering is not None:
                await answering

    async def _maybe_group_hint(self, update: Update) -> None:
        message = update.message
        chat = update.effective_chat
        if message is None or chat is None or chat.type == ChatType.PRIVATE:
            return
        text = message.text or ""
        username = self.bot.username or ""
        addressed = text.startswith("/") or (username and f"@{username}" in text)
        if addressed:
            lang = (
                "en"
                if (message.from_user and (message.from_user.language_code or "").startswith("en"))
                else "id"
            )
            await self._send(str(chat.id), Reply(self.service.cat.t("group.only_private", lang)))

    async def _mark_tapped(self, update: Update, outcome: Outcome) -> None:
        """After a valid tap, drop the old keyboard and show the choice in that message."""
        query = update.callback_query
        if query is None or not outcome.chosen_label or not isinstance(query.message, Message):
            return
        original = query.message.text or ""
        try:
            await query.message.edit_text(
                f"{original}\n\n✓ {outcome.chosen_label}"[: MessageLimit.MAX_TEXT_LENGTH]
            )
        except TelegramError as exc:
            log.debug("could not edit the tapped message: %s", exc)

    async def _on_error(self, update: object, context) -> None:
        update_id = getattr(update, "update_id", None)
        log.error("error handling telegram update %s: %r", update_id, context.error)

    # -- outbound --
    async def send_replies(self, address: str, replies: list[Reply]) -> None:
        for reply in replies:
            result = await self._send(address, reply)
            if result.status == SendStatus.UNREACHABLE:
                break

    async def send(
        self, address: str, reply: Reply, *, template: Template | None = None
    ) -> SendResult:
        """Sender protocol (used by the outbox dispatcher): one attempt, classified."""
        return await self._send(address, reply, retry=False)

    async def _send(self, address: str, reply: Reply, *, retry: bool = True) -> SendResult:
        if reply.attachment is not None:
            return await self._send_attachment(address, reply, retry=retry)
        chunks = split_text(reply.text)
        markup = keyboard(reply)
        last_id: str | None = None
        chat_id = _chat_id(address)
        for index, chunk in enumerate(chunks):
            is_last = index == len(chunks) - 1

            def make(chunk: str = chunk, is_last: bool = is_last) -> Awaitable[Message]:
                return self.bot.send_message(
                    chat_id=chat_id, text=chunk, reply_markup=markup if is_last else None
                )

            message, failure = await self._request(address, make, retry=retry)
            if failure is not None:
                return failure
            last_id = str(message.message_id)
        return SendResult(SendStatus.SENT, external_id=last_id)

    async def _send_attachment(self, address: str, reply: Reply, *, retry: bool) -> SendResult:
        """A photo (sendPhoto) or a document (sendDocument), with `reply.text` as caption."""
        attachment = reply.attachment
        data = await attachment_bytes(attachment)
        if isinstance(data, SendResult):
            return data
        caption = reply.text[: MessageLimit.CAPTION_LENGTH] or None
        chat_id = _chat_id(address)

        def make() -> Awaitable[Message]:
            if attachment.kind == "photo":
                return self.bot.send_photo(
                    chat_id=chat_id, photo=data, filename=attachment.filename, caption=caption
                )
            return self.bot.send_document(
                chat_id=chat_id, document=data, filename=attachment.filename, caption=caption
            )

        message, failure = await self._request(address, make, retry=retry)
        if failure is not None:
            return failure
        return SendResult(SendStatus.SENT, external_id=str(message.message_id))

    async def _request(
        self, address: str, make: Callable[[], Awaitable[Message]], *, retry: bool
    ) -> tuple[Message | None, SendResult | None]:
        """One Bot API send (`make()`), retried up to 3 times when `retry`: (message, None) on
        success, else (None, the classified failure)."""
        for attempt in range(3 if retry else 1):
            started = time.perf_counter()
            try:
                message = await make()
                self._attempted(started)
                return message, None
            except RetryAfter as exc:
                self._attempted(started, exc)
                wait = _seconds(exc.retry_after)
                if not retry or attempt == 2:
                    return None, SendResult(SendStatus.RETRY, retry_after=wait, error_code="429")
                await asyncio.sleep(wait)
            except Forbidden as exc:
                self._attempted(started, exc)
                if self.on_unreachable is not None:
                    await self.on_unreachable(CHANNEL, address, str(exc.message)[:200])
                return None, SendResult(SendStatus.UNREACHABLE, error_code="403", error=exc.message)
            except BadRequest as exc:
                self._attempted(started, exc)
                if "chat not found" in exc.message.lower():
                    if self.on_unreachable is not None:
                        await self.on_unreachable(CHANNEL, address, exc.message[:200])
                    return None, SendResult(
                        SendStatus.UNREACHABLE, error_code="400", error=exc.message
                    )
                log.warning("telegram rejected a message: %s", exc.message)
                return None, SendResult(SendStatus.FAILED, error_code="400", error=exc.message)
            except (TimedOut, TelegramError) as exc:
                self._attempted(started, exc)
                if not retry or attempt == 2:
                    return None, SendResult(SendStatus.RETRY, retry_after=2.0, error=str(exc)[:200])
                await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempted(self, started: float, exc: TelegramError | None = None) -> None:
        """Metrics and health for one send attempt (one Bot API call)."""
        seconds = time.perf_counter() - started
        if exc is None:
            self.last_send_at = time.time()
            metrics.send_attempt(CHANNEL, seconds, "sent")
            return
        if isinstance(exc, RetryAfter):
            code, result = "429", "retry"
        elif isinstance(exc, Forbidden):
            code, result = "403", "unreachable"
        elif isinstance(exc, BadRequest):
            code, result = "400", "failed"
        else:
            code, result = type(exc).__name__, "retry"
        self.last_send_error = f"{code} at {_iso(time.time())}"
        metrics.send_attempt(CHANNEL, seconds, result, code)


async def _answer(query: CallbackQuery) -> None:
    """Stop the tapped button's spinner; a failure there is cosmetic."""
    with contextlib.suppress(TelegramError):
        await query.answer()


def _chat_id(address: str) -> int | str:
    return int(address) if address.lstrip("-").isdigit() else address


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _seconds(value: Any) -> float:
    seconds = getattr(value, "total_seconds", None)
    return float(seconds()) if callable(seconds) else float(value)
