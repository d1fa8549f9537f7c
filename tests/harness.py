"""End-to-end harness: the real app (core + channels) against the fake platform servers.

`BotUnderTest` builds the real Core on a given database URL, imports the sample roster, creates
invitation codes, and starts the real Telegram channel (python-telegram-bot, long polling)
against a `FakeBotApi`. `TelegramChat` drives one person's chat and waits for the bot's replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import select

from bot.app import Core, build_core
from bot.runner import make_telegram
from bot.settings import Settings
from storage.invitations import ensure_invitations
from storage.models import Alumnus, Answer, Contact, Response
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotApi

SAMPLE_ROSTER = Path(str(resources.files("bot").joinpath("sample_roster.csv")))


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "school_name": "SMK Contoh",
        "school_npsn": "20100001",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class BotUnderTest:
    settings: Settings
    core: Core | None = None
    telegram: Any = None
    codes: dict[str, str] = field(default_factory=dict)  # nisn -> invitation code

    async def start(self, *, seed: bool = True) -> BotUnderTest:
        self.core = await build_core(self.settings)
        if seed:
            await import_roster(self.core.db, self.core.school.id, SAMPLE_ROSTER)
            invites = await ensure_invitations(self.core.db, self.core.school.id)
            self.codes = {a.nisn: code for a, code in invites}
        self.telegram = make_telegram(self.core)
        if self.telegram is not None:
            await self.telegram.start_polling()
        return self

    async def stop(self) -> None:
        if self.telegram is not None:
            await self.telegram.stop()
            self.telegram = None
        if self.core is not None:
            await self.core.close()
            self.core = None

    # -- database checks --
    async def alumnus(self, nisn: str) -> Alumnus:
        async with self.core.db.session() as s:
            return (await s.execute(select(Alumnus).where(Alumnus.nisn == nisn))).scalar_one()

    async def responses(self, nisn: str) -> list[tuple[Response, dict[str, Any]]]:
        alumnus = await self.alumnus(nisn)
        async with self.core.db.session() as s:
            rows = (
                (
                    await s.execute(
                        select(Response)
                        .where(Response.alumnus_id == alumnus.id)
                        .order_by(Response.id)
                    )
                )
                .scalars()
                .all()
            )
            out = []
            for r in rows:
                answers = await s.execute(
                    select(Answer.field, Answer.value).where(Answer.response_id == r.id)
                )
                out.append((r, dict(answers.all())))
            return out

    async def contact(self, channel: str, address: str) -> Contact | None:
        async with self.core.db.session() as s:
            return (
                await s.execute(
                    select(Contact).where(Contact.channel == channel, Contact.address == address)
                )
            ).scalar_one_or_none()


class TelegramChat:
    """One person's private chat with the bot through the fake Bot API."""

    def __init__(self, api: FakeBotApi, chat_id: int, **user: Any) -> None:
        self.api = api
        self.chat_id = chat_id
        self.user = user

    async def _replies(self, n: int, timeout: float) -> list[str]:
        calls = await self.api.await_new_messages(self.chat_id, n, timeout=timeout)
        return [c.text or "" for c in calls]

    async def send(self, text: str, n: int = 1, timeout: float = 10.0) -> str:
        """Send text; wait for `n` new bot messages; return the last one's text."""
        self.api.push_text(self.chat_id, text, **self.user)
        return (await self._replies(n, timeout))[-1]

    async def tap(self, label: str, n: int = 1, timeout: float = 10.0) -> str:
        self.api.tap(self.chat_id, label, **self.user)
        return (await self._replies(n, timeout))[-1]

    def buttons(self) -> list[str]:
        keyboard = self.api.last_keyboard(self.chat_id) or []
        return [b["text"] for row in keyboard for b in row]

    def last_text(self) -> str:
        message = self.api.last_message(self.chat_id)
        return (message or {}).get("text", "")
