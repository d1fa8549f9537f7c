"""The console channel: a chat in the terminal (`jejak demo`), one input line per message.

Choices are shown as numbered lines; typing the number, the label or a part of it answers. Where a
typed number is an amount (options that are numeric ranges: "4" is 4 people) they are bullets.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from conversations.types import Inbound, InputKind, Reply

CHANNEL = "console"


def to_inbound(line: str, address: str, seq: int, run: str = "") -> Inbound:
    """One typed line as a message. Its id is `address:run:seq`: the service drops a message
    whose id it has seen, so a chat that goes on in a later run (`jejak demo --keep`) needs a
    `run` of its own (the line number `seq` restarts at 1 each run)."""
    external_id = f"{address}:{run}:{seq}" if run else f"{address}:{seq}"
    text = line.rstrip("\r\n")
    stripped = text.strip()
    if stripped.lower().startswith("/start"):
        parts = stripped.split(None, 1)
        code = parts[1].strip() if len(parts) > 1 else None
        return Inbound(
            CHANNEL,
            address,
            InputKind.START,
            text=stripped,
            value=code,
            external_id=external_id,
        )
    return Inbound(CHANNEL, address, InputKind.TEXT, text=text, external_id=external_id)


def render(reply: Reply) -> str:
    lines = [reply.text]
    if reply.attachment is not None:  # the terminal shows what a chat app would attach
        kind = "foto" if reply.attachment.kind == "photo" else "dokumen"
        lines.append(f"  [{kind}: {reply.attachment.filename}]")
    for number, option in enumerate(reply.options, start=1):
        lines.append(f"  {number}. {option.label}" if reply.numbered else f"  - {option.label}")
    return "\n".join(lines)


def print_replies(
    replies: Iterable[Reply], out: TextIO = sys.stdout, prefix: str = "bot> "
) -> None:
    for reply in replies:
        body = render(reply).replace("\n", "\n" + " " * len(prefix))
        out.write(f"{prefix}{body}\n\n")
    out.flush()
