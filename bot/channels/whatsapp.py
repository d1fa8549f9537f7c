"""The WhatsApp channel: webhook events in (already verified and parsed), replies out.

The web endpoint hands each parsed webhook to `WhatsAppChannel.accept`, which returns at once
(Meta retries deliveries that are slow or fail); the work runs in background tasks, one chain per
person so that one person's messages are handled strictly in order. Each wamid is processed at
most once (the conversation shell records it in the same transaction as the answer).

Direct replies are inside the person's 24-hour window by definition (they just wrote). Anything
else goes through the outbox, whose dispatcher decides free text vs template (see
`within_service_window`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.channels.base import SendResult, SendStatus, Template
from bot.channels.whatsapp_api import WhatsAppClient
from bot.channels.whatsapp_events import ParsedWebhook, StatusUpdate
from bot.conversation import ConversationService
from conversations.types import Inbound, Reply
from storage import contacts
from storage.db import Database
from storage.models import Delivery, utcnow

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
SERVICE_WINDOW = timedelta(hours=24)
UNREACHABLE_CODES = {131026}

StatusListener = Callable[[StatusUpdate], Awaitable[None]]


def within_service_window(last_inbound_at: datetime | None, now: datetime | None = None) -> bool:
    """The one rule for WhatsApp's 24-hour customer-service window: free-form messages only
    within 24 hours of the person's last message; otherwise an approved template."""
    if last_inbound_at is None:
        return False
    return (now or utcnow()) - last_inbound_at < SERVICE_WINDOW


class WhatsAppChannel:
    channel = CHANNEL

    def __init__(self, client: WhatsAppClient, service: ConversationService, db: Database) -> None:
        self.client = client
        self.service = service
        self.db = db
        self.status_listeners: list[StatusListener] = []
        self._tails: dict[str, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()

    # -- inbound --
    def accept(self, parsed: ParsedWebhook) -> None:
        """Schedule the work of one webhook delivery and return immediately."""
        for inbound in parsed.messages:
            self._spawn(self._chain(inbound.address, self._handle(inbound)))
        for status in parsed.statuses:
            self._spawn(self._on_status(status))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("whatsapp event failed: %r", task.exception())

    async def _chain(self, address: str, work: Awaitable[None]) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        previous = self._tails.get(address)
        self._tails[address] = done
        try:
            if previous is not None:
                await asyncio.shield(previous)
            await work
        finally:
            done.set_result(None)
            if self._tails.get(address) is done:
                del self._tails[address]

    async def drain(self) -> None:
        """Wait for the background work scheduled so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _handle(self, inbound: Inbound) -> None:
        outcome = await self.service.handle(inbound)
        if outcome.duplicate:
            return
        for reply in outcome.replies:
            result = await self.send(inbound.address, reply)
            if result.status != SendStatus.SENT:
                break

    # -- delivery statuses --
    async def _on_status(self, status: StatusUpdate) -> None:
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(Delivery).where(
                        Delivery.channel == CHANNEL, Delivery.external_id == status.wamid
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                row = Delivery(channel=CHANNEL, external_id=status.wamid, kind="unknown")
                session.add(row)
            if _rank(status.status) >= _rank(row.status):  # statuses may arrive out of order
                row.status = status.status
            if status.error_code is not None:
                row.error_code = str(status.error_code)
                row.error_title = (status.error_title or "")[:200] or None
            row.updated_at = utcnow()
            await session.commit()
        if status.status == "failed" and status.error_code in UNREACHABLE_CODES:
            await contacts.mark_unreachable(
                self.db, CHANNEL, status.recipient, f"whatsapp {status.error_code}"
            )
        for listener in self.status_listeners:
            await listener(status)

    # -- outbound --
    async def send(
        self, address: str, reply: Reply, *, template: Template | None = None
    ) -> SendResult:
        """Sender protocol: one attempt, classified; records the wamid for status tracking."""
        result = await self.client.send(address, reply, template=template)
        if result.status == SendStatus.SENT and result.external_id:
            await self._record(address, result.external_id, "template" if template else "reply")
        elif result.status == SendStatus.UNREACHABLE:
            await contacts.mark_unreachable(self.db, CHANNEL, address, result.error_code or "")
        return result

    async def _record(self, address: str, wamid: str, kind: str) -> None:
        async with self.db.session() as session:
            contact_id = await contacts.contact_id(session, CHANNEL, address)
            session.add(
                Delivery(
                    channel=CHANNEL,
                    external_id=wamid,
                    contact_id=contact_id,
                    kind=kind,
                    status="accepted",
                )
            )
            await session.commit()


_ORDER = {"accepted": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


def _rank(status: str) -> int:
    return _ORDER.get(status, 0)
