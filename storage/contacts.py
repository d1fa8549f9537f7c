"""Contact-level updates made outside a conversation (delivery outcomes)."""

from __future__ import annotations

from sqlalchemy import update

from storage.db import Database
from storage.models import Contact, utcnow


async def mark_unreachable(db: Database, channel: str, address: str, reason: str) -> None:
    """The person blocked the bot or the number cannot receive messages: stop outreach to it."""
    async with db.session() as session:
        await session.execute(
            update(Contact)
            .where(Contact.channel == channel, Contact.address == address)
            .values(unreachable_at=utcnow(), unreachable_reason=reason[:200])
        )
        await session.commit()


async def mark_reachable(db: Database, channel: str, address: str) -> None:
    async with db.session() as session:
        await session.execute(
            update(Contact)
            .where(Contact.channel == channel, Contact.address == address)
            .values(unreachable_at=None, unreachable_reason=None)
        )
        await session.commit()
