"""Channel-neutral replies -> WhatsApp Cloud API message bodies (pure: no I/O).

`render(to, reply)` returns the JSON bodies to POST, in order, to `/{phone_number_id}/messages`,
each within WhatsApp's limits (lengths are counted in UTF-16 code units, which is never less
than the character count WhatsApp applies):
- no options: text, split into several messages when longer than 4096;
- 1-3 options: interactive reply buttons; titles from `Option.short` (<= 20, unique, numbered
  when two collide); when a title shortens a label, the full labels are listed in the body
  (<= 1024; longer text goes first as plain text messages);
- 4-10 options: an interactive list; button label `list_button` (<= 20); row titles the label
  when it fits 24, else the short label; row descriptions (<= 72) the full label when it is
  longer than the title, else `Option.description`;
- more than 10 options, multi-select questions, or options without a question: the text
  followed by numbered lines ("1. Bekerja"); the engine accepts typed numbers ("1,3"); options
  with `Reply.numbered` False (numeric ranges, where "4" is an amount) get bullets instead;
- `Reply.action` set: reply buttons whose ids are "a:<action>" (one option, or none: a
  single "OK" button) or "a:<action>:<code>" (several options).
Button and row ids use the format decoded by `reply_ids.decode_reply_id`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from bot.channels.base import Template
from bot.channels.reply_ids import action_reply_id, choice_reply_id
from conversations.types import Option, Reply

TEXT_MAX = 4096
BUTTON_BODY_MAX = 1024
LIST_BODY_MAX = 4096
MAX_BUTTONS = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
MAX_ROWS = 10
LIST_BUTTON_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
CAPTION_MAX = 1024
TEMPLATE_PARAMETER_MAX = 1024
ELLIPSIS = "…"
DEFAULT_LIST_BUTTON = "Pilih"
DEFAULT_ACTION_TITLE = "OK"

_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9.]+$")


def wa_len(text: str) -> int:
    """Length as WhatsApp may count it at most: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """The number of characters of `text` whose UTF-16 length is at most `limit`."""
    used = 0
    for i, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return i
    return len(text)


def fit(text: str, limit: int) -> str:
    """`text` shortened to `limit` (UTF-16 units), ending in "…" when it was cut."""
    text = text.strip()
    if wa_len(text) <= limit:
        return text
    return text[: _prefix_within(text, limit - 1)].rstrip() + ELLIPSIS


def split_text(text: str, limit: int = TEXT_MAX) -> list[str]:
    """Split `text` into chunks of at most `limit`, at paragraph, line or word breaks when it
    can (a break in the second half of the window), else hard."""
    rest = text.strip()
    chunks: list[str] = []
    while wa_len(rest) > limit:
        cut = _prefix_within(rest, limit)
        window = rest[:cut]
        at = cut
        for separator in ("\n\n", "\n", " "):
            index = window.rfind(separator)
            if index > cut // 2:
                at = index
                break
        chunk = rest[:at].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = rest[at:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def one_line(text: str) -> str:
    """Whitespace runs (newlines, tabs) collapsed to one space: titles are one line."""
    return " ".join(text.split())


def unique_titles(titles: list[str], limit: int) -> list[str]:
    """Make each title one line and fit it to `limit`; when two fitted titles collide
    (case-insensitively), number the colliding ones ("2. Bekerja"), and if that still
    collides, number all."""

    def key(title: str) -> str:
        return title.casefold()

    titles = [one_line(t) for t in titles]
    fitted = [fit(t, limit) or str(i) for i, t in enumerate(titles, 1)]
    counts = Counter(key(t) for t in fitted)
    if all(n == 1 for n in counts.values()):
        return fitted
    numbered = [
        fit(f"{i}. {raw.strip()}", limit) if counts[key(t)] > 1 else t
        for i, (raw, t) in enumerate(zip(titles, fitted, strict=True), 1)
    ]
    if len({key(t) for t in numbered}) == len(numbered):
        return numbered
    return [fit(f"{i}. {raw.strip()}", limit) for i, raw in enumerate(titles, 1)]


def address_fields(to: str) -> dict[str, str]:
    """`{"to": number}`, or `{"recipient": bsuid}` for a business-scoped user id
    (e.g. "ID.13491208655302741918") of a person who shares no phone number."""
    return {"recipient": to} if _BSUID.match(to) else {"to": to}


def _envelope(to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **address_fields(to),
        "type": kind,
        kind: content,
    }


def render_text(to: str, text: str) -> list[dict[str, Any]]:
    """Plain text message(s); [] for empty text."""
    return [
        _envelope(to, "text", {"preview_url": False, "body": chunk})
        for chunk in split_text(text, TEXT_MAX)
    ]


def numbered(options: tuple[Option, ...] | list[Option], numbers: bool = True) -> str:
    """One line per option, "1. Bekerja"; "• 1–4 orang" where a typed number is a quantity."""
    return "\n".join(
        f"{i}. {option.label}" if numbers else f"• {option.label}"
        for i, option in enumerate(options, 1)
    )


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _with_body(
    to: str, body: str, limit: int, build: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Text messages for whatever does not fit `limit`, then the interactive message with the
    last part of `body` as its body."""
    chunks = split_text(body, limit) or [""]
    before = _join(*chunks[:-1])
    return [*render_text(to, before), build(chunks[-1])]


def _buttons(
    to: str,
    text: str,
    options: list[Option],
    ids: list[str],
    titles_from: list[str],
    numbers: bool = True,
) -> list[dict[str, Any]]:
    titles = unique_titles(titles_from, BUTTON_TITLE_MAX)
    body = text
    if any(title != one_line(option.label) for title, option in zip(titles, options, strict=True)):
        body = _join(text, numbered(options, numbers))
    if not body.strip():
        body = _join(*titles)

    def build(body_text: str) -> dict[str, Any]:
        buttons = [
            {"type": "reply", "reply": {"id": rid, "title": title}}
            for rid, title in zip(ids, titles, strict=True)
        ]
        return _envelope(
            to,
            "interactive",
            {"type": "button", "body": {"text": body_text}, "action": {"buttons": buttons}},
        )

    return _with_body(to, body, BUTTON_BODY_MAX, build)


def _row_title(option: Option) -> str:
    label = one_line(option.label)
    return label if wa_len(label) <= ROW_TITLE_MAX else option.short or label


def _list(
    to: str, text: str, options: list[Option], ids: list[str], list_button: str
) -> list[dict[str, Any]]:
    raw_titles = [_row_title(option) for option in options]
    titles = unique_titles(raw_titles, ROW_TITLE_MAX)
    rows: list[dict[str, Any]] = []
    for rid, title, option in zip(ids, titles, options, strict=True):
        row: dict[str, Any] = {"id": rid, "title": title}
        label = one_line(option.label)
        description = label if label and label != title else option.description.strip()
        if description:
            row["description"] = fit(one_line(description), ROW_DESCRIPTION_MAX)
        rows.append(row)
    body = text if text.strip() else numbered(options)
    button = fit(list_button, LIST_BUTTON_MAX) or DEFAULT_LIST_BUTTON

    def build(body_text: str) -> dict[str, Any]:
        return _envelope(
            to,
            "interactive",
            {
                "type": "list",
                "body": {"text": body_text},
                "action": {"button": button, "sections": [{"rows": rows}]},
            },
        )

    return _with_body(to, body, LIST_BODY_MAX, build)


CALLBACK_DATA_MAX = 512  # biz_opaque_callback_data


def with_callback_data(
    payloads: list[dict[str, Any]], callback_data: str | None
) -> list[dict[str, Any]]:
    """Tag each message with `biz_opaque_callback_data` (Meta echoes it in that message's status
    webhooks; the outbox puts "outbox:<id>" there to confirm a row cut off mid-send)."""
    if callback_data:
        if len(callback_data) > CALLBACK_DATA_MAX:
            raise ValueError(f"biz_opaque_callback_data longer than {CALLBACK_DATA_MAX}")
        for payload in payloads:
            payload["biz_opaque_callback_data"] = callback_data
    return payloads


def render(
    to: str,
    reply: Reply,
    *,
    list_button: str = DEFAULT_LIST_BUTTON,
    callback_data: str | None = None,
) -> list[dict[str, Any]]:
    """The message bodies that show `reply` to `to` (a phone number / wa_id or a BSUID), each
    tagged with `callback_data` when given."""
    return with_callback_data(_render(to, reply, list_button=list_button), callback_data)


def _render(to: str, reply: Reply, *, list_button: str) -> list[dict[str, Any]]:
    options = list(reply.options)
    if reply.action:
        if len(options) <= 1:
            ids = [action_reply_id(reply.action)]
            if not options:
                option = Option(code="", label=DEFAULT_ACTION_TITLE, short=DEFAULT_ACTION_TITLE)
                options = [option]
        else:
            ids = [action_reply_id(f"{reply.action}:{option.code}") for option in options]
    elif options and reply.question and not reply.multi and len(options) <= MAX_ROWS:
        ids = [choice_reply_id(reply.question, option.code) for option in options]
    else:
        return render_text(to, _join(reply.text, numbered(options, reply.numbered)))

    if len(options) <= MAX_BUTTONS:
        _check_ids(ids, BUTTON_ID_MAX)
        titles = [o.short or o.label for o in options]
        return _buttons(to, reply.text, options, ids, titles, reply.numbered)
    if len(options) <= MAX_ROWS:
        _check_ids(ids, ROW_ID_MAX)
        return _list(to, reply.text, options, ids, list_button)
    return render_text(to, _join(reply.text, numbered(options, reply.numbered)))


def _check_ids(ids: list[str], limit: int) -> None:
    for rid in ids:
        if len(rid) > limit:
            raise ValueError(f"reply id longer than {limit} characters: {rid[:40]!r}...")
    if len(set(ids)) != len(ids):
        raise ValueError("reply ids are not unique (two options share a code)")


def _template_parameter(value: str) -> str:
    # template parameters may not contain newlines, tabs or runs of more than 4 spaces
    return fit(" ".join(str(value).split()), TEMPLATE_PARAMETER_MAX) or "-"


def render_template(
    to: str, template: Template, *, callback_data: str | None = None
) -> dict[str, Any]:
    """An approved template message, with body parameters and quick-reply button payloads
    (tagged with `callback_data` when given)."""
    components: list[dict[str, Any]] = []
    if template.parameters:
        components.append(
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": _template_parameter(p)} for p in template.parameters
                ],
            }
        )
    for index, payload in enumerate(template.button_payloads):
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": payload}],
            }
        )
    content: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        content["components"] = components
    return with_callback_data([_envelope(to, "template", content)], callback_data)[0]


def render_document(
    to: str, media_id: str, filename: str, caption: str | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {"id": media_id, "filename": filename}
    if caption:
        content["caption"] = fit(caption, CAPTION_MAX)
    return _envelope(to, "document", content)


def render_image(to: str, media_id: str, caption: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"id": media_id}
    if caption:
        content["caption"] = fit(caption, CAPTION_MAX)
    return _envelope(to, "image", content)


def limit_violations(payload: dict[str, Any]) -> list[str]:
    """Every WhatsApp limit a rendered message body breaks ([] when it fits). Used by the tests
    (the whole questionnaire must render within limits) and usable as a runtime guard."""
    problems: list[str] = []

    def check(value: Any, limit: int, what: str, *, required: bool = True) -> None:
        if not isinstance(value, str):
            if required:
                problems.append(f"{what} missing")
            return
        if required and not value.strip():
            problems.append(f"{what} empty")
        if wa_len(value) > limit:
            problems.append(f"{what} longer than {limit} ({wa_len(value)})")

    if payload.get("messaging_product") != "whatsapp":
        problems.append("messaging_product is not whatsapp")
    if not (payload.get("to") or payload.get("recipient")):
        problems.append("no recipient")
    kind = payload.get("type")
    content = payload.get(kind) if isinstance(kind, str) else None
    if not isinstance(content, dict):
        return [*problems, f"no content for type {kind!r}"]
    if kind == "text":
        check(content.get("body"), TEXT_MAX, "text body")
    elif kind == "interactive":
        body = content.get("body")
        sub = content.get("type")
        action = content.get("action") or {}
        if sub == "button":
            check(body.get("text") if isinstance(body, dict) else None, BUTTON_BODY_MAX, "body")
            buttons = action.get("buttons") or []
            if not 1 <= len(buttons) <= MAX_BUTTONS:
                problems.append(f"{len(buttons)} buttons")
            titles = [b.get("reply", {}).get("title", "") for b in buttons]
            ids = [b.get("reply", {}).get("id", "") for b in buttons]
            for title in titles:
                check(title, BUTTON_TITLE_MAX, f"button title {title!r}")
                if title != one_line(title):
                    problems.append(f"button title {title!r} is not one line")
            for rid in ids:
                check(rid, BUTTON_ID_MAX, "button id")
            if len({t.casefold() for t in titles}) != len(titles):
                problems.append("button titles not unique")
            if len(set(ids)) != len(ids):
                problems.append("button ids not unique")
        elif sub == "list":
            check(body.get("text") if isinstance(body, dict) else None, LIST_BODY_MAX, "body")
            check(action.get("button"), LIST_BUTTON_MAX, "list button")
            sections = action.get("sections") or []
            rows = [row for section in sections for row in section.get("rows", [])]
            if not 1 <= len(rows) <= MAX_ROWS:
                problems.append(f"{len(rows)} rows")
            for row in rows:
                check(row.get("title"), ROW_TITLE_MAX, f"row title {row.get('title')!r}")
                if isinstance(row.get("title"), str) and row["title"] != one_line(row["title"]):
                    problems.append(f"row title {row['title']!r} is not one line")
                check(row.get("id"), ROW_ID_MAX, "row id")
                description = row.get("description")
                check(description, ROW_DESCRIPTION_MAX, "row description", required=False)
            if len({row.get("id") for row in rows}) != len(rows):
                problems.append("row ids not unique")
            if len({str(row.get("title")).casefold() for row in rows}) != len(rows):
                problems.append("row titles not unique")
        else:
            problems.append(f"unknown interactive type {sub!r}")
    elif kind in ("document", "image"):
        check(content.get("id"), 200, "media id")
        check(content.get("caption"), CAPTION_MAX, "caption", required=False)
    elif kind == "template":
        check(content.get("name"), 512, "template name")
        for component in content.get("components") or []:
            for parameter in component.get("parameters") or []:
                text = parameter.get("text")
                if text is not None:
                    check(text, TEMPLATE_PARAMETER_MAX, "template parameter")
                    if "\n" in text or "\t" in text or "     " in text:
                        problems.append("template parameter has newlines, tabs or 5 spaces")
    return problems


__all__ = [
    "address_fields",
    "fit",
    "limit_violations",
    "render",
    "render_document",
    "render_image",
    "render_template",
    "render_text",
    "split_text",
    "unique_titles",
    "wa_len",
]
