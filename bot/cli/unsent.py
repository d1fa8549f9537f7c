"""Messages waiting in the outbox for a channel this installation has not configured.

`vacancy publish`, `outreach tick` and `outreach status` say how many there are and which
settings would send them; otherwise they sit as "pending" with nothing to explain why.
"""

from __future__ import annotations

from bot.runner import whatsapp_missing
from bot.settings import Settings
from storage import outbox
from storage.db import Database

NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}


def missing_settings(settings: Settings, channel: str) -> list[str]:
    """The settings a channel still needs before anything can be sent on it."""
    if channel == "telegram":
        return [] if settings.telegram_bot_token else ["TELEGRAM_BOT_TOKEN"]
    if channel == "whatsapp":
        return whatsapp_missing(settings)
    return []


async def waiting_notes(
    db: Database, settings: Settings, school_id: int | None = None
) -> list[str]:
    """One line per unconfigured channel that has messages waiting for it."""
    async with db.session() as session:
        unsent = await outbox.unsent_by_channel(session, school_id=school_id)
    notes = []
    for channel, n in sorted(unsent.items()):
        missing = missing_settings(settings, channel)
        if n and missing:
            notes.append(
                f"{n} message(s) wait for {NAMES.get(channel, channel)}, which is not "
                f"configured here: set {', '.join(missing)} (then `jejak run`, or "
                "`jejak outreach tick`, sends them)."
            )
    return notes
