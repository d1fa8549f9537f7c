"""Invitation codes, and the `jejak roster import` / `jejak invite links` commands end to end."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import _register, app
from bot.settings import Settings
from storage.db import Database
from storage.invitations import (
    ALPHABET,
    InvitationError,
    ensure_invitations,
    find_invitation,
    mark_used,
    new_code,
    normalise_code,
    revoke_invitations,
)
from storage.models import Alumnus, Contact, Invitation, School

pytestmark = pytest.mark.postgres

SAMPLE = Path(__file__).resolve().parent.parent / "bot" / "sample_roster.csv"
FIXTURES = Path(__file__).parent / "fixtures" / "roster"


# --- codes -----------------------------------------------------------------------------------


def test_codes_are_random_well_formed_and_free_of_look_alikes():
    codes = [new_code() for _ in range(5000)]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == 10
        assert set(code) <= set(ALPHABET)
        assert not set(code) & set("0O1IL")
        assert any(c.isdigit() for c in code) and any(c.isalpha() for c in code)
        assert normalise_code(code) == code
    # every symbol shows up: the draw covers the whole alphabet
    assert set("".join(codes)) == set(ALPHABET)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("K7MX4P9QRT", "K7MX4P9QRT"),
        ("k7mx4p9qrt", "K7MX4P9QRT"),
        ("  k7mx-4p9q-rt ", "K7MX4P9QRT"),
        ("K7MX 4P9Q RT", "K7MX4P9QRT"),
        ("/start K7MX4P9QRT", "K7MX4P9QRT"),
        ("https://t.me/jejak_bot?start=K7MX4P9QRT", "K7MX4P9QRT"),
        ("K7MX4P9QR", None),  # too short
        ("K7MX4P9QRTT", None),  # too long
        ("K7MX4P9QR0", None),  # 0 is not in the alphabet
        ("perusahaan", None),  # a word: letters only
        ("2345678923", None),  # digits only (a NISN-like number)
        ("kerja", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_code(typed, expected):
    assert normalise_code(typed) == expected


async def _school_with_sample(db, npsn="20100001") -> int:
    from storage.roster import import_roster

    async with db.session() as s:
        school = School(npsn=npsn, name="SMK Contoh")
        s.add(school)
        await s.commit()
    await import_roster(db, school.id, SAMPLE)
    return school.id


async def test_one_code_per_alumnus_reused_on_later_runs(db):
    school_id = await _school_with_sample(db)
    other_school = await _school_with_sample(db, "20100002")
    first = await ensure_invitations(db, school_id)
    assert len(first) == 12
    assert all(a.school_id == school_id for a, _ in first)
    assert [a.kelas for a, _ in first] == sorted(a.kelas for a, _ in first)
    codes = {a.nisn: code for a, code in first}
    assert len(set(codes.values())) == 12

    again = await ensure_invitations(db, school_id)
    assert {a.nisn: code for a, code in again} == codes
    one_class = await ensure_invitations(db, school_id, "  xii   rpl 1 ")
    assert {a.kelas for a, _ in one_class} == {"XII RPL 1"}
    assert all(codes[a.nisn] == code for a, code in one_class)
    assert await ensure_invitations(db, school_id, "XII RPL 9") == []

    others = await ensure_invitations(db, other_school)
    assert not {code for _, code in others} & set(codes.values())
    async with db.session() as s:
        total = (await s.execute(select(func.count()).select_from(Invitation))).scalar_one()
    assert total == 24


async def test_find_invitation_is_tolerant_and_mark_used_records_the_first_use(db):
    school_id = await _school_with_sample(db)
    pairs = await ensure_invitations(db, school_id)
    alumnus, code = pairs[0]
    typed = f" {code[:4].lower()}-{code[4:]} "
    async with db.session() as s:
        invitation = await find_invitation(s, typed)
        assert invitation is not None and invitation.alumnus_id == alumnus.id
        assert invitation.used_at is None
        assert await find_invitation(s, "ZZZZ22ZZZZ") is None
        assert await find_invitation(s, "hello") is None
        assert await mark_used(s, invitation) is True
        await s.commit()
    async with db.session() as s:
        invitation = await find_invitation(s, code)
        first_use = invitation.used_at
        assert first_use is not None
        assert await mark_used(s, invitation) is False
        await s.commit()
    async with db.session() as s:
        assert (await find_invitation(s, code)).used_at == first_use


async def _use(session, code: str, *, chat: str | None) -> None:
    """Redeem `code`, from a chat still linked to its graduate (`chat`) or from none."""
    invitation = await find_invitation(session, code)
    await mark_used(session, invitation)
    if chat is not None:
        session.add(Contact(channel="telegram", address=chat, alumnus_id=invitation.alumnus_id))
    await session.commit()


async def test_revoke_deletes_the_codes_that_identify_alone_and_new_ones_follow(db):
    school_id = await _school_with_sample(db)
    other_school = await _school_with_sample(db, "20100002")
    first = {a.nisn: code for a, code in await ensure_invitations(db, school_id)}
    others = {a.nisn: code for a, code in await ensure_invitations(db, other_school)}
    async with db.session() as s:
        await _use(s, first["3071234502"], chat="501")  # Bunga: used, her chat linked
        await _use(s, first["3071234505"], chat=None)  # Eko: used, no chat linked any more

    # a NISN that is not on this school's roster: an error, and nothing revoked
    with pytest.raises(InvitationError, match="0099999999"):
        await revoke_invitations(db, school_id, nisns=["0071234501", "0099999999"])
    async with db.session() as s:
        assert await find_invitation(s, first["0071234501"]) is not None

    one = await revoke_invitations(db, school_id, nisns=["0071234501"])
    assert (one.revoked, one.kept) == (1, 0)
    tkj = await revoke_invitations(db, school_id, kelas=" xii  tkj 1 ")
    assert (tkj.revoked, tkj.kept) == (2, 1)  # Cahyo, Dewi; Bunga's used code is kept
    everyone = await revoke_invitations(db, school_id)
    assert (everyone.revoked, everyone.kept) == (12 - 4, 1)  # Eko's used code goes too
    assert await revoke_invitations(db, school_id) == type(everyone)(revoked=0, kept=1)

    async with db.session() as s:
        for nisn, code in first.items():
            found = await find_invitation(s, code)
            assert (found is not None) == (nisn == "3071234502"), nisn
        for code in others.values():  # the other school's codes are untouched
            assert await find_invitation(s, code) is not None
    again = {a.nisn: code for a, code in await ensure_invitations(db, school_id)}
    assert again["3071234502"] == first["3071234502"]
    fresh = {n: c for n, c in again.items() if n != "3071234502"}
    assert len(fresh) == 11 and not set(fresh.values()) & set(first.values())
    assert len(set(again.values())) == 12


# --- CLI end to end --------------------------------------------------------------------------

runner = CliRunner()
_register()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "TELEGRAM_BOT_USERNAME": None,
        "TELEGRAM_BOT_TOKEN": None,
        "TELEGRAM_API_URL": None,
        "WHATSAPP_DISPLAY_NUMBER": None,
        "SCHOOL_NPSN": "20100001",
    }


def _invoke(env, *args, **extra_env):
    result = runner.invoke(app, list(args), env={**env, **extra_env})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _count_alumni(url: str) -> int:
    async def go() -> int:
        db = Database(url)
        try:
            async with db.session() as s:
                return (await s.execute(select(func.count()).select_from(Alumnus))).scalar_one()
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_cli_roster_import(cli_env):
    result = _invoke(cli_env, "roster", "import", str(FIXTURES / "excel_semicolon_bom.csv"))
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "added 5" in out and "updated 0" in out and "unchanged 0" in out
    assert "rejected 5" in out
    assert "row 7: duplicate NISN in file (first at row 2)" in out
    assert "row 8: impossible date of birth" in out
    assert "row 6: no_hp is not a valid phone number" in out
    assert _count_alumni(cli_env["DATABASE_URL"]) == 5

    again = _invoke(cli_env, "roster", "import", str(FIXTURES / "excel_semicolon_bom.csv"))
    assert again.exit_code == 0
    assert "added 0" in _flat(again.stdout) and "unchanged 5" in _flat(again.stdout)


def test_cli_roster_import_refuses_a_non_roster_and_a_missing_file(cli_env, tmp_path):
    result = _invoke(cli_env, "roster", "import", str(FIXTURES / "not_a_roster.csv"))
    assert result.exit_code == 1
    message = _flat(result.stderr)
    assert "not a roster: missing column(s) nisn, nama" in message
    assert "Nothing was imported" in message
    assert _count_alumni(cli_env["DATABASE_URL"]) == 0

    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8)
    result = _invoke(cli_env, "roster", "import", str(junk))
    assert result.exit_code == 1
    assert "binary" in _flat(result.stderr)

    result = _invoke(cli_env, "roster", "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "File not found" in result.stderr


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_invite_links(cli_env, tmp_path):
    assert _invoke(cli_env, "roster", "import", str(SAMPLE)).exit_code == 0
    out = tmp_path / "links.csv"
    result = _invoke(
        cli_env,
        "invite",
        "links",
        "--out",
        str(out),
        TELEGRAM_BOT_USERNAME="@jejak_test_bot",
        WHATSAPP_DISPLAY_NUMBER="+62 811-0000-1111",
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 12 invitation link(s)" in _flat(result.stdout)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel-friendly UTF-8
    rows = _read_csv(out)
    assert list(rows[0]) == ["nisn", "nama", "kelas", "code", "telegram_link", "whatsapp_link"]
    assert len(rows) == 12
    adi = next(r for r in rows if r["nisn"] == "0071234501")  # leading zero kept
    assert adi["nama"] == "Adi Pratama" and adi["kelas"] == "XII TKJ 1"
    assert normalise_code(adi["code"]) == adi["code"]
    assert adi["telegram_link"] == f"https://t.me/jejak_test_bot?start={adi['code']}"
    assert adi["whatsapp_link"] == f"https://wa.me/6281100001111?text={adi['code']}"

    # one class, case-insensitive; codes reused; no WhatsApp column without the setting
    akl = tmp_path / "akl.csv"
    result = _invoke(
        cli_env, "invite", "links", "--out", str(akl), "--kelas", "xii akl 1",
        TELEGRAM_BOT_USERNAME="jejak_test_bot",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    akl_rows = _read_csv(akl)
    assert "whatsapp_link" not in akl_rows[0]
    assert {r["kelas"] for r in akl_rows} == {"XII AKL 1"} and len(akl_rows) == 4
    codes = {r["nisn"]: r["code"] for r in rows}
    assert all(codes[r["nisn"]] == r["code"] for r in akl_rows)


@pytest.mark.parametrize(
    "written",
    ["0812-3456-7890", "081234567890", "+62 812-3456-7890", "6281234567890", "62 812 3456 7890"],
)
def test_cli_invite_links_with_a_locally_written_whatsapp_number(cli_env, tmp_path, written):
    """wa.me needs the international number: a number written the local way is normalised."""
    assert _invoke(cli_env, "roster", "import", str(SAMPLE)).exit_code == 0
    out = tmp_path / "links.csv"
    result = _invoke(
        cli_env, "invite", "links", "--out", str(out),
        TELEGRAM_BOT_USERNAME="jejak_test_bot", WHATSAPP_DISPLAY_NUMBER=written,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    links = [r["whatsapp_link"] for r in _read_csv(out)]
    assert links and all(link.startswith("https://wa.me/6281234567890?text=") for link in links)


@pytest.mark.parametrize("written", ["12345", "0812", "nomor sekolah", "0812-1111-0001 / 0813"])
def test_an_invalid_whatsapp_display_number_is_refused_naming_the_setting(cli_env, written):
    result = _invoke(
        cli_env, "invite", "links", "--out", "x.csv",
        TELEGRAM_BOT_USERNAME="jejak_test_bot", WHATSAPP_DISPLAY_NUMBER=written,
    )  # fmt: skip
    assert result.exit_code == 2
    message = _flat(result.output)
    assert "Setting WHATSAPP_DISPLAY_NUMBER:" in message
    assert "6281234567890" in message  # the expected form, as an example
    assert not Path("x.csv").exists()


def test_whatsapp_display_number_setting_is_normalised():
    def number(value: str) -> str | None:
        return Settings(_env_file=None, whatsapp_display_number=value).whatsapp_display_number

    assert number("0812-3456-7890") == "6281234567890"
    assert number("  ") is None
    with pytest.raises(ValidationError, match="WHATSAPP_DISPLAY_NUMBER"):
        Settings(_env_file=None, whatsapp_display_number="0812")


def test_cli_invite_links_unknown_class_and_unknown_username(cli_env, tmp_path):
    out = tmp_path / "links.csv"
    result = _invoke(cli_env, "invite", "links", "--out", str(out), TELEGRAM_BOT_USERNAME="b")
    assert result.exit_code == 1
    assert "roster is empty" in _flat(result.stderr)

    assert _invoke(cli_env, "roster", "import", str(SAMPLE)).exit_code == 0
    result = _invoke(
        cli_env, "invite", "links", "--out", str(out), "--kelas", "XII TKJ 9",
        TELEGRAM_BOT_USERNAME="jejak_test_bot",
    )  # fmt: skip
    assert result.exit_code == 1
    message = _flat(result.stderr)
    assert "Unknown class 'XII TKJ 9'" in message
    assert "XII AKL 1 (4), XII RPL 1 (4), XII TKJ 1 (4)" in message
    assert not out.exists()

    result = _invoke(cli_env, "invite", "links", "--out", str(out))
    assert result.exit_code == 1
    message = _flat(result.stderr)
    assert "set TELEGRAM_BOT_USERNAME" in message and "WHATSAPP_DISPLAY_NUMBER" in message
    assert not out.exists()


def test_cli_invite_links_for_a_whatsapp_only_school(cli_env, tmp_path):
    """Only WhatsApp configured: the links are wa.me ones, no Telegram column, no error."""
    assert _invoke(cli_env, "roster", "import", str(SAMPLE)).exit_code == 0
    out = tmp_path / "wa.csv"
    result = _invoke(
        cli_env, "invite", "links", "--out", str(out),
        WHATSAPP_ACCESS_TOKEN="token", WHATSAPP_PHONE_NUMBER_ID="1234567890",
        WHATSAPP_APP_SECRET="secret", WHATSAPP_VERIFY_TOKEN="verify",
        WHATSAPP_DISPLAY_NUMBER="0812-3456-7890",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(WhatsApp)" in _flat(result.stdout)
    rows = _read_csv(out)
    assert list(rows[0]) == ["nisn", "nama", "kelas", "code", "whatsapp_link"]
    assert len(rows) == 12
    assert all(r["whatsapp_link"] == f"https://wa.me/6281234567890?text={r['code']}" for r in rows)


def _links(env, out: Path) -> dict[str, str]:
    result = _invoke(
        env, "invite", "links", "--out", str(out), TELEGRAM_BOT_USERNAME="jejak_test_bot"
    )
    assert result.exit_code == 0, result.output
    return {r["nisn"]: r["code"] for r in _read_csv(out)}


def _invitation_rows(url: str) -> dict[str, str | None]:
    """code -> used_at (as text) of every invitation in the database."""

    async def go() -> dict[str, str | None]:
        db = Database(url)
        try:
            async with db.session() as s:
                rows = await s.execute(select(Invitation.code, Invitation.used_at))
                return {code: str(used) if used else None for code, used in rows}
        finally:
            await db.dispose()

    return asyncio.run(go())


def _redeem(url: str, code: str, chat: str | None) -> None:
    async def go() -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                await _use(s, code, chat=chat)
        finally:
            await db.dispose()

    asyncio.run(go())


def test_cli_invite_revoke_then_links_writes_new_codes(cli_env, tmp_path):
    url = cli_env["DATABASE_URL"]
    assert _invoke(cli_env, "roster", "import", str(SAMPLE)).exit_code == 0
    leaked = _links(cli_env, tmp_path / "links.csv")
    _redeem(url, leaked["3071234502"], chat="501")  # Bunga answered from her chat
    before = _invitation_rows(url)

    # bad input: a clear message and nothing revoked
    for args, code, message in [
        ((), 2, "Choose whose codes to revoke: --all, --kelas KELAS or --nisn NISN"),
        (("--all", "--kelas", "XII TKJ 1"), 2, "Choose whose codes to revoke"),
        (("--nisn", "12345"), 2, "Not a NISN (10 digits): '12345'. Nothing was revoked."),
        (
            ("--nisn", "0071234501", "--nisn", "0099999999"),
            1,
            "Not on the school's roster: NISN 0099999999. Nothing was revoked.",
        ),
        (("--kelas", "XII TKJ 9"), 1, "Unknown class 'XII TKJ 9'. Known classes:"),
        (("--all", "--school", "99999999"), 2, "99999999"),
    ]:
        result = _invoke(cli_env, "invite", "revoke", *args)
        assert result.exit_code == code, (args, result.output)
        assert message in _flat(result.stderr), (args, result.stderr)
        assert _invitation_rows(url) == before

    # one graduate, by NISN typed without its leading zero
    result = _invoke(cli_env, "invite", "revoke", "--nisn", "71234501")
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "Revoked 1 invitation code(s) (SMK Contoh, 1 graduate(s) by NISN)" in out
    assert "jejak invite links --out FILE" in out
    assert leaked["0071234501"] not in _invitation_rows(url)
    renewed = _links(cli_env, tmp_path / "renewed.csv")
    assert renewed["0071234501"] != leaked["0071234501"]  # a new code...
    assert {n: c for n, c in renewed.items() if n != "0071234501"} == {
        n: c for n, c in leaked.items() if n != "0071234501"
    }  # ...and only for him

    # one class, then everyone: the used code of a linked chat is kept
    result = _invoke(cli_env, "invite", "revoke", "--kelas", "xii akl 1")
    assert result.exit_code == 0, result.output
    assert "Revoked 4 invitation code(s) (SMK Contoh, class xii akl 1)" in _flat(result.stdout)
    result = _invoke(cli_env, "invite", "revoke", "--all")
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "Revoked 7 invitation code(s) (SMK Contoh, all classes)" in out
    assert "Kept 1 code(s) already used by a graduate's linked chat" in out
    assert set(_invitation_rows(url)) == {leaked["3071234502"]}
    result = _invoke(cli_env, "invite", "revoke", "--all")
    assert result.exit_code == 0
    assert "No invitation codes to revoke (SMK Contoh, all classes)." in _flat(result.stdout)

    fresh = _links(cli_env, tmp_path / "fresh.csv")
    assert fresh["3071234502"] == leaked["3071234502"]
    new_codes = {c for n, c in fresh.items() if n != "3071234502"}
    assert len(new_codes) == 11
    assert not new_codes & (set(leaked.values()) | set(renewed.values()))


class _GetMe(BaseHTTPRequestHandler):
    calls: list[str] = []

    def do_POST(self):  # noqa: N802
        self.calls.append(self.path)
        if self.path == "/bot123:ABC/getMe":
            body = {
                "ok": True,
                "result": {
                    "id": 123,
                    "is_bot": True,
                    "first_name": "Jejak",
                    "username": "jejak_api_bot",
                },
            }
            status = 200
        else:
            body, status = {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_bot_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GetMe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _GetMe.calls = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cli_invite_links_asks_getme_for_the_username(cli_env, tmp_path, fake_bot_api):
    assert _invoke(cli_env, "roster", "import", str(SAMPLE)).exit_code == 0
    out = tmp_path / "links.csv"
    result = _invoke(
        cli_env, "invite", "links", "--out", str(out),
        TELEGRAM_BOT_TOKEN="123:ABC", TELEGRAM_API_URL=fake_bot_api,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _GetMe.calls == ["/bot123:ABC/getMe"]
    rows = _read_csv(out)
    assert rows[0]["telegram_link"] == f"https://t.me/jejak_api_bot?start={rows[0]['code']}"

    result = _invoke(
        cli_env, "invite", "links", "--out", str(tmp_path / "x.csv"),
        TELEGRAM_BOT_TOKEN="999:BAD", TELEGRAM_API_URL=fake_bot_api,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Could not ask Telegram for the bot's username" in _flat(result.stderr)
    assert not (tmp_path / "x.csv").exists()


def test_sample_roster_is_stable_for_the_demo_hints():
    from storage.roster import read_roster

    rows = {r.nisn: r for r in read_roster(SAMPLE).rows}
    assert len(rows) == 12
    assert rows["0071234501"].birth_date == date(2007, 3, 14)
    assert rows["3071234505"].birth_date == date(2007, 5, 30)
    assert {r.kelas for r in rows.values()} == {"XII TKJ 1", "XII RPL 1", "XII AKL 1"}
    assert sorted(r.graduation_year for r in rows.values()).count(2024) == 1
