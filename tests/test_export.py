"""The XLSX and CSV exports, re-read with openpyxl and the csv module."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.export import LULUSAN_COLUMNS, REKAP_COLUMNS, export_csv, export_xlsx
from tests.fixtures.reports_fixture import ROSTER, build

pytestmark = pytest.mark.postgres


async def test_xlsx_sheets_types_and_layout(db, tmp_path):
    f = await build(db)
    out = tmp_path / "ekspor.xlsx"
    assert await export_xlsx(db, f.school_id, out, batch_size=4) == 18
    wb = load_workbook(out)
    assert wb.sheetnames == ["lulusan", "rekap_jurusan"]
    ws = wb["lulusan"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == LULUSAN_COLUMNS
    assert len(rows) == 19
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:AC19"
    by_name = {r[1]: dict(zip(LULUSAN_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert "Zaki Other" not in by_name  # another school

    adi = by_name["Adi Saputra"]
    assert adi["nisn"] == "0012345601" and isinstance(adi["nisn"], str)
    assert ws.cell(row=2, column=1).number_format == "@"
    assert (adi["kelas"], adi["jurusan"], adi["tahun_lulus"]) == ("XII TKJ 1", "TKJ", 2024)
    assert (adi["status"], adi["bmw"], adi["employer"]) == ("bekerja", "B", "PT Maju Jaya")
    assert adi["start_month"] == "08/2024" and adi["waiting_months"] == 2
    assert (adi["income"], adi["relevance"], adi["channel"]) == ("3_4", "sesuai", "whatsapp")
    # 2025-09-10 10:00 UTC is 17:00 in Jakarta
    assert adi["answered_at"] == datetime(2025, 9, 10, 17, 0)
    # the current response wins over history
    budi = by_name["Budi Hartono"]
    assert (budi["status"], budi["waiting_months"], budi["obstacles"]) == ("bekerja", 0, None)
    assert by_name["Eko Prasetyo"]["obstacles"] == "sedikit_lowongan,biaya"
    assert by_name["Eko Prasetyo"]["bmw"] is None
    # a finished answer and a newer unfinished /ubah pass: the finished one is exported
    assert by_name["Citra Lestari"]["status"] == "melanjutkan"
    # non-responders are rows too, with the roster columns only
    gita = by_name["Gita Permata"]
    assert gita["nisn"] == "0012345607" and gita["status"] is None
    assert gita["employer"] is None and gita["answered_at"] is None
    # ordered by year, class, name
    assert [r[1] for r in rows[1:4]] == ["Kiki Amelia", "Lina Marlina", "Made Wirawan"]
    assert rows[-1][1] == "Sari Wulandari"

    rekap = list(wb["rekap_jurusan"].iter_rows(values_only=True))
    assert rekap[0] == REKAP_COLUMNS
    tkj24 = dict(zip(REKAP_COLUMNS, rekap[2], strict=True))
    assert (tkj24["tahun_lulus"], tkj24["jurusan"], tkj24["graduates"]) == (2024, "TKJ", 10)
    assert (tkj24["responders"], tkj24["B"], tkj24["M"], tkj24["W"]) == (5, 2, 1, 1)
    assert tkj24["response_rate"] == 0.5 and tkj24["pct_bmw"] == pytest.approx(0.8)
    assert tkj24["pct_relevant"] == 0.5 and tkj24["median_waiting_months"] == 2
    assert wb["rekap_jurusan"].cell(row=3, column=12).number_format == "0.0%"


async def test_xlsx_answers_stay_text_and_columns_keep_their_formats(db, tmp_path):
    """Free-text answers that look like a formula or a link are written as plain text (never
    evaluated by Excel: no formula injection); the text and date formats hold on every row."""
    from sqlalchemy import update

    from storage.models import Alumnus, Answer, Response

    f = await build(db)
    async with db.session() as s:
        adi = (await s.execute(select(Alumnus.id).where(Alumnus.name == "Adi Saputra"))).scalar()
        responses = select(Response.id).where(Response.alumnus_id == adi)
        for field, value in (("employer", '=HYPERLINK("http://x")'), ("job_title", "https://a.id")):
            await s.execute(
                update(Answer)
                .where(Answer.response_id.in_(responses), Answer.field == field)
                .values(value=value)
            )
        await s.commit()
    out = tmp_path / "teks.xlsx"
    await export_xlsx(db, f.school_id, out, graduation_year=2024)
    ws = load_workbook(out)["lulusan"]
    col = {c: i for i, c in enumerate(LULUSAN_COLUMNS, start=1)}
    header = [ws.cell(row=1, column=i) for i in range(1, len(LULUSAN_COLUMNS) + 1)]
    assert all(cell.font.b for cell in header)
    row = next(
        r for r in range(2, ws.max_row + 1) if ws.cell(r, col["nama"]).value == "Adi Saputra"
    )
    employer, job_title = ws.cell(row, col["employer"]), ws.cell(row, col["job_title"])
    assert (employer.value, employer.data_type) == ('=HYPERLINK("http://x")', "s")
    assert (job_title.value, job_title.hyperlink) == ("https://a.id", None)
    assert ws.cell(row, col["start_month"]).number_format == "@"
    assert ws.cell(row, col["answered_at"]).number_format == "yyyy-mm-dd hh:mm"
    # every NISN is text, with its zeros, responders and non-responders alike
    nisn = [ws.cell(r, col["nisn"]) for r in range(2, ws.max_row + 1)]
    assert sorted(c.value for c in nisn) == sorted(r[1] for r in ROSTER if r[4] == 2024)
    assert {(c.data_type, c.number_format) for c in nisn} == {("s", "@")}


async def test_xlsx_filters(db, tmp_path):
    f = await build(db)
    out = tmp_path / "kelas.xlsx"
    assert await export_xlsx(db, f.school_id, out, graduation_year=2025, kelas="XII TKJ 1") == 3
    wb = load_workbook(out)
    names = [r[1] for r in wb["lulusan"].iter_rows(min_row=2, values_only=True)]
    assert names == ["Putri Ayu", "Rudi Hermawan", "Sari Wulandari"]
    rekap = list(wb["rekap_jurusan"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[2]) for r in rekap] == [(2025, "TKJ", 3)]


async def test_csv_has_bom_and_same_rows(db, tmp_path):
    f = await build(db)
    out = tmp_path / "ekspor.csv"
    assert await export_csv(db, f.school_id, out, graduation_year=2024) == 15
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == LULUSAN_COLUMNS and len(rows) == 16
    eko = dict(zip(LULUSAN_COLUMNS, next(r for r in rows if r[1] == "Eko Prasetyo"), strict=True))
    assert eko["nisn"] == "0012345605"
    assert eko["obstacles"] == "sedikit_lowongan,biaya"
    assert eko["answered_at"] == "2025-08-15 17:00"
    assert eko["waiting_months"] == "" and eko["status"] == "mencari_kerja"


async def test_csv_neutralises_formula_cells_and_keeps_numbers(db, tmp_path):
    """CSV injection (OWASP): a text cell starting with = + - @, a tab or a carriage return is
    written with a leading ' so a spreadsheet program shows it as text instead of running it.
    Numeric columns keep their numbers, NISN keeps its digits and zeros (the file is for tools
    that read text; Excel users take the XLSX)."""
    from sqlalchemy import update

    from storage.models import Alumnus, Answer, Response

    f = await build(db)
    payloads = {
        "employer": '=HYPERLINK("http://evil","klik")',
        "job_title": "+62-cmd",
        "work_location": "-2+3",
        "relevance": "@SUM(1)",
        "income": "\t=1+1",
        "job_channel": "\r=1+1",
    }
    async with db.session() as s:
        adi = (await s.execute(select(Alumnus.id).where(Alumnus.name == "Adi Saputra"))).scalar()
        responses = select(Response.id).where(Response.alumnus_id == adi)
        for field, value in payloads.items():
            await s.execute(
                update(Answer)
                .where(Answer.response_id.in_(responses), Answer.field == field)
                .values(value=value)
            )
        # roster text is outside input too
        await s.execute(update(Alumnus).where(Alumnus.id == adi).values(kelas="=XII TKJ 1"))
        await s.commit()
    out = tmp_path / "ekspor.csv"
    await export_csv(db, f.school_id, out, graduation_year=2024)
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    cells = next(r for r in rows if r[1] == "Adi Saputra")
    adi_row = dict(zip(LULUSAN_COLUMNS, cells, strict=True))
    for field, value in payloads.items():
        assert adi_row[field] == "'" + value, field
    assert adi_row["kelas"] == "'=XII TKJ 1"
    # numbers and plain values are left as they are
    assert adi_row["nisn"] == "0012345601" and adi_row["tahun_lulus"] == "2024"
    assert adi_row["waiting_months"] == "2" and adi_row["start_month"] == "08/2024"
    assert adi_row["status"] == "bekerja" and adi_row["answered_at"] == "2025-09-10 17:00"
    triggers = ("=", "+", "-", "@", "\t", "\r")
    assert not [c for r in rows[1:] for c in r if c.startswith(triggers)]


def test_csv_keeps_negative_numbers_in_numeric_columns():
    """A number column is never prefixed, even negative; the same text in a free-text column
    is."""
    from bot.export import csv_cells

    values = [None] * len(LULUSAN_COLUMNS)
    col = {c: i for i, c in enumerate(LULUSAN_COLUMNS)}
    values[col["waiting_months"]] = -2
    values[col["tahun_lulus"]] = 2024
    values[col["employer"]] = "-2"
    values[col["answered_at"]] = datetime(2025, 9, 10, 17, 0)
    cells = csv_cells(values)
    assert cells[col["waiting_months"]] == -2 and cells[col["tahun_lulus"]] == 2024
    assert cells[col["employer"]] == "'-2"
    assert cells[col["answered_at"]] == "2025-09-10 17:00" and cells[col["nama"]] == ""


# --- CLI: jejak export, jejak report -----------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    from tests.fixtures.reports_fixture import build_sqlite_file

    monkeypatch.chdir(tmp_path)  # no stray .env
    url, _built = build_sqlite_file(tmp_path / "cli.db")
    return {"DATABASE_URL": url, "SCHOOL_NPSN": "20100001", "SCHOOL_NAME": "SMK Uji"}


def _invoke(env, *args):
    from typer.testing import CliRunner

    from bot.cli import _register, app

    _register()
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_export(cli_env, tmp_path):
    out = tmp_path / "rekap.xlsx"
    r = _invoke(cli_env, "export", "--out", str(out), "--tahun-lulus", "2024")
    assert r.exit_code == 0, r.output
    assert "Wrote 15 graduates" in " ".join(r.stdout.split())
    assert load_workbook(out).sheetnames == ["lulusan", "rekap_jurusan"]

    out_csv = tmp_path / "kelas.csv"
    r = _invoke(cli_env, "export", "--out", str(out_csv), "--kelas", "XII RPL 1")
    assert r.exit_code == 0, r.output
    assert len(out_csv.read_text(encoding="utf-8-sig").splitlines()) == 6
    said = " ".join(r.stdout.split())
    assert "Excel drops the NISN's leading zeros" in said and "write .xlsx" in said

    # the class as people type it, like `invite links --kelas` and `staff invite --kelas`
    out_any = tmp_path / "kelas-any.csv"
    r = _invoke(cli_env, "export", "--out", str(out_any), "--kelas", "  xii  rpl 1 ")
    assert r.exit_code == 0, r.output
    assert out_any.read_bytes() == out_csv.read_bytes()

    r = _invoke(cli_env, "export", "--help")
    helped = " ".join(r.stdout.replace("│", " ").split())
    assert ".xlsx to open in Excel" in helped and "For Excel use .xlsx" in helped

    r = _invoke(cli_env, "export", "--out", str(tmp_path / "x.pdf"))
    assert r.exit_code == 2 and "use .xlsx or .csv" in r.stderr
    r = _invoke(cli_env, "export", "--out", str(tmp_path / "y.xlsx"), "--kelas", "XII ZZZ")
    assert r.exit_code == 2
    assert "Known classes: XII RPL 1, XII TKJ 1" in " ".join(r.stderr.split())
    assert not (tmp_path / "y.xlsx").exists()


def test_cli_report_table_and_chart(cli_env, tmp_path):
    chart = tmp_path / "rekap.png"
    r = _invoke(cli_env, "report", "--chart", str(chart))
    assert r.exit_code == 0, r.output
    cells = [line.split() for line in r.stdout.splitlines()]
    assert [
        "2024",
        "TKJ",
        "10",
        "5",
        "50%",
        "2",
        "1",
        "1",
        "0",
        "1",
        "0",
        "80%",
        "50%",
        "2",
    ] in cells
    assert [
        "2024",
        "semua",
        "15",
        "8",
        "53%",
        "3",
        "1",
        "1",
        "1",
        "1",
        "1",
        "62%",
        "60%",
        "1",
    ] in cells
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    r = _invoke(cli_env, "report", "--tahun-lulus", "2030")
    assert r.exit_code == 0 and "No graduates on the roster for 2030" in r.stdout
    r = _invoke(cli_env, "report", "--chart", str(tmp_path / "x.jpg"))
    assert r.exit_code == 2


def test_cli_report_table_follows_lang(cli_env):
    """The table is in the language of --lang, like the chart (Indonesian by default)."""
    default = " ".join(_invoke(cli_env, "report").stdout.split())
    assert "Rekap lulusan (tracer study)" in default and "tahun jurusan lulus jawab" in default
    assert "2024 semua 15 8 53%" in default and "Graduate recap" not in default

    r = _invoke(cli_env, "report", "--lang", "en")
    assert r.exit_code == 0, r.output
    en = " ".join(r.stdout.split())
    assert "Graduate recap (tracer study)" in en and "year major grads resp %resp" in en
    assert "2024 all 15 8 53%" in en and "resp: answered" in en
    for indonesian in ("Rekap", "jawab", "cari", "semua", "tunggu"):
        assert indonesian not in en


def test_cli_report_chart_in_a_missing_folder_is_refused(cli_env, tmp_path):
    """As `export` does: a clear message before anything is read, no traceback, no table."""
    r = _invoke(cli_env, "report", "--chart", str(tmp_path / "sub2" / "r.png"))
    assert r.exit_code == 2
    assert f"Folder {tmp_path / 'sub2'} does not exist." in "".join(r.stderr.splitlines())
    assert r.stdout == ""
    assert not (tmp_path / "sub2").exists()
