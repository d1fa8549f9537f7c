"""Button / list-row ids shared by every channel: "q:<question>:<code>" answers a question,
"a:<action>" is a non-questionnaire button (e.g. "a:interest:12")."""

from __future__ import annotations

from dataclasses import dataclass

from conversations.types import InputKind

CHOICE_PREFIX = "q:"
ACTION_PREFIX = "a:"


@dataclass(frozen=True, slots=True)
class DecodedReplyId:
    kind: InputKind  # CHOICE or ACTION
    value: str
    question: str | None = None


def choice_reply_id(question: str, code: str) -> str:
    """The button / row id for answering `question` with `code`: "q:<question>:<code>"."""
    if not question or ":" in question:
        raise ValueError(f"question id must be non-empty and contain no ':' ({question!r})")
    if not code:
        raise ValueError("choice code must be non-empty")
    return f"{CHOICE_PREFIX}{question}:{code}"


def action_reply_id(action: str) -> str:
    """The button id for a non-questionnaire action: "a:<action>" (e.g. "a:interest:12")."""
    if not action:
        raise ValueError("action must be non-empty")
    return f"{ACTION_PREFIX}{action}"


def decode_reply_id(reply_id: object) -> DecodedReplyId | None:
    """Decode an id made by `choice_reply_id` / `action_reply_id`; None when it is not ours."""
    if not isinstance(reply_id, str):
        return None
    if reply_id.startswith(CHOICE_PREFIX):
        question, sep, code = reply_id[len(CHOICE_PREFIX) :].partition(":")
        if sep and question and code:
            return DecodedReplyId(InputKind.CHOICE, code, question)
        return None
    if reply_id.startswith(ACTION_PREFIX):
        action = reply_id[len(ACTION_PREFIX) :]
        if action:
            return DecodedReplyId(InputKind.ACTION, action)
    return None
