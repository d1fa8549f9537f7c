"""Roster import with messy real-world files (tests/fixtures/roster and generated XLSX)."""

from __future__ import annotations

import random
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from storage.models import Alumnus, School
from storage.roster import RosterError, import_roster, list_classes, normalise_phone, read_roster

pytestmark = pytest.mark.postgres

FIXTURES = Path(__file__).parent / "fixtures" / "roster"
SAMPLE = Path(__file__).resolve().parent.parent / "bot" / "sample_roster.csv"
TODAY = date(2026, 1, 15)


def _by_nisn(parsed):
    return {row.nisn: row for row in parsed.rows}


# --- parsing ---------------------------------------------------------------------------------


def test_semicolon_csv_from_indonesian_excel_with_bom():
    parsed = read_roster(FIXTURES / "excel_semicolon_bom.csv", today=TODAY)
    rows = _by_nisn(parsed)
    assert list(rows) == ["0071234501", "0071234502", "0071234503", "0071234506", "0071234508"]
    # headers "NISN ", " Tanggal Lahir ", " No. HP" (caps, spaces, dots) were recognised
    assert "no_hp" in parsed.columns and "jenis_kelamin" in parsed.columns
    adi = rows["0071234501"]
    assert (adi.name, adi.birth_date, adi.gender) == ("Adi Pratama", date(2007, 3, 14), "L")
    assert (adi.kelas, adi.jurusan, adi.graduation_year) == ("XII TKJ 1", "TKJ", 2025)
    assert adi.homeroom_teacher == "Sri Wahyuni, S.Kom."  # a comma inside a ';' file
    assert adi.phone == "6281234567801"
    # 71234502 lost its leading zeros in Excel: padded back, with a note
    assert rows["0071234502"].gender == "P"
    assert any("padded" in note for note in parsed.notes)
    assert rows["0071234503"].birth_date == date(2006, 7, 21)  # DD-MM-YYYY
    assert rows["0071234506"].gender == "L"  # "M"
    assert rows["0071234508"].birth_date == date(2007, 8, 17)  # YYYY-MM-DD
    assert rows["0071234508"].homeroom_teacher is None
    # spreadsheet row numbers (header = 1, blank rows 4, 5, 14, 15 skipped silently)
    assert [r.row_number for r in parsed.rows] == [2, 3, 6, 11, 13]
    assert parsed.rejected == [
        (7, "duplicate NISN in file (first at row 2)"),
        (8, "impossible date of birth"),
        (9, "missing name"),
        (10, parsed.rejected[3][1]),
        (12, "graduation year must be a year such as 2025"),
    ]
    assert parsed.rejected[3][1].startswith("NISN in scientific notation")
    # an invalid phone keeps the row, drops the number and warns
    assert rows["0071234503"].phone is None
    assert parsed.warnings == [(6, "no_hp is not a valid phone number: left empty")]


def test_comma_csv_without_bom_extra_column_and_bad_nisns():
    parsed = read_roster(FIXTURES / "comma_utf8.csv", today=TODAY)
    rows = _by_nisn(parsed)
    assert set(rows) == {"3071234509", "3071234510", "0012345678"}
    assert rows["3071234509"].name == "Indra Kurniawan, Jr."
    assert rows["3071234510"].birth_date == date(2007, 4, 3)  # "2007-04-03 00:00:00"
    assert rows["0012345678"].graduation_year == 2025  # NISN "12345678.0", year "2025.0"
    assert rows["0012345678"].birth_date == date(2006, 6, 28)
    assert "no_hp" not in parsed.columns and "jenis_kelamin" not in parsed.columns
    assert dict(parsed.rejected) == {
        5: "NISN must contain digits only",
        6: "NISN has 12 digits (must be 10)",
        7: "NISN has only 7 digits (must be 10)",
        8: "impossible date of birth; missing jurusan; "
        "implausible graduation year (expected 1990–2027)",
    }


def test_non_utf8_file_is_read_as_windows_1252_with_a_note():
    parsed = read_roster(FIXTURES / "windows_1252.csv", today=TODAY)
    assert [row.name for row in parsed.rows] == ["Andréa Siregar"]
    assert any("Windows-1252" in note for note in parsed.notes)


def test_xlsx_with_excel_serials_real_dates_and_numeric_nisns(tmp_path):
    workbook = openpyxl.Workbook()
    guide = workbook.active
    guide.title = "Petunjuk"
    guide["A1"] = "Isi data di lembar Data"
    sheet = workbook.create_sheet("Data")
    sheet.append(["DAFTAR LULUSAN SMK CONTOH 2025"])  # title row above the header
    sheet.append([])
    sheet.append(
        ["No", "NISN", "Nama Siswa", "Tgl Lahir", "JK", "Kelas", "Jurusan", "Tahun Lulus"]
        + ["Wali Kelas", "No HP"]
    )
    sheet.append(
        [1, 71234567, "Rina Wati", 39217, "P", "XII TKJ 1", "TKJ", 2025, "Bu Sri", 81234567890]
    )
    sheet.append(
        [2, "0071234568", "Sandi", datetime(2007, 5, 15), "L", "XII TKJ 1", "TKJ", 2025.0]
        + [None, 6285712345678]
    )
    sheet.append([3, 3071234569, "Tono", "16/05/2007", "Laki-laki", "XII RPL 1", "RPL", 2025])
    sheet.append([])
    sheet.append([5, 3071234570, "Umi", 39217.0, "P", "XII RPL 1", "RPL", 2025])
    sheet["D8"].number_format = "DD/MM/YYYY"  # a serial shown as a date: openpyxl gives datetime
    sheet.append([6, 3071234571, "Vina", 99999999, "P", "XII RPL 1", "RPL", 2025])
    sheet.append([7, 3071234572, "Wawan", "30/02/2007", "L", "XII RPL 1", "RPL", 2025])
    path = tmp_path / "roster.xlsx"
    workbook.save(path)

    parsed = read_roster(path, today=TODAY)
    rows = _by_nisn(parsed)
    assert list(rows) == ["0071234567", "0071234568", "3071234569", "3071234570"]
    assert rows["0071234567"].birth_date == date(2007, 5, 15)  # serial 39217
    assert rows["0071234567"].phone == "6281234567890"  # numeric cell lost its 0
    assert rows["0071234567"].homeroom_teacher == "Bu Sri"
    assert rows["0071234568"].birth_date == date(2007, 5, 15)  # real date
    assert rows["0071234568"].graduation_year == 2025
    assert rows["0071234568"].phone == "6285712345678"
    assert rows["3071234569"].birth_date == date(2007, 5, 16)
    assert rows["3071234570"].birth_date == date(2007, 5, 15)
    assert [r.row_number for r in parsed.rows] == [4, 5, 6, 8]
    assert [n for n, _ in parsed.rejected] == [9, 10]
    assert "not an Excel date" in parsed.rejected[0][1]
    assert parsed.rejected[1][1] == "impossible date of birth"


def test_a_csv_that_is_not_a_roster_names_the_missing_columns():
    with pytest.raises(RosterError) as excinfo:
        read_roster(FIXTURES / "not_a_roster.csv")
    message = str(excinfo.value)
    assert "missing column(s) nisn, nama, tanggal_lahir, kelas, jurusan, tahun_lulus" in message
    assert "found: perusahaan, posisi, gaji, kota" in message


def test_partial_header_names_only_the_missing_columns(tmp_path):
    path = tmp_path / "partial.csv"
    path.write_text("NISN,Nama,Kelas\n0071234501,Adi,XII TKJ 1\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"missing column\(s\) tanggal_lahir, jurusan, "):
        read_roster(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\r\n  \n;;;\n", "empty"),
        (random.Random(7).randbytes(4096), "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ".xls"),
        (b"%PDF-1.4\n" + bytes(range(256)) * 4, "binary"),
    ],
    ids=["empty", "blank-lines", "random-bytes", "old-xls", "pdf"],
)
def test_junk_files_are_refused_with_one_clear_message(tmp_path, content, expected):
    path = tmp_path / "roster.csv"
    path.write_bytes(content)
    with pytest.raises(RosterError, match=expected):
        read_roster(path)


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "roster.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(RosterError, match="not an XLSX"):
        read_roster(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_roster(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812-3456-7890", "6281234567890"),
        ("+62 812 3456 7890", "6281234567890"),
        ("6281234567890", "6281234567890"),
        ("'081234567890", "6281234567890"),
        (81234567890, "6281234567890"),
        (6281234567890.0, "6281234567890"),
        ("0812 3456 7890 / 0813 1111 2222", "6281234567890"),
        ("12345", None),
        ("6,28123E+12", None),
        ("", None),
        (None, None),
    ],
)
def test_phone_normalisation(raw, expected):
    assert normalise_phone(raw) == expected


# --- import into the database ----------------------------------------------------------------


async def _school(db, npsn="20100001") -> int:
    async with db.session() as s:
        school = School(npsn=npsn, name="SMK Contoh")
        s.add(school)
        await s.commit()
        return school.id


async def _alumni(db, school_id) -> dict[str, Alumnus]:
    async with db.session() as s:
        result = await s.execute(select(Alumnus).where(Alumnus.school_id == school_id))
        return {a.nisn: a for a in result.scalars()}


async def test_import_sample_then_reimport_changes_nothing(db):
    school_id = await _school(db)
    first = await import_roster(db, school_id, SAMPLE)
    assert (first.added, first.updated, first.unchanged, first.rejected) == (12, 0, 0, [])
    before = await _alumni(db, school_id)
    assert before["0071234501"].name == "Adi Pratama"
    assert before["0071234501"].birth_date == date(2007, 3, 14)
    assert before["0071234501"].phone == "6281234567801"
    assert before["3061234512"].graduation_year == 2024
    assert await list_classes(db, school_id) == [
        ("XII AKL 1", 4),
        ("XII RPL 1", 4),
        ("XII TKJ 1", 4),
    ]

    again = await import_roster(db, school_id, SAMPLE)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 12)
    after = await _alumni(db, school_id)
    assert {n: a.updated_at for n, a in after.items()} == {
        n: a.updated_at for n, a in before.items()
    }


async def test_changed_row_is_updated_and_blank_optional_cells_keep_stored_values(db, tmp_path):
    school_id = await _school(db)
    await import_roster(db, school_id, SAMPLE)
    before = await _alumni(db, school_id)
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    # Adi moves class and gets a new number; Bunga's phone and teacher cells are emptied
    lines[1] = (
        lines[1].replace("XII TKJ 1", "XII TKJ 2").replace("0812-3456-7801", "0813 9999 0001")
    )
    lines[2] = ";".join(lines[2].split(";")[:7] + ["", ""])
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = await import_roster(db, school_id, changed)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 11)
    after = await _alumni(db, school_id)
    assert after["0071234501"].kelas == "XII TKJ 2"
    assert after["0071234501"].phone == "6281399990001"
    assert after["0071234501"].updated_at > before["0071234501"].updated_at
    assert after["0071234501"].created_at == before["0071234501"].created_at
    assert after["3071234502"].phone == "6281322223302"
    assert after["3071234502"].homeroom_teacher == "Sri Wahyuni, S.Kom."
    assert after["3071234502"].updated_at == before["3071234502"].updated_at


async def test_import_reports_rejections_and_keeps_schools_apart(db):
    school_a = await _school(db, "20100001")
    school_b = await _school(db, "20100002")
    await import_roster(db, school_b, FIXTURES / "excel_semicolon_bom.csv")
    report = await import_roster(db, school_a, FIXTURES / "excel_semicolon_bom.csv")
    assert report.added == 5  # the same NISNs in another school are other people
    assert [n for n, _ in report.rejected] == [7, 8, 9, 10, 12]
    assert report.warnings == [(6, "no_hp is not a valid phone number: left empty")]
    assert set(await _alumni(db, school_a)) == set(await _alumni(db, school_b))


async def test_a_non_roster_file_writes_nothing(db, tmp_path):
    school_id = await _school(db)
    for path in (FIXTURES / "not_a_roster.csv", tmp_path / "empty.csv"):
        path.touch()
        with pytest.raises(RosterError):
            await import_roster(db, school_id, path)
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Alumnus))).scalar_one() == 0


async def test_large_import_is_batched(db, tmp_path):
    """3 000 rows (more than one lookup/write chunk) in, then all unchanged on re-import."""
    school_id = await _school(db)
    path = tmp_path / "big.csv"
    lines = ["nisn;nama;tanggal_lahir;kelas;jurusan;tahun_lulus;wali_kelas;no_hp"]
    for i in range(3000):
        lines.append(
            f"{1000000000 + i};Siswa {i};0{1 + i % 9}/05/2007;XII TKJ {1 + i % 3};TKJ;2025;Bu Sri;"
            f"0812{i:08d}"
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    first = await import_roster(db, school_id, path)
    assert (first.added, first.rejected) == (3000, [])
    second = await import_roster(db, school_id, path)
    assert (second.added, second.updated, second.unchanged) == (0, 0, 3000)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("sep=;\nnisn;nama;tanggal_lahir;kelas;jurusan;tahun_lulus;wali_kelas\n{row}", "utf-8"),
        ("nisn\tnama\ttanggal_lahir\tkelas\tjurusan\ttahun_lulus\twali_kelas\n{row}", "utf-16"),
        ("nisn,nama,tanggal_lahir,kelas,jurusan,tahun_lulus,wali_kelas\r\n{row}", "utf-8"),
    ],
    ids=["excel-sep-line", "utf16-tab", "formula-quoted"],
)
def test_other_excel_export_shapes(tmp_path, data, encoding):
    delimiter = ";" if "sep=" in data else "\t" if encoding == "utf-16" else ","
    cells = ['="0071234501"', "Adi", "14/03/2007", "XII TKJ 1", "TKJ", "2025", ""]
    if delimiter == ",":
        cells[0] = '"=""0071234501"""'
    path = tmp_path / "export.csv"
    path.write_bytes(data.format(row=delimiter.join(cells)).encode(encoding))
    parsed = read_roster(path, today=TODAY)
    assert parsed.rejected == []
    assert [(r.row_number, r.nisn, r.birth_date) for r in parsed.rows] == [
        (2, "0071234501", date(2007, 3, 14))
    ]


# --- headers as schools write them -----------------------------------------------------------
PHONE_HEADERS = [
    "No. HP/WA",
    "No Telp/HP",
    "No. WhatsApp",
    "Nomor HP",
    "HP",
    "WA",
    "Telepon",
    "No Telepon",
    "no_hp",
    "NoHP",
    "No. Hp. (WA)",
    "Nomor HP / WhatsApp Siswa",
]
ROSTER_HEADER = ["NISN", "Nama", "Tanggal Lahir", "Kelas", "Jurusan", "Tahun Lulus", "Wali Kelas"]
ADI = ["0071234501", "Adi Pratama", "14/03/2007", "XII TKJ 1", "TKJ", "2025", "Bu Sri"]


def _write(tmp_path, kind: str, header: list[str], *rows: list[str]) -> Path:
    if kind == "csv":
        path = tmp_path / "roster.csv"
        lines = [";".join(header), *(";".join(r) for r in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path = tmp_path / "roster.xlsx"
        workbook = openpyxl.Workbook()
        workbook.active.append(header)
        for row in rows:
            workbook.active.append(row)
        workbook.save(path)
    return path


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
@pytest.mark.parametrize("header", PHONE_HEADERS)
def test_phone_column_headers_as_schools_write_them(tmp_path, kind, header):
    path = _write(tmp_path, kind, [*ROSTER_HEADER, header], [*ADI, "0812-3456-7801"])
    parsed = read_roster(path, today=TODAY)
    assert "no_hp" in parsed.columns
    assert [r.phone for r in parsed.rows] == ["6281234567801"]
    assert parsed.notes == []


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_no_phone_column_and_unused_columns_are_noted_not_refused(tmp_path, kind):
    """A roster without a phone column still imports, with a note saying what that means; the
    columns that were not used are listed (a parent's number is not the graduate's)."""
    header = ["No", *ROSTER_HEADER, "No. HP Orang Tua", "Catatan", ""]
    path = _write(tmp_path, kind, header, ["1", *ADI, "0812-9999-0000", "pindahan", "x"])
    parsed = read_roster(path, today=TODAY)
    assert [(r.nisn, r.phone) for r in parsed.rows] == [("0071234501", None)]
    assert "no_hp" not in parsed.columns
    assert len(parsed.notes) == 2
    no_phone, unused = parsed.notes
    assert "no phone column" in no_phone.lower() and "WhatsApp" in no_phone
    assert unused == "Columns not used: No, No. HP Orang Tua, Catatan."


def test_a_second_phone_column_is_reported_as_not_used(tmp_path):
    header = [*ROSTER_HEADER, "No HP", "No. WA"]
    path = _write(tmp_path, "csv", header, [*ADI, "0812-3456-7801", "0813-2222-3302"])
    parsed = read_roster(path, today=TODAY)
    assert [r.phone for r in parsed.rows] == ["6281234567801"]
    assert parsed.notes == ["Columns not used: No. WA (a second no_hp column; the first is used)."]


async def test_import_summary_carries_the_notes(db, tmp_path):
    school_id = await _school(db)
    path = _write(tmp_path, "csv", [*ROSTER_HEADER, "Catatan"], [*ADI, "pindahan"])
    report = await import_roster(db, school_id, path)
    assert report.added == 1
    assert any("no phone column" in n.lower() for n in report.notes)
    assert "Columns not used: Catatan." in report.notes
