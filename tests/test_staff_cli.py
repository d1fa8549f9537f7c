"""Staff roles: storage helpers (who sees which class, invitation codes) and `jejak staff`."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import _register, app
from storage import staff as st
from storage.db import Database
from storage.models import Staff, StaffInvitation, utcnow
from tests.fixtures.reports_fixture import build, build_sqlite_file

pytestmark = pytest.mark.postgres


# --- storage helpers ---------------------------------------------------------------------------


async def test_roles_and_classes(db):
    f = await build(db)
    async with db.session() as s:
        with pytest.raises(st.StaffError, match="Unknown role 'guru'"):
            await st.add_staff(s, f.school_id, role="guru", name="X")
        with pytest.raises(st.StaffError, match=r"Known classes: XII RPL 1, XII TKJ 1"):
            await st.add_staff(s, f.school_id, role="teacher", name="X", kelas=["XII TKJ 9"])

        # matched from the roster's wali_kelas, whatever the case and spacing
        sri = await st.add_staff(
            s, f.school_id, role="teacher", name="  bu SRI   wahyuni ", telegram_id="111"
        )
        assert await st.classes_for(s, sri) == ["XII TKJ 1"]
        assert await st.can_see_class(s, sri, "xii tkj 1")
        assert not await st.can_see_class(s, sri, "XII RPL 1")
        # explicit class, name not on the roster
        ani = await st.add_staff(
            s,
            f.school_id,
            role="teacher",
            name="Ani",
            whatsapp="6281200000001",
            kelas=["xii rpl 1"],
        )
        assert await st.classes_for(s, ani) == ["XII RPL 1"]
        assert not await st.can_see_class(s, ani, "XII TKJ 1")
        nobody = await st.add_staff(s, f.school_id, role="teacher", name="Guru Baru")
        assert await st.classes_for(s, nobody) == []
        bkk = await st.add_staff(s, f.school_id, role="bkk", name="Pak BKK", telegram_id="222")
        assert await st.classes_for(s, bkk) == ["XII RPL 1", "XII TKJ 1"]
        assert st.is_school_wide(bkk) and not st.is_school_wide(sri)

        assert (await st.find_staff(s, "telegram", "111")).id == sri.id
        assert (await st.find_staff(s, "whatsapp", "6281200000001")).id == ani.id
        assert await st.find_staff(s, "telegram", "6281200000001") is None
        assert await st.find_staff(s, "console", "111") is None
        # an alumnus's chat is not staff
        assert await st.find_staff(s, "whatsapp", "whatsapp-1") is None
        assert not await st.can_see_class(s, None, "XII TKJ 1")

        listed = await st.list_staff(s, f.school_id)
        assert [(m.name, k) for m, k in listed] == [
            ("Pak BKK", []),
            ("Ani", ["XII RPL 1"]),
            ("Guru Baru", []),
            ("bu SRI wahyuni", []),
        ]
        assert await st.remove_staff(s, f.school_id, sri.id) is not None
        assert await st.remove_staff(s, f.school_id, sri.id) is None
        assert await st.remove_staff(s, f.other_school_id, ani.id) is None
        assert await st.find_staff(s, "telegram", "111") is None
        removed = await s.get(Staff, sri.id)
        assert await st.classes_for(s, removed) == []
        assert not await st.can_see_class(s, removed, "XII TKJ 1")


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("S-{c}", True),
        ("s-{l}", True),
        (" s {c} ", True),
        ("/start S-{c}", True),
        ("https://t.me/jejak_bot?start=S-{c}", True),
        ("{c}", False),  # an alumni-style code
        ("S-{c}X", False),
        ("S-{c0}", False),
        ("", False),
    ],
)
def test_normalise_staff_code(typed, ok):
    code = "7KQ2M9XRTA"
    text = typed.format(c=code, l=code.lower(), c0=code[:-1] + "0")
    assert st.normalise_staff_code(text) == (f"S-{code}" if ok else None)
    assert st.is_staff_invitation_code(text) is ok


async def test_invitation_redeem_once(db):
    f = await build(db)
    async with db.session() as s:
        with pytest.raises(st.StaffError, match="needs --kelas or --name"):
            await st.create_invitation(s, f.school_id, role="teacher")
        inv = await st.create_invitation(s, f.school_id, role="teacher", kelas=["XII RPL 1"])
        assert re.fullmatch(r"S-[23456789A-HJKMNP-Z]{10}", inv.code)
        other = await st.create_invitation(s, f.school_id, role="teacher", kelas=["XII RPL 1"])
        assert other.code != inv.code

        member = await st.redeem_invitation(
            s, inv.code.lower(), "whatsapp", "6281300000001", display_name="Bu Rina"
        )
        assert (member.role, member.name, member.whatsapp) == (
            "teacher",
            "Bu Rina",
            "6281300000001",
        )
        assert await st.classes_for(s, member) == ["XII RPL 1"]
        used = await s.get(StaffInvitation, inv.code)
        assert used.used_by_contact == "whatsapp:6281300000001" and used.used_at is not None
        # one time only, whoever tries
        assert await st.redeem_invitation(s, inv.code, "telegram", "999") is None
        assert await st.redeem_invitation(s, "S-2222222222", "telegram", "999") is None
        assert await st.find_staff(s, "telegram", "999") is None

        # the same chat redeeming a second code: one staff row, classes merged
        bkk = await st.create_invitation(s, f.school_id, role="teacher", kelas=["XII TKJ 1"])
        again = await st.redeem_invitation(s, bkk.code, "whatsapp", "6281300000001")
        assert again.id == member.id
        assert await st.classes_for(s, again) == ["XII RPL 1", "XII TKJ 1"]
        count = len((await s.execute(select(Staff))).scalars().all())
        assert count == 1

        # expired
        old = await st.create_invitation(s, f.school_id, role="bkk", name="Pak Lama")
        later = utcnow() + st.INVITATION_MAX_AGE + timedelta(minutes=1)
        assert await st.redeem_invitation(s, old.code, "telegram", "555", now=later) is None
        fresh = await st.redeem_invitation(s, old.code, "telegram", "555")
        assert (fresh.role, fresh.name, fresh.telegram_id) == ("bkk", "Pak Lama", "555")


# --- CLI ---------------------------------------------------------------------------------------

runner = CliRunner()
_register()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    url, built = build_sqlite_file(tmp_path / "cli.db")
    return {"DATABASE_URL": url, "SCHOOL_NPSN": "20100001", "SCHOOL_NAME": "SMK Uji"}


def _invoke(env, *args):
    result = runner.invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _staff_rows(url: str) -> list[Staff]:
    async def go():
        db = Database(url)
        try:
            async with db.session() as s:
                return list((await s.execute(select(Staff).order_by(Staff.id))).scalars())
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_cli_staff_add_list_remove(cli_env):
    r = _invoke(
        cli_env, "staff", "add", "--role", "teacher", "--name", "Bu Sri Wahyuni",
        "--whatsapp", "0812-3456-7890", "--kelas", "XII RPL 1",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Added staff #1: Bu Sri Wahyuni (teacher)" in _flat(r.stdout)
    assert "Classes: XII RPL 1, XII TKJ 1" in _flat(r.stdout)  # explicit + wali_kelas
    [row] = _staff_rows(cli_env["DATABASE_URL"])
    assert (row.whatsapp, row.telegram_id, row.school_id) == ("6281234567890", None, 1)

    r = _invoke(
        cli_env, "staff", "add", "--role", "bkk", "--name", "Pak BKK", "--telegram-id", "42"
    )
    assert r.exit_code == 0, r.output

    r = _invoke(cli_env, "staff", "add", "--role", "kepala", "--name", "X")
    assert r.exit_code == 2 and "Unknown role 'kepala'" in _flat(r.stderr)
    r = _invoke(cli_env, "staff", "add", "--role", "teacher", "--name", "X", "--kelas", "XII AKL 1")
    assert r.exit_code == 2
    assert "Unknown class XII AKL 1. Known classes: XII RPL 1, XII TKJ 1" in _flat(r.stderr)
    r = _invoke(cli_env, "staff", "add", "--role", "bkk", "--name", "X", "--whatsapp", "12")
    assert r.exit_code == 2 and "not a valid phone number" in _flat(r.stderr)
    r = _invoke(cli_env, "staff", "add", "--role", "bkk", "--name", "X", "--telegram-id", "@x")
    assert r.exit_code == 2
    assert len(_staff_rows(cli_env["DATABASE_URL"])) == 2

    listed = _invoke(cli_env, "staff", "list").stdout.split()  # the table wraps at 80 columns
    assert {"Sri", "Wahyuni", "6281234567890", "BKK", "42", "all"} <= set(listed)

    r = _invoke(cli_env, "staff", "remove", "1")
    assert r.exit_code == 0 and "Removed staff #1" in r.stdout
    assert "Wahyuni" not in _invoke(cli_env, "staff", "list").stdout
    assert "Wahyuni" in _invoke(cli_env, "staff", "list", "--all").stdout
    r = _invoke(cli_env, "staff", "remove", "1")
    assert r.exit_code == 1 and "No active staff member with id 1" in _flat(r.stderr)


def test_cli_staff_invite(cli_env):
    r = _invoke(cli_env, "staff", "invite", "--role", "teacher", "--kelas", "XII TKJ 1")
    assert r.exit_code == 0, r.output
    code = r.stdout.split()[0]
    assert st.is_staff_invitation_code(code)

    async def redeem():
        db = Database(cli_env["DATABASE_URL"])
        try:
            async with db.session() as s:
                member = await st.redeem_invitation(s, code, "telegram", "7001")
                return member, await st.classes_for(s, member)
        finally:
            await db.dispose()

    member, classes = asyncio.run(redeem())
    assert member.role == "teacher" and classes == ["XII TKJ 1"]

    r = _invoke(cli_env, "staff", "invite", "--role", "teacher", "--kelas", "XII ZZZ 1")
    assert r.exit_code == 2 and "Known classes: XII RPL 1, XII TKJ 1" in _flat(r.stderr)
    r = _invoke(cli_env, "staff", "invite", "--role", "boss")
    assert r.exit_code == 2
