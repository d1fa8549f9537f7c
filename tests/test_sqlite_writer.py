"""SQLite write transactions (storage/db.py): BEGIN IMMEDIATE runs on the event loop's thread
when the write lock is free, and waits on aiosqlite's thread, never on the event loop, when
another process (a CLI command, say) holds it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from sqlalchemy import select

from storage.db import BUSY_TIMEOUT_MS, InlineSqliteConnection
from storage.models import Contact, InboundEvent
from tests.harness import BotUnderTest, make_settings, start_inbound


async def test_a_message_waits_for_another_processs_write_lock_without_blocking_the_loop(
    db_url, db, tmp_path
):
    bot = await BotUnderTest(make_settings(db_url)).start(seed=False)
    try:
        service = bot.core.service
        await service.handle(start_inbound("100", "e:100"))  # warm up: a free lock, begun inline

        path = db_url.split("///", 1)[1]
        other = sqlite3.connect(path, check_same_thread=False)  # "another process"
        other.execute("BEGIN IMMEDIATE")
        released = threading.Event()

        def release_later() -> None:
            time.sleep(0.6)
            other.commit()
            released.set()

        threading.Thread(target=release_later, daemon=True).start()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while not released.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        started = time.monotonic()
        outcome = await service.handle(start_inbound("200", "e:200"))
        waited = time.monotonic() - started
        await tick_task
        other.close()

        assert outcome.replies and not outcome.duplicate
        assert waited >= 0.5  # it did wait for the lock ...
        assert ticks >= 20  # ... while the event loop kept running other work
        async with db.session() as s:
            ids = set((await s.execute(select(InboundEvent.external_id))).scalars())
            addresses = set((await s.execute(select(Contact.address))).scalars())
        assert {"e:100", "e:200"} <= ids and {"100", "200"} <= addresses

        # the connection's busy timeout is back to normal after the non-waiting attempt
        async with db.session() as s:
            connection = await s.connection()
            raw = await connection.get_raw_connection()
            assert isinstance(raw.driver_connection, InlineSqliteConnection)
            timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert timeout == BUSY_TIMEOUT_MS
    finally:
        await bot.stop()
