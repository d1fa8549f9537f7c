"""Staff roles: storage helpers (who sees which class, invitation codes) and `jejak staff`."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from bot.cli import _register, app
from storage import staff as st
from storage.db import Database
from storage.models import Alumnus, Staff, StaffInvitation, utcnow
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
        assert await st.cohorts_for(s, sri) == [("XII TKJ 1", 2025), ("XII TKJ 1", 2024)]
        assert await st.can_see_cohort(s, sri, "xii tkj 1", 2024)
        assert not await st.can_see_cohort(s, sri, "XII RPL 1", 2024)
        # explicit class, name not on the roster
        ani = await st.add_staff(
            s,
            f.school_id,
            role="teacher",
            name="Ani",
            whatsapp="6281200000001",
            kelas=["xii rpl 1"],
        )
        assert await st.cohorts_for(s, ani) == [("XII RPL 1", 2024)]
        assert not await st.can_see_cohort(s, ani, "XII TKJ 1", 2024)
        nobody = await st.add_staff(s, f.school_id, role="teacher", name="Guru Baru")
        assert await st.cohorts_for(s, nobody) == []
        bkk = await st.add_staff(s, f.school_id, role="bkk", name="Pak BKK", telegram_id="222")
        assert await st.cohorts_for(s, bkk) == [
            ("XII TKJ 1", 2025),
            ("XII RPL 1", 2024),
            ("XII TKJ 1", 2024),
        ]
        assert st.is_school_wide(bkk) and not st.is_school_wide(sri)

        assert (await st.find_staff(s, "telegram", "111")).id == sri.id
        assert (await st.find_staff(s, "whatsapp", "6281200000001")).id == ani.id
        assert await st.find_staff(s, "telegram", "6281200000001") is None
        assert await st.find_staff(s, "console", "111") is None
        # an alumnus's chat is not staff
        assert await st.find_staff(s, "whatsapp", "whatsapp-1") is None
        assert not await st.can_see_cohort(s, None, "XII TKJ 1", 2024)

        listed = await st.list_staff(s, f.school_id)
        assert [(m.name, k) for m, k in listed] == [
            ("Pak BKK", []),
            ("Ani", [("XII RPL 1", 2024)]),
            ("Guru Baru", []),
            ("bu SRI wahyuni", []),
        ]
        assert await st.remove_staff(s, f.school_id, sri.id) is not None
        assert await st.remove_staff(s, f.school_id, sri.id) is None
        assert await st.remove_staff(s, f.other_school_id, ani.id) is None
        assert await st.find_staff(s, "telegram", "111") is None
        removed = await s.get(Staff, sri.id)
        assert await st.cohorts_for(s, removed) == []
        assert not await st.can_see_cohort(s, removed, "XII TKJ 1", 2024)


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("S-{c}", True),
        ("s-{l}", True),
        (" s-{c} ", True),
        ("s {c}", False),  # as printed, "S-" and all: nothing else is a code
        ("S-{c4} {c6}", False),
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
    text = typed.format(c=code, l=code.lower(), c0=code[:-1] + "0", c4=code[:4], c6=code[4:])
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

        result = await st.redeem_invitation(
            s, inv.code.lower(), "whatsapp", "6281300000001", display_name="Bu Rina"
        )
        assert result.outcome == "linked"
        member = result.staff
        assert (member.role, member.name, member.whatsapp) == (
            "teacher",
            "Bu Rina",
            "6281300000001",
        )
        assert await st.cohorts_for(s, member) == [("XII RPL 1", 2024)]
        used = await s.get(StaffInvitation, inv.code)
        assert used.used_by_contact == "whatsapp:6281300000001" and used.used_at is not None
        # one time only, whoever tries
        assert await st.redeem_invitation(s, inv.code, "telegram", "999") == st.Redemption(
            "invalid"
        )
        assert (await st.redeem_invitation(s, "S-2222222222", "telegram", "999")).staff is None
        assert await st.find_staff(s, "telegram", "999") is None
        # the chat that used it, sending it again: already linked, nothing changes
        again = await st.redeem_invitation(s, inv.code, "whatsapp", "6281300000001")
        assert (again.outcome, again.staff.id, again.fresh) == ("already", member.id, False)

        # the same chat redeeming a second code: one staff row, classes merged
        bkk = await st.create_invitation(s, f.school_id, role="teacher", kelas=["XII TKJ 1"])
        again = await st.redeem_invitation(s, bkk.code, "whatsapp", "6281300000001")
        assert (again.outcome, again.staff.id) == ("linked", member.id)
        assert await st.cohorts_for(s, again.staff) == [("XII TKJ 1", 2025), ("XII RPL 1", 2024)]
        count = len((await s.execute(select(Staff))).scalars().all())
        assert count == 1

        # expired
        old = await st.create_invitation(s, f.school_id, role="bkk", name="Pak Lama")
        later = utcnow() + st.INVITATION_MAX_AGE + timedelta(minutes=1)
        expired = await st.redeem_invitation(s, old.code, "telegram", "555", now=later)
        assert expired.outcome == "invalid"
        fresh = (await st.redeem_invitation(s, old.code, "telegram", "555")).staff
        assert (fresh.role, fresh.name, fresh.telegram_id) == ("bkk", "Pak Lama", "555")


async def _staff_on(s, column, address) -> list[tuple[int, int, str, bool]]:
    rows = await s.execute(
        select(Staff.id, Staff.school_id, Staff.role, Staff.removed_at.is_(None))
        .where(column == address)
        .order_by(Staff.id)
    )
    return [tuple(r) for r in rows]


async def test_one_chat_one_staff_identity_on_redeem(db):
    """A chat that already holds a staff role: a code of another school, another role or
    another person is refused and stays usable; the same identity gets only what is new."""
    f = await build(db)
    async with db.session() as s:
        rina = await st.add_staff(s, f.school_id, role="bkk", name="Rina", telegram_id="42")

        async def refused(invitation, channel="telegram", address="42"):
            result = await st.redeem_invitation(s, invitation.code, channel, address)
            assert (result.outcome, result.fresh) == ("conflict", True), result
            assert (await s.get(StaffInvitation, invitation.code)).used_at is None
            return result.staff

        # the BKK head sent a homeroom teacher's code: not demoted
        teacher_code = await st.create_invitation(s, f.school_id, role="teacher", name="Bu Ani")
        holder = await refused(teacher_code)
        assert (holder.id, holder.role, holder.name) == (rina.id, "bkk", "Rina")
        # another school's code: no second, dead row; the chat still answers as before
        other_code = await st.create_invitation(s, f.other_school_id, role="bkk", name="Rina")
        assert (await refused(other_code)).id == rina.id
        assert await _staff_on(s, Staff.telegram_id, "42") == [(rina.id, f.school_id, "bkk", True)]
        assert (await st.find_staff(s, "telegram", "42")).role == "bkk"
        # the same role and school, but a code naming someone else (a forwarded code)
        named = await st.create_invitation(s, f.school_id, role="bkk", name="Pak Joko")
        await refused(named)
        # the codes still work for the people they were made for
        ani = await st.redeem_invitation(s, teacher_code.code, "whatsapp", "6281300000009")
        assert (ani.outcome, ani.staff.role, ani.staff.name) == ("linked", "teacher", "Bu Ani")
        # a BKK code with no name (or her own name): already linked, the code left unused
        for name in (None, " rina "):
            spare = await st.create_invitation(s, f.school_id, role="bkk", name=name)
            result = await st.redeem_invitation(s, spare.code, "telegram", "42")
            assert (result.outcome, result.staff.id, result.fresh) == ("already", rina.id, True)
            assert (await s.get(StaffInvitation, spare.code)).used_at is None

        # a wali kelas matched by the roster's name: a code for a class she already sees adds
        # nothing; one for another class adds it, and her name (and so her wali_kelas
        # classes) is kept; a code naming another teacher is refused
        sri = await st.add_staff(
            s, f.school_id, role="teacher", name="Bu Sri Wahyuni", whatsapp="6281300000002"
        )
        same = await st.create_invitation(s, f.school_id, role="teacher", kelas=["XII TKJ 1"])
        result = await st.redeem_invitation(s, same.code, "whatsapp", "6281300000002")
        assert result.outcome == "already"
        more = await st.create_invitation(
            s, f.school_id, role="teacher", kelas=["XII RPL 1"], name="bu sri  wahyuni"
        )
        result = await st.redeem_invitation(s, more.code, "whatsapp", "6281300000002")
        assert (result.outcome, result.staff.id, result.staff.name) == (
            "linked",
            sri.id,
            "Bu Sri Wahyuni",
        )
        assert await st.cohorts_for(s, result.staff) == [
            ("XII TKJ 1", 2025),
            ("XII RPL 1", 2024),
            ("XII TKJ 1", 2024),
        ]
        budi = await st.create_invitation(
            s, f.school_id, role="teacher", kelas=["XII RPL 1"], name="Pak Budi Santoso"
        )
        await refused(budi, "whatsapp", "6281300000002")

        # a regional member: a code for more schools adds them
        disnaker = await st.add_staff(
            s, f.school_id, role="regional", name="Disnaker", telegram_id="50", covers=["20100001"]
        )
        wider = await st.create_invitation(
            s, f.school_id, role="regional", covers=["20100001", "20100002"]
        )
        result = await st.redeem_invitation(s, wider.code, "telegram", "50")
        assert (result.outcome, result.staff.id) == ("linked", disnaker.id)
        assert result.staff.covers == ["20100001", "20100002"]
        narrower = await st.create_invitation(s, f.school_id, role="regional", covers=["20100002"])
        result = await st.redeem_invitation(s, narrower.code, "telegram", "50")
        assert result.outcome == "already"

        # once the old entry is removed, the same code links the chat anew
        assert await st.remove_staff(s, f.school_id, rina.id) is not None
        result = await st.redeem_invitation(s, other_code.code, "telegram", "42")
        assert (result.outcome, result.staff.school_id) == ("linked", f.other_school_id)
        assert result.staff.id != rina.id
        assert (await st.find_staff(s, "telegram", "42")).id == result.staff.id


async def test_add_staff_refuses_a_chat_another_member_holds(db):
    f = await build(db)
    async with db.session() as s:
        rina = await st.add_staff(
            s, f.school_id, role="bkk", name="Rina", telegram_id="42", whatsapp="6281300000001"
        )
        for kwargs in (
            {"telegram_id": "42"},
            {"whatsapp": "6281300000001"},
            {"telegram_id": "43", "whatsapp": "6281300000001"},
        ):
            for school_id in (f.school_id, f.other_school_id):
                with pytest.raises(st.ChatTaken) as caught:
                    await st.add_staff(s, school_id, role="teacher", name="Bu Ani", **kwargs)
                assert caught.value.holder.id == rina.id
        assert str(caught.value) == (
            "WhatsApp number 6281300000001 is already linked to staff "
            f"#{rina.id}: Rina (bkk, SMK Uji, NPSN 20100001). One chat holds one staff role: "
            f"remove that entry first (`jejak staff remove {rina.id} --school 20100001`), "
            "then add again."
        )
        assert len((await s.execute(select(Staff))).scalars().all()) == 1
        await st.remove_staff(s, f.school_id, rina.id)
        ani = await st.add_staff(s, f.other_school_id, role="bkk", name="Ani", telegram_id="42")
        assert (await st.find_staff(s, "telegram", "42")).id == ani.id


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
    assert (  # explicit (the newest cohort of XII RPL 1) + wali_kelas
        "Cohorts (class, graduation year): XII RPL 1 2024 (--kelas); "
        "wali kelas of XII TKJ 1 2025, XII TKJ 1 2024"
    ) in _flat(r.stdout)
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


def test_cli_staff_add_refuses_a_chat_already_linked(cli_env):
    r = _invoke(
        cli_env, "staff", "add", "--role", "bkk", "--name", "Pak [BKK]", "--telegram-id", "42",
        "--whatsapp", "6281234567890",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    chats = {
        "Telegram chat 42": ["--telegram-id", " 42 "],
        "WhatsApp number 6281234567890": ["--whatsapp", "0812-3456-7890"],
    }
    for label, chat in chats.items():
        for school in ("20100001", "20100002"):
            r = _invoke(
                cli_env, "staff", "add", "--role", "teacher", "--name", "Bu Ani",
                "--school", school, *chat,
            )  # fmt: skip
            assert r.exit_code == 2, r.output
            assert _flat(r.stderr) == (
                f"{label} is already linked to staff #1: Pak [BKK] (bkk, SMK Uji, NPSN "
                "20100001). One chat holds one staff role: remove that entry first (`jejak "
                "staff remove 1 --school 20100001`), then add again."
            )
    assert [m.name for m in _staff_rows(cli_env["DATABASE_URL"])] == ["Pak [BKK]"]

    # what the message says works
    r = _invoke(cli_env, "staff", "remove", "1", "--school", "20100001")
    assert r.exit_code == 0, r.output
    r = _invoke(
        cli_env, "staff", "add", "--role", "teacher", "--name", "Bu Ani", "--telegram-id", "42",
        "--school", "20100002",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = _staff_rows(cli_env["DATABASE_URL"])
    active = [(m.id, m.school_id, m.telegram_id, m.removed_at is None) for m in rows]
    assert active == [(1, 1, "42", False), (2, 2, "42", True)]


def test_cli_staff_invite(cli_env):
    r = _invoke(cli_env, "staff", "invite", "--role", "teacher", "--kelas", "XII TKJ 1")
    assert r.exit_code == 0, r.output
    code = r.stdout.split()[0]
    assert st.is_staff_invitation_code(code)

    async def redeem():
        db = Database(cli_env["DATABASE_URL"])
        try:
            async with db.session() as s:
                member = (await st.redeem_invitation(s, code, "telegram", "7001")).staff
                return member, await st.cohorts_for(s, member)
        finally:
            await db.dispose()

    member, classes = asyncio.run(redeem())
    assert member.role == "teacher" and classes == [("XII TKJ 1", 2025)]

    r = _invoke(cli_env, "staff", "invite", "--role", "teacher", "--kelas", "XII ZZZ 1")
    assert r.exit_code == 2 and "Known classes: XII RPL 1, XII TKJ 1" in _flat(r.stderr)
    r = _invoke(cli_env, "staff", "invite", "--role", "boss")
    assert r.exit_code == 2


def test_cli_staff_add_refuses_a_group_chat_id(cli_env):
    """A Telegram group (negative id) or a zero id is not a person: the weekly digest, with
    names and phone numbers, must never go to a group. Refused with a clear message; nothing
    is added."""
    for bad in ("-12345", "-1001234567890", "0", " -7 ", "+42"):
        r = _invoke(
            cli_env, "staff", "add", "--role", "teacher", "--name", "Bu Sri Wahyuni",
            "--telegram-id", bad,
        )  # fmt: skip
        assert r.exit_code == 2, (bad, r.output)
        assert "--telegram-id must be a person's numeric Telegram user id" in _flat(r.stderr)
        assert "group" in _flat(r.stderr)
    assert _staff_rows(cli_env["DATABASE_URL"]) == []
    r = _invoke(
        cli_env, "staff", "add", "--role", "bkk", "--name", "Pak BKK", "--telegram-id", " 42 "
    )
    assert r.exit_code == 0, r.output
    assert [m.telegram_id for m in _staff_rows(cli_env["DATABASE_URL"])] == ["42"]


async def test_storage_refuses_a_group_chat_as_staff(db):
    """The same rule below the CLI: add_staff refuses it, and a code redeemed from a group
    chat's address (whatever the channel hands over) links nothing and stays unused."""
    f = await build(db)
    async with db.session() as s:
        with pytest.raises(st.StaffError, match="user id"):
            await st.add_staff(s, f.school_id, role="bkk", name="Grup", telegram_id="-12345")
        code = (await st.create_invitation(s, f.school_id, role="bkk", name="Rina")).code
        for address in ("-12345", "-1001234567890", "0", "abc"):
            result = await st.redeem_invitation(s, code, "telegram", address)
            assert result == st.Redemption("invalid"), address
        assert (await s.get(StaffInvitation, code)).used_at is None
        assert (await s.execute(select(Staff))).scalars().all() == []
        linked = await st.redeem_invitation(s, code, "telegram", "4242")
        assert linked.outcome == "linked"


# --- a teacher's name against the roster's wali_kelas -------------------------------------------
@pytest.mark.parametrize(
    ("given", "roster"),
    [
        ("Bu Sri Wahyuni", "Sri Wahyuni, S.Kom."),
        ("sri  wahyuni", "Bu Sri Wahyuni"),
        ("Ibu Sri Wahyuni, S.Kom.", "SRI WAHYUNI"),
        ("Pak Bambang Hermawan", "Bambang Hermawan, S.T., M.Pd."),
        ("Bapak Bambang Hermawan S.Pd.", "Drs. Bambang Hermawan"),
        ("Ratna Dewi", "Dra. Ratna Dewi, M.Pd., Gr."),
        ("Bu Ratna Dewi", "Ratna Dewi S.Pd"),
        ("Pak Budi Santoso", "Budi Santoso"),
    ],
)
def test_wali_names_match_without_honorifics_and_titles(given, roster):
    assert st.wali_name_key(given) == st.wali_name_key(roster) != ""


@pytest.mark.parametrize(
    ("given", "roster"),
    [
        ("Sri Wahyuni", "Sri Wahyuningsih"),  # exact after normalising, never fuzzy
        ("Bu Sri", "Sri Wahyuni, S.Kom."),
        ("Sri", "Sri Wahyuni"),
        ("Budi Santoso", "Budi Santosa"),
        ("Wahyuni Sri", "Sri Wahyuni"),
        ("Bu", "Ibu"),  # nothing left of either: never a match
        ("S.Kom.", "S.Pd."),
    ],
)
def test_different_wali_names_stay_different(given, roster):
    a, b = st.wali_name_key(given), st.wali_name_key(roster)
    assert a != b or a == ""
    assert not (a and a == b)


async def _cohorts(s, member) -> list[tuple[str, int]]:
    return await st.cohorts_for(s, member)


async def test_teachers_see_cohorts_not_class_names(db):
    """ "XII TKJ 1" exists every year with another wali kelas: a teacher's scope is a list of
    (class, graduation year) cohorts, from the roster's wali_kelas (per year) and from
    explicit grants (one year each: the newest by default, or the one asked for)."""
    f = await build(db)
    async with db.session() as s:
        # the 2024 cohort of XII TKJ 1 had another wali kelas than the 2025 one
        await s.execute(
            update(Alumnus)
            .where(Alumnus.kelas == "XII TKJ 1", Alumnus.graduation_year == 2024)
            .values(homeroom_teacher="Pak Budi Santoso, S.Kom.")
        )
        await s.commit()
        sri = await st.add_staff(s, f.school_id, role="teacher", name="Bu Sri Wahyuni")
        budi = await st.add_staff(s, f.school_id, role="teacher", name="Budi Santoso")
        assert await _cohorts(s, sri) == [("XII TKJ 1", 2025)]
        assert await _cohorts(s, budi) == [("XII RPL 1", 2024), ("XII TKJ 1", 2024)]
        assert await st.can_see_cohort(s, sri, "xii tkj 1", 2025)
        assert not await st.can_see_cohort(s, sri, "XII TKJ 1", 2024)
        assert not await st.can_see_cohort(s, budi, "XII TKJ 1", 2025)

        # explicit grants: the newest cohort of the class unless a year is given
        ani = await st.add_staff(s, f.school_id, role="teacher", name="Ani", kelas=["xii tkj 1"])
        assert await _cohorts(s, ani) == [("XII TKJ 1", 2025)]
        dodi = await st.add_staff(
            s, f.school_id, role="teacher", name="Dodi", kelas=["XII TKJ 1"], graduation_year=2024
        )
        assert await _cohorts(s, dodi) == [("XII TKJ 1", 2024)]
        with pytest.raises(st.StaffError, match=r"XII RPL 1 has no 2025 cohort .*: 2024"):
            await st.add_staff(
                s, f.school_id, role="teacher", name="X", kelas=["XII RPL 1"], graduation_year=2025
            )
        with pytest.raises(st.StaffError, match="goes with a class"):
            await st.add_staff(s, f.school_id, role="teacher", name="X", graduation_year=2025)

        # the same for invitation codes
        code = await st.create_invitation(s, f.school_id, role="teacher", kelas=["XII TKJ 1"])
        linked = await st.redeem_invitation(s, code.code, "telegram", "701", display_name="Eva")
        assert await _cohorts(s, linked.staff) == [("XII TKJ 1", 2025)]
        code = await st.create_invitation(
            s, f.school_id, role="teacher", kelas=["XII TKJ 1"], graduation_year=2024
        )
        linked = await st.redeem_invitation(s, code.code, "telegram", "702", display_name="Fia")
        assert await _cohorts(s, linked.staff) == [("XII TKJ 1", 2024)]
        with pytest.raises(st.StaffError, match="no 2023 cohort"):
            await st.create_invitation(
                s, f.school_id, role="teacher", kelas=["XII TKJ 1"], graduation_year=2023
            )

        # BKK: every cohort of the school
        bkk = await st.add_staff(s, f.school_id, role="bkk", name="Pak BKK")
        assert await _cohorts(s, bkk) == [
            ("XII TKJ 1", 2025),
            ("XII RPL 1", 2024),
            ("XII TKJ 1", 2024),
        ]


async def test_a_display_name_is_only_a_label(db):
    """A code made with only --kelas names the new member after their chat's display name.
    That name is never matched against wali_kelas: "Budi Santoso" as a Telegram or WhatsApp
    name gets the code's class, not Pak Budi's."""
    f = await build(db)
    async with db.session() as s:
        for channel, address, display in (
            ("whatsapp", "6281300000031", "Pak Budi Santoso"),
            ("telegram", "731", "Bu Sri Wahyuni"),
        ):
            code = await st.create_invitation(s, f.school_id, role="teacher", kelas=["XII TKJ 1"])
            linked = await st.redeem_invitation(
                s, code.code, channel, address, display_name=display
            )
            assert linked.outcome == "linked"
            assert linked.staff.name == display  # shown as a label
            assert await _cohorts(s, linked.staff) == [("XII TKJ 1", 2025)]
            assert not await st.can_see_cohort(s, linked.staff, "XII TKJ 1", 2024)
            assert not await st.can_see_cohort(s, linked.staff, "XII RPL 1", 2024)
        # a name the admin gave (--name) is matched
        code = await st.create_invitation(s, f.school_id, role="teacher", name="Pak Budi Santoso")
        linked = await st.redeem_invitation(
            s, code.code, "telegram", "732", display_name="Sri Wahyuni"
        )
        assert linked.staff.name == "Pak Budi Santoso"
        assert await _cohorts(s, linked.staff) == [("XII RPL 1", 2024)]


def test_cli_staff_invite_matches_the_readme_example(tmp_path, monkeypatch):
    """The README's example against the sample roster, whose wali_kelas is "Sri Wahyuni,
    S.Kom.": the code gives Bu Sri her class, and the CLI says which cohort. A name that
    matches nothing is warned about, with the near matches, for invite as for add."""
    monkeypatch.chdir(tmp_path)
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/sample.db",
        "SCHOOL_NPSN": "20100001",
        "SCHOOL_NAME": "SMK Contoh",
    }
    sample = Path(__file__).resolve().parent.parent / "bot" / "sample_roster.csv"
    assert _invoke(env, "roster", "import", str(sample)).exit_code == 0

    r = _invoke(env, "staff", "invite", "--role", "teacher", "--name", "Bu Sri Wahyuni")
    assert r.exit_code == 0, r.output
    code = r.stdout.split()[0]
    out = _flat(r.stdout)
    assert "wali kelas of XII TKJ 1 2025" in out and "Warning" not in out

    async def redeem(code: str, address: str):
        db = Database(env["DATABASE_URL"])
        try:
            async with db.session() as s:
                member = (
                    await st.redeem_invitation(s, code, "telegram", address, display_name="x")
                ).staff
                return member.name, await st.cohorts_for(s, member)
        finally:
            await db.dispose()

    assert asyncio.run(redeem(code, "801")) == ("Bu Sri Wahyuni", [("XII TKJ 1", 2025)])

    for command in ("invite", "add"):
        r = _invoke(env, "staff", command, "--role", "teacher", "--name", "Bu Sri Wahyu")
        assert r.exit_code == 0, r.output
        out = _flat(r.stdout + r.stderr)
        assert 'Warning: no roster class has wali_kelas "Bu Sri Wahyu"' in out, out
        assert 'Near matches: "Sri Wahyuni, S.Kom."' in out, out
    r = _invoke(env, "staff", "invite", "--role", "teacher", "--name", "Zulkifli")
    out = _flat(r.stdout + r.stderr)
    assert 'no roster class has wali_kelas "Zulkifli"' in out and "Near matches" not in out

    # --kelas names the cohort it grants: the newest by default, or --tahun
    r = _invoke(env, "staff", "invite", "--role", "teacher", "--kelas", "XII AKL 1")
    assert r.exit_code == 0, r.output
    assert "XII AKL 1 2025" in _flat(r.stdout)
    r = _invoke(
        env, "staff", "invite", "--role", "teacher", "--kelas", "XII AKL 1", "--tahun", "2024"
    )
    assert r.exit_code == 0, r.output
    assert "XII AKL 1 2024" in _flat(r.stdout) and "2025" not in _flat(r.stdout)
    assert asyncio.run(redeem(r.stdout.split()[0], "802"))[1] == [("XII AKL 1", 2024)]
    r = _invoke(
        env, "staff", "invite", "--role", "teacher", "--kelas", "XII RPL 1", "--tahun", "2024"
    )
    assert r.exit_code == 2 and "XII RPL 1 has no 2024 cohort" in _flat(r.stderr)
