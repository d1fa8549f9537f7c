"""`jejak outreach status|tick|resend-unknown` as an operator sees them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import OutboxMessage, School
from tests.harness import flat
from tests.harness import run_cli as jejak
from tests.test_schools import NAME_A, ROSTER_A


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    (tmp_path / "a.csv").write_text(ROSTER_A, encoding="utf-8")
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "SCHOOL_NPSN": "20100001",
        "SCHOOL_NAME": NAME_A,
        "TELEGRAM_BOT_USERNAME": "jejak_bot",
        "TELEGRAM_BOT_TOKEN": None,
        "WHATSAPP_ACCESS_TOKEN": None,
        "WHATSAPP_PHONE_NUMBER_ID": None,
        "COLUMNS": "80",
    }
    assert jejak(env, "roster", "import", "a.csv").exit_code == 0
    return env


def seed(env, *rows: tuple[str, str]) -> None:
    """Outbox rows (channel, status) for the default school."""

    async def go():
        db = Database(env["DATABASE_URL"])
        try:
            async with db.session() as s:
                school = (await s.execute(select(School))).scalars().first()
                for i, (channel, status) in enumerate(rows):
                    s.add(
                        OutboxMessage(
                            school_id=school.id,
                            purpose="reminder",
                            idempotency_key=f"test-{channel}-{status}-{i}",
                            channel=channel,
                            address=f"{1000 + i}",
                            payload={"text": "Halo"},
                            status=status,
                        )
                    )
                await s.commit()
        finally:
            await db.dispose()

    asyncio.run(go())


def test_resend_unknown_with_nothing_unknown_asks_nothing(env):
    seed(env, ("telegram", "sent"))
    result = jejak(env, "outreach", "resend-unknown")  # no input: a prompt would abort
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "nothing to resend" in out and "Resend?" not in out

    seed(env, ("telegram", "unknown"))
    result = jejak(env, "outreach", "resend-unknown", input="y\n")
    assert result.exit_code == 0, result.output
    assert "Resend?" in result.output and "1 messages queued again" in flat(result.output)


def test_status_table_is_not_cut_at_80_columns(env):
    seed(env, ("telegram", "unreachable"), ("telegram", "cancelled"))
    result = jejak(env, "outreach", "status")
    assert result.exit_code == 0, result.output
    assert "unreachable" in result.stdout and "cancelled" in result.stdout
    assert "…" not in result.stdout


def test_messages_waiting_for_an_unconfigured_channel_are_explained(env):
    """Rows for a channel without its settings stay pending: status and tick say how many and
    which settings would send them; a configured-looking channel with nothing waiting, nothing."""
    seed(env, ("telegram", "pending"), ("telegram", "pending"), ("whatsapp", "sent"))
    status = flat(jejak(env, "outreach", "status").output)
    assert "2 message(s) wait for Telegram, which is not configured here" in status
    assert "set TELEGRAM_BOT_TOKEN" in status and "wait for WhatsApp" not in status
    tick = jejak(env, "outreach", "tick")
    assert tick.exit_code == 0, tick.output
    assert "2 message(s) wait for Telegram" in flat(tick.output)

    seed(env, ("whatsapp", "pending"))
    status = flat(jejak(env, "outreach", "status").output)
    assert "1 message(s) wait for WhatsApp" in status
    assert "WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID" in status
