"""What every channel offers the rest of the bot: sending one message, with a classified result.

Direct replies to an inbound message are sent by the channel's own handler; everything else
(reminders, vacancies, digests) goes through the outbox and its dispatcher, which calls
`Sender.send` and acts on the `SendResult`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from conversations.types import Attachment, Reply

log = logging.getLogger(__name__)


class SendStatus(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient (429, throttling, 5xx, network): try again after retry_after
    UNREACHABLE = "unreachable"  # blocked / undeliverable: mark the contact, do not retry
    NEEDS_TEMPLATE = "needs_template"  # WhatsApp outside the 24-hour window
    FAILED = "failed"  # permanent error for this message (bad request, ...)


@dataclass(slots=True)
class SendResult:
    status: SendStatus
    external_id: str | None = None  # message id on the platform
    retry_after: float | None = None  # seconds
    error_code: str | None = None
    error: str | None = None
    # messages of this reply delivered by the call (a WhatsApp reply may take several: long
    # text, text before buttons); on a failure, the parts before it (resend from there)
    parts_sent: int = 0


@dataclass(frozen=True, slots=True)
class Template:
    """An approved WhatsApp template: name, language and body parameters (in order)."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()
    button_payloads: tuple[str, ...] = field(default=())


class Sender(Protocol):
    channel: str

    async def send(
        self, address: str, reply: Reply, *, template: Template | None = None
    ) -> SendResult: ...


async def attachment_bytes(attachment: Attachment) -> bytes | SendResult:
    """The file of an attachment (a chart or an export is made only now, after the commit), or
    the FAILED result to return when making it failed (logged; the chat gets nothing)."""
    try:
        return await attachment.content()
    except Exception as exc:
        log.exception("could not make the attachment %s", attachment.filename)
        return SendResult(SendStatus.FAILED, error_code="attachment", error=repr(exc)[:200])
