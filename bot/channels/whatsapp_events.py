"""WhatsApp Cloud API webhooks -> channel-neutral events (pure: no I/O, no database).

Meta POSTs `{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field",
"value": {"metadata", "contacts", "messages", "statuses", "errors"}}]}]}`; one POST may carry
several entries, changes, messages and statuses. `parse_webhook` turns that into
`ParsedWebhook(messages=[Inbound...], statuses=[StatusUpdate...], ignored=[Ignored...])`.

Rules:
- Structural garbage in the envelope (body not an object, `entry` not a list, an entry, change,
  value, message or status that is not an object, `messages`/`statuses`/`contacts`/`changes`
  not lists) raises `MalformedWebhook`: the web endpoint answers 400.
- Everything inside one message is handled leniently: a message we cannot use (missing id or
  sender, unknown type, reaction, system notice, a type-specific object of the wrong shape) is
  listed in `.ignored` with a reason, and the other messages of the same POST still count.
  Unknown extra fields are never looked at.

Reply ids (interactive button / list row ids and template quick-reply payloads) that Jejak
sends use one format, encoded and decoded here (the renderer imports these helpers):
- `q:<question>:<code>`  a questionnaire choice  -> InputKind.CHOICE(question, value=code)
- `a:<action>`           any other button         -> InputKind.ACTION(value=action),
                         e.g. `a:interest:12` -> value "interest:12"
`<question>` never contains ":"; `<code>` and `<action>` may.

Also here: `verify_signature` / `sign` for the `X-Hub-Signature-256` header.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.channels.reply_ids import (  # noqa: F401  (re-exported)
    ACTION_PREFIX,
    CHOICE_PREFIX,
    DecodedReplyId,
    action_reply_id,
    choice_reply_id,
    decode_reply_id,
)
from conversations.types import Inbound, InputKind

CHANNEL = "whatsapp"


# message types that carry something a person sent but the bot cannot read as an answer
MEDIA_TYPES = frozenset(
    {
        "image",
        "audio",
        "video",
        "document",
        "location",
        "contacts",
        "sticker",
        "unsupported",
        # a cart from a catalogue: Jejak has none, so it is "something not understood" as well
        "order",
    }
)
# message types deliberately ignored (no reply at all)
IGNORED_TYPES = {
    "reaction": "reaction",
    "system": "system notice",
    "request_welcome": "welcome request (chat opened, nothing sent)",
    "ephemeral": "disappearing message",
    "revoke": "message deleted by the sender",
    "edit": "message edited by the sender",
}
STATUS_VALUES = frozenset({"sent", "delivered", "read", "failed"})


class MalformedWebhook(ValueError):
    """The body is not a WhatsApp webhook at all (answer 400). The message never holds
    personal data: it names the offending path only."""


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status for a message Jejak sent (`statuses[]`)."""

    wamid: str
    recipient: str  # recipient_id (phone / wa_id), or the BSUID when no number is shared
    status: str  # sent | delivered | read | failed (other future values are passed through)
    timestamp: datetime | None = None  # aware UTC
    error_code: int | None = None  # first errors[].code, when failed
    error_title: str | None = None  # errors[].title (or .message)
    error_details: str | None = None  # errors[].error_data.details
    # what we put in the message's biz_opaque_callback_data (the outbox: "outbox:<id>")
    callback_data: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookError:
    """`value.errors[]`: an error Meta reports outside any message or status."""

    code: int | None
    title: str | None
    details: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """Something in the webhook that produces no event, and why (for logs; no personal data)."""

    reason: str
    external_id: str | None = None  # wamid, when there is one


@dataclass(slots=True)
class ParsedWebhook:
    messages: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    errors: list[WebhookError] = field(default_factory=list)
    # wamid -> when the person sent it (aware UTC), for the messages that have a timestamp
    timestamps: dict[str, datetime] = field(default_factory=dict)


# --- signature ---------------------------------------------------------------------------


def sign(raw_body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `raw_body`: "sha256=<hex HMAC-SHA256>"."""
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """True when `header` is the valid signature of the exact raw body (constant-time compare).
    A missing header, another algorithm or an empty app secret is never valid."""
    if not header or not app_secret or not isinstance(header, str):
        return False
    algorithm, sep, received = header.strip().partition("=")
    if not sep or algorithm.strip().lower() != "sha256":
        return False
    expected = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), received.strip().lower().encode("utf-8"))


# --- parsing -----------------------------------------------------------------------------


def _list(container: dict[str, Any], key: str, where: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedWebhook(f"{where}.{key} is not a list")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{where} is not an object")
    return value


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _timestamp(value: Any) -> datetime | None:
    seconds = _int(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _label(value: Any) -> str:
    """A short, log-safe name for a type/field value from the payload."""
    if isinstance(value, str):
        return value[:40]
    return type(value).__name__


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def parse_webhook(body: Any) -> ParsedWebhook:
    """Parse one webhook POST body (already JSON-decoded). Raises only `MalformedWebhook`."""
    root = _object(body, "body")
    obj = root.get("object")
    if obj is not None and not isinstance(obj, str):
        raise MalformedWebhook("body.object is not a string")
    if "entry" not in root:
        raise MalformedWebhook("body.entry is missing")
    entries = _list(root, "entry", "body")
    parsed = ParsedWebhook()
    if obj is not None and obj != "whatsapp_business_account":
        parsed.ignored.append(Ignored(f"object {obj[:40]!r} is not whatsapp_business_account"))
        return parsed
    for i, raw_entry in enumerate(entries):
        entry = _object(raw_entry, f"entry[{i}]")
        for j, raw_change in enumerate(_list(entry, "changes", f"entry[{i}]")):
            where = f"entry[{i}].changes[{j}]"
            change = _object(raw_change, where)
            field_name = change.get("field", "messages")
            if field_name != "messages":
                parsed.ignored.append(Ignored(f"field {_label(field_name)!r} is not handled"))
                continue
            if "value" not in change:
                parsed.ignored.append(Ignored("change without a value"))
                continue
            _parse_value(_object(change["value"], f"{where}.value"), f"{where}.value", parsed)
    return parsed


def _parse_value(value: dict[str, Any], where: str, parsed: ParsedWebhook) -> None:
    names: dict[str, str] = {}
    contacts = _list(value, "contacts", where)
    for k, raw_contact in enumerate(contacts):
        contact = _object(raw_contact, f"{where}.contacts[{k}]")
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if isinstance(name, str) and name.strip():
            for key in ("wa_id", "user_id"):
                ident = _str(contact.get(key))
                if ident:
                    names[ident] = name.strip()
    single_name = next(iter(set(names.values()))) if len(set(names.values())) == 1 else None

    for k, raw_message in enumerate(_list(value, "messages", where)):
        message = _object(raw_message, f"{where}.messages[{k}]")
        _parse_message(message, names, single_name, parsed)

    for k, raw_status in enumerate(_list(value, "statuses", where)):
        status = _object(raw_status, f"{where}.statuses[{k}]")
        _parse_status(status, parsed)

    for raw_error in _list(value, "errors", where):
        if isinstance(raw_error, dict):
            parsed.errors.append(_error(raw_error))


def _error(raw: dict[str, Any]) -> WebhookError:
    data = raw.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    title = raw.get("title") if isinstance(raw.get("title"), str) else raw.get("message")
    return WebhookError(
        code=_int(raw.get("code")),
        title=title if isinstance(title, str) else None,
        details=details if isinstance(details, str) else None,
    )


def _parse_status(status: dict[str, Any], parsed: ParsedWebhook) -> None:
    wamid = _str(status.get("id"))
    state = status.get("status")
    if not wamid or not isinstance(state, str) or not state:
        parsed.ignored.append(Ignored("status without id or status", wamid))
        return
    recipient = _str(status.get("recipient_id")) or _str(status.get("recipient_user_id")) or ""
    error = None
    errors = status.get("errors")
    if isinstance(errors, list):
        error = next((_error(e) for e in errors if isinstance(e, dict)), None)
    parsed.statuses.append(
        StatusUpdate(
            wamid=wamid,
            recipient=recipient,
            status=state,
            timestamp=_timestamp(status.get("timestamp")),
            error_code=error.code if error else None,
            error_title=error.title if error else None,
            error_details=error.details if error else None,
            callback_data=_str(status.get("biz_opaque_callback_data")),
        )
    )


def _parse_message(
    message: dict[str, Any],
    names: dict[str, str],
    single_name: str | None,
    parsed: ParsedWebhook,
) -> None:
    wamid = _str(message.get("id"))
    kind = message.get("type")
    kind_label = _label(kind)
    if not wamid:
        parsed.ignored.append(Ignored(f"{kind_label} message without an id"))
        return
    if isinstance(kind, str) and kind in IGNORED_TYPES:
        reason = IGNORED_TYPES[kind]
        if kind == "system":
            system = message.get("system")
            sub = system.get("type") if isinstance(system, dict) else None
            if isinstance(sub, str):
                reason = f"system notice {_label(sub)}"
        parsed.ignored.append(Ignored(reason, wamid))
        return
    sender = _str(message.get("from")) or _str(message.get("from_user_id"))
    if not sender:
        parsed.ignored.append(Ignored(f"{kind_label} message without a sender", wamid))
        return
    context = message.get("context")
    ref = _str(context.get("id")) if isinstance(context, dict) else None
    base = {
        "channel": CHANNEL,
        "address": sender,
        "external_id": wamid,
        "display_name": names.get(sender) or single_name,
        "message_ref": ref,
    }
    inbound = _inbound(kind, message, base)
    if isinstance(inbound, str):
        parsed.ignored.append(Ignored(inbound, wamid))
        return
    parsed.messages.append(inbound)
    when = _timestamp(message.get("timestamp"))
    if when is not None:
        parsed.timestamps[wamid] = when


def _from_reply_id(reply_id: Any, title: Any, base: dict[str, Any]) -> Inbound | None:
    decoded = decode_reply_id(reply_id)
    if decoded is not None:
        return Inbound(
            kind=decoded.kind,
            question=decoded.question,
            value=decoded.value,
            text=title if isinstance(title, str) else "",
            **base,
        )
    if isinstance(title, str) and title.strip():
        # not an id of ours (an older deployment, a template button with a static payload):
        # the label the person tapped works as typed text
        return Inbound(kind=InputKind.TEXT, text=title, **base)
    return None


def _inbound(kind: Any, message: dict[str, Any], base: dict[str, Any]) -> Inbound | str:
    """The Inbound for one message, or the reason it is ignored."""
    if kind == "text":
        text = message.get("text")
        body = text.get("body") if isinstance(text, dict) else None
        if not isinstance(body, str):
            return "text message without a body"
        return Inbound(kind=InputKind.TEXT, text=body, **base)

    if kind == "interactive":
        interactive = message.get("interactive")
        if not isinstance(interactive, dict):
            return "interactive message without content"
        sub = interactive.get("type")
        if sub in ("button_reply", "list_reply"):
            reply = interactive.get(sub)
            if not isinstance(reply, dict):
                return f"interactive {sub} without content"
            inbound = _from_reply_id(reply.get("id"), reply.get("title"), base)
            return inbound or f"interactive {sub} with an unknown id and no title"
        return f"interactive reply of type {_label(sub)!r} is not handled"

    if kind == "button":  # a quick-reply button of a template message
        button = message.get("button")
        if not isinstance(button, dict):
            return "template button reply without content"
        inbound = _from_reply_id(button.get("payload"), button.get("text"), base)
        return inbound or "template button reply with an unknown payload and no text"

    if isinstance(kind, str) and kind in MEDIA_TYPES:
        caption = ""
        content = message.get(kind)
        if isinstance(content, dict) and isinstance(content.get("caption"), str):
            caption = content["caption"]
        return Inbound(kind=InputKind.MEDIA, text=caption, value=kind, **base)

    return f"message type {_label(kind)!r} is not handled"


__all__ = [
    "CHANNEL",
    "DecodedReplyId",
    "Ignored",
    "MalformedWebhook",
    "ParsedWebhook",
    "StatusUpdate",
    "WebhookError",
    "action_reply_id",
    "choice_reply_id",
    "decode_reply_id",
    "parse_webhook",
    "sign",
    "verify_signature",
]
