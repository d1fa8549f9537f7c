"""`jejak school add|list|set` and `--school NPSN` on the commands that read or write one
school's data: scoping, the default school, and an unknown NPSN naming the known ones."""

from __future__ import annotations

import asyncio
import csv

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import VacancySchool
from tests.harness import flat
from tests.harness import run_cli as jejak
from tests.test_schools import NAME_A, NAME_B, ROSTER_A, ROSTER_B


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    (tmp_path / "a.csv").write_text(ROSTER_A, encoding="utf-8")
    (tmp_path / "b.csv").write_text(ROSTER_B, encoding="utf-8")
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "SCHOOL_NPSN": "20100001",
        "SCHOOL_NAME": NAME_A,
        "TELEGRAM_BOT_USERNAME": "jejak_bot",
        "COLUMNS": "200",
    }


def test_single_school_needs_no_step(env, tmp_path):
    assert jejak(env, "roster", "import", "a.csv").exit_code == 0
    listed = jejak(env, "school", "list")
    assert listed.exit_code == 0
    assert "20100001" in listed.stdout and "default" in listed.stdout
    out = tmp_path / "all.csv"
    assert jejak(env, "export", "--out", str(out)).exit_code == 0
    assert "Ani Suryani" in out.read_text(encoding="utf-8-sig")


def test_school_add_and_scoped_commands(env, tmp_path):
    added = jejak(
        env, "school", "add", "--npsn", "60100002", "--name", NAME_B, "--timezone", "Asia/Jayapura"
    )
    assert added.exit_code == 0, added.output
    again = jejak(env, "school", "add", "--npsn", "60100002", "--name", "X")
    assert again.exit_code == 2 and "exists already" in flat(again.output)
    bad_zone = jejak(env, "school", "add", "--npsn", "60100003", "--name", "Y", "--timezone", "WIT")
    assert bad_zone.exit_code == 2 and "Asia/Jayapura" in flat(bad_zone.output)
    # a real zone, but not Indonesia's: refused with the three, nothing saved
    tokyo = ["--name", "Z", "--timezone", "Asia/Tokyo"]
    bad_zone = jejak(env, "school", "add", "--npsn", "60100003", *tokyo)
    assert bad_zone.exit_code == 2
    assert "Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT)" in flat(bad_zone.output)
    assert "60100003" not in jejak(env, "school", "list").stdout
    bad_set = jejak(env, "school", "set", "60100002", "--timezone", "Asia/Tokyo")
    assert bad_set.exit_code == 2 and "Asia/Makassar" in flat(bad_set.output)

    assert jejak(env, "roster", "import", "a.csv").exit_code == 0
    assert jejak(env, "roster", "import", "b.csv", "--school", "60100002").exit_code == 0
    listed = flat(jejak(env, "school", "list").stdout)
    assert "60100002" in listed and NAME_B in listed

    unknown = jejak(env, "roster", "import", "b.csv", "--school", "99999999")
    assert unknown.exit_code == 2
    message = flat(unknown.output)
    assert "99999999" in message and "20100001" in message and "60100002" in message

    # export, invite links and report: one school's graduates only (same class name in both)
    out = tmp_path / "b.csv.out.csv"
    assert jejak(env, "export", "--out", str(out), "--school", "60100002").exit_code == 0
    text = out.read_text(encoding="utf-8-sig")
    assert "Budi Wenda" in text and "Ani Suryani" not in text
    links = tmp_path / "links.csv"
    assert jejak(env, "invite", "links", "--out", str(links), "--school", "60100002").exit_code == 0
    with links.open(encoding="utf-8-sig") as fh:
        names = {row["nama"] for row in csv.DictReader(fh)}
    assert names == {"Budi Wenda", "Bima Kogoya"}
    report = jejak(env, "report", "--school", "60100002")
    assert report.exit_code == 0 and "TKJ" in report.stdout
    assert jejak(env, "report", "--school", "123").exit_code == 2

    # staff of B are listed only under B
    r = jejak(env, "staff", "add", "--role", "bkk", "--name", "Pak Yohanes", "--school", "60100002")
    assert r.exit_code == 0, r.output
    assert "Yohanes" in jejak(env, "staff", "list", "--school", "60100002").stdout
    assert "Yohanes" not in jejak(env, "staff", "list").stdout
    regional = jejak(
        env, "staff", "add", "--role", "regional", "--name", "Disnaker", "--covers", "all"
    )
    assert regional.exit_code == 0, regional.output
    bad = jejak(env, "staff", "add", "--role", "regional", "--name", "D", "--covers", "123")
    assert bad.exit_code == 2 and "60100002" in flat(bad.output)
    assert (
        jejak(env, "staff", "add", "--role", "bkk", "--name", "D", "--covers", "all").exit_code == 2
    )

    # a regional vacancy: targets both; B lists it; only its owner (A) may close it
    v = jejak(
        env, "vacancy", "add", "--company", "PT Nusantara", "--position", "Teknisi",
        "--majors", "TKJ", "--location", "Jakarta", "--deadline", "2099-01-01",
        "--schools", "all",
    )  # fmt: skip
    assert v.exit_code == 0, v.output
    assert "Teknisi" in jejak(env, "vacancy", "list", "--school", "60100002").stdout
    closing = jejak(env, "vacancy", "close", "1", "--school", "60100002")
    assert closing.exit_code == 1 and "No vacancy #1" in closing.output
    unknown_target = jejak(
        env, "vacancy", "add", "--company", "PT", "--position", "P", "--majors", "TKJ",
        "--location", "L", "--deadline", "2099-01-01", "--schools", "20100001,77777777",
    )  # fmt: skip
    assert unknown_target.exit_code == 1 and "77777777" in flat(unknown_target.output)

    async def targets():
        db = Database(env["DATABASE_URL"])
        try:
            async with db.session() as s:
                return sorted((await s.execute(select(VacancySchool.school_id))).scalars())
        finally:
            await db.dispose()

    assert len(asyncio.run(targets())) == 2

    renamed = jejak(env, "school", "set", "60100002", "--name", "SMK N 2 Jayapura")
    assert renamed.exit_code == 0 and "SMK N 2 Jayapura" in renamed.stdout
    assert jejak(env, "school", "set", "55555555", "--name", "Z").exit_code == 2
