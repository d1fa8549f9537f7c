"""`jejak vacancy add`: bad input is refused with a clear message and saves nothing (no draft
left behind by a refused --publish, no "all majors" from an empty --majors)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import OutboxMessage, Vacancy
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
        "COLUMNS": "200",
    }
    assert jejak(env, "roster", "import", "a.csv").exit_code == 0
    return env


def add(env, *extra, majors="TKJ", deadline="2099-01-01"):
    return jejak(
        env, "vacancy", "add", "--company", "PT Maju", "--position", "Teknisi",
        "--majors", majors, "--location", "Bekasi", "--deadline", deadline, *extra,
    )  # fmt: skip


def counts(env) -> tuple[int, int]:
    async def go():
        db = Database(env["DATABASE_URL"])
        try:
            async with db.session() as s:
                v = (await s.execute(select(func.count()).select_from(Vacancy))).scalar_one()
                o = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
                return v, o
        finally:
            await db.dispose()

    return asyncio.run(go())


@pytest.mark.parametrize("majors", ["", ",", " , ; ", ";"])
def test_empty_majors_are_refused_not_all(env, majors):
    result = add(env, "--publish", majors=majors)
    assert result.exit_code == 2, result.output
    message = flat(result.output)
    assert "no major given" in message and '"all" for every major' in message
    assert counts(env) == (0, 0)


def test_all_majors_must_be_explicit(env):
    result = add(env, majors="all")
    assert result.exit_code == 0, result.output
    assert "all" in jejak(env, "vacancy", "list").stdout


@pytest.mark.parametrize("publish", [True, False])
def test_past_deadline_saves_nothing_however_often_retried(env, publish):
    extra = ("--publish",) if publish else ()
    for _ in range(3):
        result = add(env, *extra, deadline="2020-01-01")
        assert result.exit_code == 1, result.output
        assert "2020-01-01 has passed" in flat(result.output)
        assert "nothing was saved" in flat(result.output)
    assert counts(env) == (0, 0)
    assert "2020-01-01" not in jejak(env, "vacancy", "list").stdout


def test_unknown_major_with_publish_saves_nothing(env):
    result = add(env, "--publish", majors="TKJ,MESIN")
    assert result.exit_code == 1 and "MESIN" in flat(result.output)
    assert counts(env) == (0, 0)


def test_interested_shows_how_to_reach_each_graduate(env):
    assert add(env, majors="TKJ").exit_code == 0

    async def seed():
        from storage.models import Alumnus, Contact, VacancyInterest

        db = Database(env["DATABASE_URL"])
        try:
            async with db.session() as s:
                ani, adi = (await s.execute(select(Alumnus).order_by(Alumnus.name))).scalars()
                adi.phone = None
                for alumnus, username in ((ani, "ani_s"), (adi, None)):
                    contact = Contact(
                        channel="telegram",
                        address=f"20{alumnus.id}",
                        alumnus_id=alumnus.id,
                        username=username,
                    )
                    s.add(contact)
                    await s.flush()
                    s.add(
                        VacancyInterest(vacancy_id=1, alumnus_id=alumnus.id, contact_id=contact.id)
                    )
                await s.commit()
                return ani.phone
        finally:
            await db.dispose()

    phone = asyncio.run(seed())
    result = jejak(env, "vacancy", "interested", "1")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert f"Telegram t.me/ani_s; phone +{phone}" in out
    assert "Telegram without a username or phone number: reachable only through this bot" in out
    assert "Telegram chat" not in out and "2 interested" in out


def test_refused_publish_names_no_vacancy_number(env):
    """--publish refused (the deadline is today, quiet hours until tomorrow): the message names
    no vacancy number, since none was saved."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()
    # quiet from 00:00:01 to 00:00: the first allowed moment is tomorrow midnight
    quiet = {"QUIET_HOURS_START": "00:00:01", "QUIET_HOURS_END": "00:00"}
    result = add({**env, **quiet}, "--publish", deadline=today)
    assert result.exit_code == 1, result.output
    message = flat(result.output)
    assert "is today and no message may go out" in message and "nothing was saved" in message
    assert "#" not in message
    assert counts(env) == (0, 0)


def test_vacancy_list_is_not_cut_at_80_columns(env):
    """Piped output (an SSH session's `| less`, cron mail) at COLUMNS=80: deadline and status
    whole."""
    assert add(env, "--description", "x" * 60, deadline="2099-12-31").exit_code == 0
    out = jejak({**env, "COLUMNS": "80"}, "vacancy", "list").stdout
    assert "2099-12-31" in out and "draft" in out and "Interested" in out
    assert "…" not in out
