"""The WhatsApp channel: webhook events in (already verified and parsed), replies out.

The web endpoint hands each parsed webhook to `WhatsAppChannel.accept`, which returns at once
(Meta retries deliveries that are slow or fail); the work runs in background tasks, one chain per
person so that one person's messages are handled strictly in order. Each wamid is processed at
most once (the conversation shell records it in the same transaction as the answer).

Direct replies are inside the person's 24-hour window by definition (they just wrote). Anything
else goes through the outbox, whose dispatcher decides free text vs template (see
`within_service_window`).

A direct reply that Meta refuses for a while (RETRY: 130429, 131056, HTTP 5xx, a timeout, ...)
is retried in the person's chain after the suggested delay, up to `reply_attempts` times, so
the person's next message waits for it. When it still fails (or the delay is longer than
`max_reply_wait`, or the process is stopping), that message and the replies after it are
handed to the outbox (purpose `reply`, idempotency key `reply:<wamid>:<n>`), which sends them
in order; until they are out, the person's later replies queue behind them there
(docs/outreach.md, "Direct replies that could not be sent").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import metrics
from bot.channels.base import SendResult, SendStatus, Template, attachment_bytes
from bot.channels.ordering import KeyedSequencer
from bot.channels.probe import CachedProbe
from bot.channels.whatsapp_api import WhatsAppClient, WhatsAppError
from bot.channels.whatsapp_events import ParsedWebhook, StatusUpdate
from bot.channels.whatsapp_render import MAX_BUTTONS
from bot.conversation import ConversationService
from bot.outreach.messages import reply_to_payload
from conversations.types import Inbound, Reply
from storage import contacts, outbox
from storage.db import Database
from storage.models import Alumnus, Contact, Delivery, OutboxMessage, utcnow

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
SERVICE_WINDOW = timedelta(hours=24)
UNREACHABLE_CODES = {131026}
LIST_BUTTON_KEY = "whatsapp.list_button"  # catalogue: the list button's label per language
REPLY_ATTEMPTS = 3  # attempts per direct reply in the person's chain (as Telegram)
MAX_REPLY_WAIT = 30.0  # seconds: a longer suggested delay hands the reply to the outbox at once
REPLY_PURPOSE = "reply"  # outbox rows of direct replies handed over

StatusListener = Callable[[StatusUpdate], Awaitable[None]]


def within_service_window(last_inbound_at: datetime | None, now: datetime | None = None) -> bool:
    """The one rule for WhatsApp's 24-hour customer-service window: free-form messages only
    within 24 hours of the person's last message; otherwise an approved template."""
    if last_inbound_at is None:
        return False
    return (now or utcnow()) - last_inbound_at < SERVICE_WINDOW


class WhatsAppChannel:
    channel = CHANNEL

    def __init__(
        self,
        client: WhatsAppClient,
        service: ConversationService,
        db: Database,
        *,
        reply_attempts: int = REPLY_ATTEMPTS,
        max_reply_wait: float = MAX_REPLY_WAIT,
    ) -> None:
        self.client = client
        self.service = service
        self.db = db
        self.reply_attempts = max(1, reply_attempts)
        self.max_reply_wait = max_reply_wait
        self._stopping = asyncio.Event()
        # people whose direct replies wait in the outbox (their later replies queue behind);
        # None until read from the database at the first reply
        self._queued: set[str] | None = None
        self._queued_lock = asyncio.Lock()
        self.status_listeners: list[StatusListener] = []
        self._sequencer = KeyedSequencer()
        self._tasks: set[asyncio.Task] = set()
        self.last_update_at: float | None = None  # for /healthz
        self.probe = CachedProbe(client.check)

    async def health(self) -> dict:
        """For /healthz: webhook mode, background work queued, last message in and out, and
        whether the Graph API accepts the access token for this phone number (`ok`)."""
        from bot.channels.telegram import _iso

        return {
            "mode": "webhook",
            "running": True,
            **(await self.probe()),
            "in_progress": len(self._tasks),
            "last_update_at": _iso(self.last_update_at),
            "last_send_at": _iso(getattr(self.client, "last_send_at", None)),
            **(
                {"last_send_error": self.client.last_send_error}
                if getattr(self.client, "last_send_error", None)
                else {}
            ),
        }

    # -- inbound --
    def accept(self, parsed: ParsedWebhook) -> None:
        """Schedule the work of one webhook delivery and return immediately."""
        for inbound in parsed.messages:
            self._spawn(self._chain(inbound.address, self._handle(inbound)))
        for status in parsed.statuses:
            # in the recipient's chain: after the reply whose Delivery row it updates was
            # recorded, and one status of a message at a time
            self._spawn(self._chain(status.recipient, self._on_status(status)))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("whatsapp event failed: %r", task.exception())

    async def _chain(self, address: str, work: Awaitable[None]) -> None:
        await self._sequencer.run(address, work)

    async def drain(self) -> None:
        """Wait for the background work scheduled so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def stop(self) -> None:
        """Shutdown: replies waiting to be retried are handed to the outbox at once (they go
        out after the restart), then the background work is awaited."""
        self._stopping.set()
        await self.drain()

    async def _handle(self, inbound: Inbound) -> None:
        self.last_update_at = time.time()
        try:
            outcome = await self.service.handle(inbound)
        except Exception:
            metrics.update_handled(CHANNEL, "error")
            raise
        metrics.update_handled(CHANNEL, "duplicate" if outcome.duplicate else "processed")
        if outcome.duplicate:
            return
        await self.reply(inbound.address, outcome.replies, key=inbound.external_id)

    # -- direct replies --
    async def reply(self, address: str, replies: Sequence[Reply], *, key: str | None) -> None:
        """Send the replies to one inbound message (`key`: its wamid), in order. Runs in the
        person's chain: their next message waits until these are out or handed over.

        RETRY results are retried after the suggested delay (at most `reply_attempts` tries a
        message, each delay at most `max_reply_wait`); what still fails, and the replies after
        it, go to the outbox. UNREACHABLE (the contact is marked) and FAILED stop the replies
        as before: the rest is not sent."""
        replies = list(replies)
        if not replies:
            return
        if await self._waiting_in_outbox(address):  # earlier replies still wait: queue behind
            await self._hand_over(address, replies, key=key, first=0)
            return
        for index, reply in enumerate(replies):
            result, delivered = await self._send_retrying(address, reply)
            if result.status == SendStatus.SENT:
                continue
            if result.status == SendStatus.RETRY:
                await self._hand_over(
                    address,
                    replies[index:],
                    key=key,
                    first=index,
                    skip_parts=delivered,
                    delay=result.retry_after,
                )
            return

    async def _send_retrying(self, address: str, reply: Reply) -> tuple[SendResult, int]:
        """One reply, retried while the result is RETRY: the last result and the number of its
        messages delivered (a multi-part reply resumes after them, nothing is sent twice)."""
        delivered = 0
        for attempt in range(self.reply_attempts):
            result = await self.send(address, reply, attempt=attempt, skip_parts=delivered)
            delivered += result.parts_sent
            if result.status != SendStatus.RETRY:
                return result, delivered
            delay = result.retry_after if result.retry_after is not None else 0.0
            last = attempt == self.reply_attempts - 1
            if last or delay > self.max_reply_wait or self._stopping.is_set():
                return result, delivered
            log.info("whatsapp reply: %s, retry %d in %.1fs", result.error_code, attempt + 1, delay)
            with contextlib.suppress(TimeoutError):  # stopping: hand over instead of waiting
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return result, delivered
        raise AssertionError("unreachable")  # pragma: no cover

    async def _queued_addresses(self) -> set[str]:
        """The people with direct replies waiting in the outbox (read once from the database,
        then kept up to date by this process)."""
        if self._queued is None:
            async with self._queued_lock:
                if self._queued is None:
                    async with self.db.session() as session:
                        rows = await session.execute(
                            select(OutboxMessage.address)
                            .where(
                                OutboxMessage.status.in_(outbox.UNSENT),
                                OutboxMessage.purpose == REPLY_PURPOSE,
                                OutboxMessage.channel == CHANNEL,
                            )
                            .distinct()
                        )
                        self._queued = set(rows.scalars().all())
        return self._queued

    async def _waiting_in_outbox(self, address: str) -> bool:
        queued = await self._queued_addresses()
        if address not in queued:
            return False
        async with self.db.session() as session:
            waiting = await outbox.replies_waiting(session, CHANNEL, address)
        if not waiting:
            queued.discard(address)
        return waiting

    async def _hand_over(
        self,
        address: str,
        replies: Sequence[Reply],
        *,
        key: str | None,
        first: int,
        skip_parts: int = 0,
        delay: float | None = None,
    ) -> None:
        """Queue `replies` (the `first`-th onwards of one inbound message's) in the outbox,
        due after `delay`; the first one's `skip_parts` messages were delivered already. A
        file (an export, a chart) cannot be queued: it is left out, logged (staff ask again)."""
        queued = await self._queued_addresses()
        key = key or f"nokey-{secrets.token_hex(8)}"
        now = utcnow()
        rows = []
        for offset, reply in enumerate(replies):
            if reply.attachment is not None:
                log.warning(
                    "whatsapp reply: the file %s could not be sent and is not queued",
                    reply.attachment.filename,
                )
                continue
            payload = reply_to_payload(reply)
            if offset == 0 and skip_parts:
                payload["skip_parts"] = skip_parts
            rows.append(
                {
                    "purpose": REPLY_PURPOSE,
                    "idempotency_key": f"{REPLY_PURPOSE}:{key}:{first + offset}"[:200],
                    "channel": CHANNEL,
                    "address": address,
                    "payload": payload,
                    "not_before": now + timedelta(seconds=max(delay or 0.0, 0.0)),
                    "created_at": now,
                }
            )
        if not rows:
            return
        async with self.db.writer(), self.db.session() as session:
            found = (
                await session.execute(
                    select(Contact.id, Alumnus.school_id)
                    .outerjoin(Alumnus, Alumnus.id == Contact.alumnus_id)
                    .where(Contact.channel == CHANNEL, Contact.address == address)
                )
            ).first()
            contact_id, school_id = found if found is not None else (None, None)
            for row in rows:
                row["contact_id"] = contact_id
                row["school_id"] = school_id or self.service.school_id
            added = await outbox.enqueue(session, rows)
            await session.commit()
        queued.add(address)
        log.warning(
            "whatsapp reply: %d message(s) handed to the outbox (%d queued)", len(rows), added
        )

    # -- delivery statuses --
    async def _on_status(self, status: StatusUpdate) -> None:
        def apply(row: Delivery) -> None:
            if _rank(status.status) >= _rank(row.status):  # statuses may arrive out of order
                row.status = status.status
            if status.error_code is not None:
                row.error_code = str(status.error_code)
                row.error_title = (status.error_title or "")[:200] or None

        await self._upsert(status.wamid, "unknown", None, apply)
        row_id = outbox.parse_callback_data(status.callback_data)
        if row_id is not None:  # an outbox message: confirm a row cut off mid-send
            async with self.db.session() as session:
                code = str(status.error_code) if status.error_code is not None else None
                new = await outbox.confirm_from_status(
                    session, row_id, status.status, status.wamid, utcnow(), error_code=code
                )
                await session.commit()
            if new:
                log.info("outbox row %s confirmed %s by a status webhook", row_id, new)
        if status.status == "failed" and status.error_code in UNREACHABLE_CODES:
            await contacts.mark_unreachable(
                self.db, CHANNEL, status.recipient, f"whatsapp {status.error_code}"
            )
        for listener in self.status_listeners:
            await listener(status)

    # -- outbound --
    async def send(
        self,
        address: str,
        reply: Reply,
        *,
        template: Template | None = None,
        callback_data: str | None = None,
        attempt: int = 0,
        skip_parts: int = 0,
    ) -> SendResult:
        """Sender protocol: one attempt, classified; records the wamid for status tracking.
        `callback_data` (the outbox: "outbox:<id>") travels as biz_opaque_callback_data and
        comes back in the message's status webhooks. `attempt` (earlier tries of the same
        message) lengthens the suggested retry delay; `skip_parts`: the messages of a
        multi-part reply delivered before (see `WhatsAppClient.send`)."""
        if template is None and reply.attachment is not None:
            result = await self._send_attachment(address, reply)
        else:
            list_button = None
            if template is None and len(reply.options) > MAX_BUTTONS:  # may become a list
                list_button = await self._list_button(address)
            result = await self.client.send(
                address,
                reply,
                template=template,
                attempt=attempt,
                list_button=list_button,
                callback_data=callback_data,
                skip_parts=skip_parts,
            )
        if result.status == SendStatus.SENT and result.external_id:
            await self._record(address, result.external_id, "template" if template else "reply")
        elif result.status == SendStatus.UNREACHABLE:
            await contacts.mark_unreachable(self.db, CHANNEL, address, result.error_code or "")
        return result

    async def _send_attachment(self, address: str, reply: Reply) -> SendResult:
        """Upload the file (POST /{phone_number_id}/media), then send it as an image or a
        document message with `reply.text` as the caption."""
        attachment = reply.attachment
        data = await attachment_bytes(attachment)
        if isinstance(data, SendResult):
            return data
        try:
            media_id = await self.client.upload_media(data, attachment.mime, attachment.filename)
        except WhatsAppError as exc:
            return exc.result
        caption = reply.text or None
        if attachment.kind == "photo":
            return await self.client.send_image(address, media_id, caption)
        return await self.client.send_document(address, media_id, attachment.filename, caption)

    async def _list_button(self, address: str) -> str | None:
        cat = self.service.cat
        if not cat.has(LIST_BUTTON_KEY):
            return None
        async with self.db.session() as session:
            lang = (
                await session.execute(
                    select(Contact.language).where(
                        Contact.channel == CHANNEL, Contact.address == address
                    )
                )
            ).scalar_one_or_none()
        return cat.t(LIST_BUTTON_KEY, lang or self.service.default_language)

    async def _record(self, address: str, wamid: str, kind: str) -> None:
        def apply(row: Delivery) -> None:
            row.kind = kind
            if row.contact_id is None:
                row.contact_id = contact_id

        async with self.db.session() as session:
            contact_id = await contacts.contact_id(session, CHANNEL, address)
        await self._upsert(wamid, kind, contact_id, apply)

    async def _upsert(
        self,
        wamid: str,
        kind: str,
        contact_id: int | None,
        apply: Callable[[Delivery], None],
    ) -> None:
        """Create or update the Delivery row of `wamid`. A status may come before the send
        was recorded (Meta is fast; another process): whoever inserts second updates."""
        for attempt in range(2):
            async with self.db.session() as session:
                row = (
                    await session.execute(
                        select(Delivery).where(
                            Delivery.channel == CHANNEL, Delivery.external_id == wamid
                        )
                    )
                ).scalar_one_or_none()
                if row is None:
                    row = Delivery(
                        channel=CHANNEL, external_id=wamid, contact_id=contact_id, kind=kind
                    )
                    session.add(row)
                apply(row)
                row.updated_at = utcnow()
                try:
                    await session.commit()
                    return
                except IntegrityError:
                    await session.rollback()
                    if attempt:
                        raise


_ORDER = {"accepted": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


def _rank(status: str) -> int:
    return _ORDER.get(status, 0)
