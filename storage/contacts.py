"""Contact-level updates made outside a conversation (delivery outcomes)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

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


async def contact_id(session: AsyncSession, channel: str, address: str) -> int | None:
    return (
        await session.execute(
            select(Contact.id).where(Contact.channel == channel, Contact.address == address)
        )
    ).scalar_one_or_none()
