"""Group commit in the conversation shell (bot/conversation.py): many people's messages in one
transaction (a plain one; redone with a SAVEPOINT per message when one fails); one message
that fails is rolled back alone; every answer is committed before its reply reaches the
platform. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot import metrics
from conversations.types import Inbound, InputKind, Outcome
from storage.db import Database
from storage.invitations import ensure_invitations
from storage.models import Contact, InboundEvent, Response
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import BotUnderTest, TelegramChat, make_settings, start_inbound

pytestmark = pytest.mark.postgres


class Boom(RuntimeError):
    pass


def failing_hook(addresses: set[str], text: str | None = None):
    """A chat hook that raises for these chats (for one text only, when given)."""

    async def hook(session, contact, inbound):
        if inbound.address in addresses and (text is None or inbound.text == text):
            contact.language = "en"  # a change that must not survive
            raise Boom(inbound.address)
        return None

    return hook


async def committed_ids(db: Database) -> set[str]:
    async with db.session() as s:
        return set((await s.execute(select(InboundEvent.external_id))).scalars())


async def contact_addresses(db: Database) -> set[str]:
    async with db.session() as s:
        return set((await s.execute(select(Contact.address))).scalars())


async def test_one_failing_message_rolls_back_alone_in_a_shared_batch(db_url, db):
    bot = await BotUnderTest(make_settings(db_url)).start(seed=False)
    try:
        service = bot.core.service
        assert service.group_commit
        service.add_hook(failing_hook({"bad"}))
        # warm up: the school directory is loaded, so every handle() below queues at once
        first = await service.handle(start_inbound("100", "e:100"))
        assert first.replies and not first.duplicate
        batches = service.group_stats.batches

        inbounds = [start_inbound(str(200 + i), f"e:{200 + i}") for i in range(30)]
        inbounds.insert(10, start_inbound("bad", "e:bad"))
        inbounds.append(
            start_inbound("999", "e:205")
        )  # another chat with an already-queued event id
        results = await asyncio.gather(
            *(service.handle(i) for i in inbounds), return_exceptions=True
        )

        # one batch, one transaction, for all 32 messages
        assert service.group_stats.batches == batches + 1
        assert service.group_stats.largest == len(inbounds)
        by_address = dict(zip([i.address for i in inbounds], results, strict=True))
        assert isinstance(by_address["bad"], Boom)
        assert by_address["999"] == Outcome(duplicate=True)
        good = [str(200 + i) for i in range(30)]
        for address in good:
            outcome = by_address[address]
            assert isinstance(outcome, Outcome) and not outcome.duplicate
            assert "setuju" in outcome.replies[-1].text.lower()

        # committed: every good message; not the failing one, not the duplicate's chat
        ids = await committed_ids(db)
        assert {f"e:{a}" for a in good} <= ids
        assert "e:bad" not in ids
        addresses = await contact_addresses(db)
        assert set(good) <= addresses
        assert "bad" not in addresses and "999" not in addresses

        # a redelivered event is a duplicate; the failed chat works once the fault is gone
        again = await service.handle(start_inbound("210", "e:210"))
        assert again.duplicate and not again.replies
        service.hooks.clear()
        retry = await service.handle(start_inbound("bad", "e:bad"))
        assert not retry.duplicate and retry.replies
        assert "bad" in await contact_addresses(db)
    finally:
        await bot.stop()


async def test_a_batch_without_failures_is_one_plain_transaction(db_url, db):
    """No savepoints unless something fails: the batch's event ids go in one statement, and an
    event id that appears twice in the batch is handled once (the first in arrival order)."""
    bot = await BotUnderTest(make_settings(db_url)).start(seed=False)
    try:
        service = bot.core.service
        await service.handle(start_inbound("100", "e:100"))  # warm up (school directory loaded)
        savepoints = 0

        def count_savepoints(*_args: Any) -> None:
            nonlocal savepoints
            savepoints += 1

        event.listen(bot.core.db.engine.sync_engine, "savepoint", count_savepoints)
        inbounds = [start_inbound(str(300 + i), f"e:{300 + i}") for i in range(20)]
        inbounds.append(
            start_inbound("399", "e:305")
        )  # same event id as chat 305, later in the batch
        inbounds.append(start_inbound("398", "e:100"))  # an event id committed before
        results = await asyncio.gather(*(service.handle(i) for i in inbounds))
        by_address = dict(zip([i.address for i in inbounds], results, strict=True))
        assert savepoints == 0
        assert service.group_stats.largest == len(inbounds)
        assert by_address["399"] == Outcome(duplicate=True)
        assert by_address["398"] == Outcome(duplicate=True)
        assert not by_address["305"].duplicate and by_address["305"].replies
        assert {f"e:{300 + i}" for i in range(20)} <= await committed_ids(db)
        addresses = await contact_addresses(db)
        assert {str(300 + i) for i in range(20)} <= addresses
        assert not {"399", "398"} & addresses
    finally:
        await bot.stop()


async def test_a_completion_in_a_redone_batch_is_counted_once(db_url, db):
    """A batch with a failing message is rolled back and redone message by message: the
    questionnaire another person completed in it is committed and counted once."""
    bot = await BotUnderTest(make_settings(db_url)).start()
    try:
        service = bot.core.service
        code = next(iter(bot.codes.values()))

        def text(value: str, n: int) -> Inbound:
            return Inbound(
                channel="telegram",
                address="500",
                kind=InputKind.TEXT,
                text=value,
                external_id=f"p:{n}",
            )

        first = await service.handle(
            Inbound(
                channel="telegram",
                address="500",
                kind=InputKind.START,
                text=f"/start {code}",
                value=code,
                external_id="p:0",
            )
        )
        assert "setuju" in first.replies[-1].text.lower()
        for n, value in enumerate(["setuju", "ya", "ya", "6", "sakit"], start=1):
            outcome = await service.handle(text(value, n))
            assert outcome.replies, value
        service.add_hook(failing_hook({"bad"}))
        before = metrics.COMPLETIONS.get(channel="telegram")
        last, failed = await asyncio.gather(
            service.handle(text("lewati", 6)),
            service.handle(start_inbound("bad", "e:bad")),
            return_exceptions=True,
        )
        assert isinstance(failed, Boom)
        assert "Terima kasih" in last.replies[-1].text
        assert metrics.COMPLETIONS.get(channel="telegram") == before + 1
        async with bot.core.db.session() as s:
            done = (
                await s.execute(
                    select(func.count())
                    .select_from(Response)
                    .where(Response.completed_at.is_not(None))
                )
            ).scalar_one()
        assert done == 1
        assert "e:bad" not in await committed_ids(db)
    finally:
        await bot.stop()


# ---- end to end: 50 chats at once through the fake Bot API ----------------------------------
PEOPLE = 50
STEPS = [
    ("tap", "Setuju"),
    ("tap", "Ya, benar"),
    ("tap", "Ya"),
    ("send", "6"),
    ("send", "sakit"),
    ("send", "lewati"),
]


class CheckingBotApi(FakeBotApi):
    """Each time the bot sends a message to a chat, looks in the database (from the test's
    event loop, on a connection of its own) whether the update it answers was committed; the
    bot's request waits for the answer, so nothing can be committed meanwhile."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.reader: Database | None = None
        self.bot_id = int(self.token.split(":", 1)[0])
        self.last_update: dict[int, int] = {}  # chat -> update_id the bot is answering
        self.checked = 0
        self.violations: list[str] = []

    def _dispatch(self, method, handler, params, files):  # runs on the server thread
        chat = params.get("chat_id")
        if method == "sendMessage" and self.loop is not None and chat is not None:
            chat = int(chat)
            update_id = self.last_update.get(chat)
            if update_id is not None:
                key = f"{self.bot_id}:{update_id}"
                committed = asyncio.run_coroutine_threadsafe(self._committed(key), self.loop)
                if committed.result(timeout=30):
                    self.checked += 1
                else:
                    self.violations.append(f"chat {chat}: reply before update {key} committed")
        return super()._dispatch(method, handler, params, files)

    async def _committed(self, external_id: str) -> bool:
        async with self.reader.session() as s:
            found = await s.execute(
                select(InboundEvent.external_id).where(
                    InboundEvent.channel == "telegram", InboundEvent.external_id == external_id
                )
            )
            return found.first() is not None


class Chat(TelegramChat):
    async def send(self, text: str, n: int = 1, timeout: float = 30.0) -> str:
        update = self.api.push_text(self.chat_id, text)
        self.api.last_update[self.chat_id] = update["update_id"]  # before the bot can run
        return (await self._replies(n, timeout))[-1]

    async def tap(self, label: str, n: int = 1, timeout: float = 30.0) -> str:
        update = self.api.tap(self.chat_id, label)
        self.api.last_update[self.chat_id] = update["update_id"]
        return (await self._replies(n, timeout))[-1]


def write_roster(path: Path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(
            ["nisn", "nama", "tanggal_lahir", "kelas", "jurusan", "tahun_lulus", "wali_kelas"]
        )
        for i in range(n):
            nisn = f"{82000000 + i:010d}"
            w.writerow([nisn, f"Siswa {i}", "14/03/2007", "XII TKJ 1", "TKJ", "2025", ""])


async def test_fifty_chats_at_once_every_reply_after_its_commit(db_url, db, tmp_path):
    with CheckingBotApi() as api:
        settings = make_settings(
            db_url, telegram_bot_token=api.token, telegram_api_url=api.url, telegram_concurrency=64
        )
        bot = await BotUnderTest(settings).start(seed=False)
        api.loop = asyncio.get_running_loop()
        api.reader = Database(db_url)
        try:
            roster = tmp_path / "roster.csv"
            write_roster(roster, PEOPLE)
            await import_roster(bot.core.db, bot.core.school.id, roster)
            invites = await ensure_invitations(bot.core.db, bot.core.school.id)
            codes = [code for _, code in sorted(invites, key=lambda ac: ac[0].nisn)]
            assert len(codes) == PEOPLE
            service = bot.core.service
            bad_chat = 7000 + 13
            service.add_hook(failing_hook({str(bad_chat)}, text="boom"))

            async def person(i: int) -> str:
                chat = Chat(api, 7000 + i)
                text = await chat.send(f"/start {codes[i]}")
                assert "setuju" in text.lower()
                if chat.chat_id == bad_chat:  # fails inside a batch: no reply, no commit
                    update = api.push_text(chat.chat_id, "boom")
                    api.last_update[chat.chat_id] = update["update_id"]
                    await asyncio.sleep(1.0)
                    assert api.last_message(chat.chat_id)["text"] == text
                    boom_id = f"{api.bot_id}:{update['update_id']}"
                    assert boom_id not in await committed_ids(bot.core.db)
                    contact = await bot.contact("telegram", str(bad_chat))
                    assert contact.language == "id"
                for how, value in STEPS:
                    text = await (chat.tap(value) if how == "tap" else chat.send(value))
                return text

            texts = await asyncio.wait_for(
                asyncio.gather(*(person(i) for i in range(PEOPLE))), timeout=120
            )
            assert all("Terima kasih, jawaban Anda sudah tersimpan" in t for t in texts)
            assert api.violations == []
            assert api.checked >= PEOPLE * (len(STEPS) + 1)
            stats = service.group_stats
            assert stats.failed == 1
            assert stats.largest > 1 and stats.batches < stats.items  # batches did form
            async with bot.core.db.session() as s:
                completed = (
                    await s.execute(
                        select(func.count())
                        .select_from(Response)
                        .where(
                            Response.completed_at.is_not(None), Response.status == "tidak_mencari"
                        )
                    )
                ).scalar_one()
            assert completed == PEOPLE
        finally:
            await bot.stop()
            await api.reader.dispose()
