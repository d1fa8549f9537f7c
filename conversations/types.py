"""Channel-neutral values passed between channels, the conversation shell and the engine.

Nothing here knows Telegram, WhatsApp or the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum


class InputKind(StrEnum):
    TEXT = "text"  # typed text (also a command such as "/ubah" or a keyword such as "UBAH")
    CHOICE = "choice"  # a tapped button / list row: `question` + `value` (the code)
    START = "start"  # /start, with an optional invitation code in `value`
    MEDIA = "media"  # photo, sticker, voice, document, location, ...: not understood
    ACTION = "action"  # a non-questionnaire button, e.g. "interested in vacancy 12" (value)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person sent, as every channel hands it to the conversation shell."""

    channel: str  # telegram | whatsapp | console
    address: str  # chat id / wa_id / console session id
    kind: InputKind
    text: str = ""
    question: str | None = None  # for CHOICE: the question the button belonged to
    value: str | None = None  # for CHOICE: the code; for START: the invitation code
    external_id: str | None = None  # update_id / wamid, for idempotency
    language_hint: str | None = None  # e.g. Telegram's user.language_code
    display_name: str | None = None
    username: str | None = None  # Telegram @username (without "@"), when the person has one
    message_ref: str | None = None  # channel message id of the tapped message (to edit it)


@dataclass(frozen=True, slots=True)
class Option:
    code: str
    label: str  # full label, shown in the body text
    short: str  # at most 20 characters: WhatsApp reply-button title
    description: str = ""  # optional extra line (WhatsApp list-row description, <=72)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a reply: a photo (PNG/JPEG, shown inline) or a document (any file).

    The bytes are either given (`data`) or made by `produce` when the channel sends the reply,
    after the inbound message's transaction was committed (heavy work, such as an export, then
    holds no lock and no session across the network call)."""

    kind: str  # photo | document
    filename: str
    mime: str
    data: bytes | None = None
    produce: Callable[[], Awaitable[bytes]] | None = None

    async def content(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.produce is None:
            raise ValueError(f"attachment {self.filename!r} has no content")
        return await self.produce()


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the person: text, and maybe choices for one question.

    With an `attachment`, the reply is that file and `text` is its caption (channels cut it to
    the platform's caption length, 1024 characters on Telegram and WhatsApp)."""

    text: str
    question: str | None = None  # set when `options` answer a questionnaire node
    options: tuple[Option, ...] = ()
    multi: bool = False  # several options may be picked (typed "1,3" or tapped one by one)
    action: str | None = None  # for non-questionnaire buttons, e.g. "interest:12"
    attachment: Attachment | None = None
    # options are shown with their numbers (a typed "2" picks the second); False where a typed
    # number is a quantity instead (options that are numeric ranges: "4" is 4 people)
    numbered: bool = True


@dataclass(slots=True)
class Outcome:
    """What the shell returns to a channel: replies, plus a note for the tapped message."""

    replies: list[Reply] = field(default_factory=list)
    # when the input was a tap on a still-valid button: the label chosen, so the channel may
    # mark the old message (e.g. Telegram edits it to drop the keyboard)
    chosen_label: str | None = None
    duplicate: bool = False  # the inbound event had been processed before: nothing was done
