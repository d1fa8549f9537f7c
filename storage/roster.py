"""Roster import: a school's list of graduates from a CSV or XLSX file into `Alumnus` rows.

Two steps, kept apart so the parsing can be tested (and reused) without a database:

- `read_roster(path) -> ParsedRoster` only reads and validates the file.
- `import_roster(db, school_id, path) -> ImportReport` reads it and upserts the valid rows by
  (school_id, nisn) in one transaction.

The file
--------
Columns (header names case-insensitive; spaces and punctuation in them are ignored, so
"Tanggal Lahir" and "No. HP" work): ``nisn, nama, tanggal_lahir, jenis_kelamin, kelas, jurusan,
tahun_lulus, wali_kelas, no_hp``. ``jenis_kelamin`` and ``no_hp`` may be left out; the other
columns must be there or the file is refused (`RosterError`, naming the missing ones). A few
common spellings from school exports are accepted as well (see `HEADER_ALIASES`); a header made
only of phone words is ``no_hp`` ("No. HP/WA", "No Telp/HP", "No. WhatsApp", "Telepon", "WA";
see `PHONE_WORDS`). Other columns are not used, and a note lists them; a roster without a phone
column is imported with a note saying that identification by WhatsApp number will not work. The
header is the first row that names ``nisn`` (within the first 20 rows), so a title line above
it is fine.

- CSV: comma, semicolon or tab separated (taken from the header line), UTF-8 with or without
  BOM, UTF-16 with BOM (Excel "Unicode text"); a file that is not valid UTF-8 is read as
  Windows-1252 (then Latin-1) and a note says so. XLSX: the first sheet that has a roster
  header, read with openpyxl in read-only mode. The kind is taken from the content, not the name.
- Row numbers are the spreadsheet's: the first line of the file (usually the header) is row 1.
  Completely blank rows are skipped silently.
- Cells written as ``="0071234501"`` (a spreadsheet trick to keep leading zeros) are unwrapped.
- ``nisn``: 10 digits, kept as text. A number that lost its leading zeros in Excel (8 or 9 digits,
  or a numeric cell such as 12345678.0) is padded back to 10 digits (a note counts them).
  Scientific notation (1.23E+09: the digits are gone), other characters, fewer than 8 or more
  than 10 digits are rejected. A NISN seen earlier in the same file rejects the later row.
- ``tanggal_lahir``: YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY (also DD.MM.YYYY), a real Excel date,
  or an Excel serial number; impossible dates (31/02/2007) and implausible ones (in the future,
  before 1950) are rejected.
- ``tahun_lulus``: a year between 1990 and next year. ``nama``, ``kelas``, ``jurusan``: required
  text (whitespace collapsed). ``wali_kelas``: optional text.
- ``jenis_kelamin``: L or P (also Laki-laki/Perempuan, Pria/Wanita, M/F, Male/Female); an
  unknown value keeps the row, drops the value and adds a warning.
- ``no_hp``: normalised with `phonenumbers` (region ID) to international digits without "+"
  (0812-3456-7890 → 6281234567890). An invalid number does **not** reject the row (the row is
  still useful for identification by NISN + birth date): the number is dropped and a warning
  with the row number is listed.

Each rejected row gets every reason found, joined with "; ". Reasons never repeat the personal
values themselves (the row number says where to look).

Upsert rules
------------
Matched by (school_id, nisn). A row whose values equal the stored ones is "unchanged" and is not
written at all (``updated_at`` stays). An empty optional cell (``jenis_kelamin``, ``wali_kelas``,
``no_hp``) or an absent optional column never erases a stored value; a filled one replaces it.
The whole import is one transaction: a database error writes nothing. Lookups and writes are
batched (no query per row).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import func, insert, select, update

from storage.db import Database
from storage.models import Alumnus, utcnow

REQUIRED_COLUMNS = (
    "nisn",
    "nama",
    "tanggal_lahir",
    "kelas",
    "jurusan",
    "tahun_lulus",
    "wali_kelas",
)
OPTIONAL_COLUMNS = ("jenis_kelamin", "no_hp")
ALL_COLUMNS = (
    "nisn",
    "nama",
    "tanggal_lahir",
    "jenis_kelamin",
    "kelas",
    "jurusan",
    "tahun_lulus",
    "wali_kelas",
    "no_hp",
)
# Spellings seen in school exports. Headers are compared in a compact form: lower case, with
# everything but letters and digits removed ("No. HP/WA" -> "nohpwa", "Tgl Lahir" -> "tgllahir").
HEADER_ALIASES = {
    "namasiswa": "nama",
    "namalengkap": "nama",
    "namapesertadidik": "nama",
    "tgllahir": "tanggal_lahir",
    "tanggalkelahiran": "tanggal_lahir",
    "jk": "jenis_kelamin",
    "lp": "jenis_kelamin",
    "gender": "jenis_kelamin",
    "rombel": "kelas",
    "rombonganbelajar": "kelas",
    "kompetensikeahlian": "jurusan",
    "konsentrasikeahlian": "jurusan",
    "programkeahlian": "jurusan",
    "tahunkelulusan": "tahun_lulus",
    "wali": "wali_kelas",
    "nohp": "no_hp",
    "nowa": "no_hp",
    "notelp": "no_hp",
    "notlp": "no_hp",
}
# A header made only of these words (and "no"/"nomor"/"siswa") is the graduate's phone number:
# "No. HP/WA", "No Telp/HP", "No. WhatsApp", "Nomor HP", "HP", "WA", "Telepon", "Nomor HP /
# WhatsApp Siswa". Any other word ("No. HP Orang Tua", "Telepon Rumah") makes it another column.
PHONE_WORDS = frozenset(
    {
        "hp",
        "wa",
        "whatsapp",
        "telp",
        "tlp",
        "telpon",
        "telepon",
        "telephone",
        "handphone",
        "ponsel",
        "hape",
        "phone",
        "mobile",
    }
)
PHONE_FILLER = frozenset({"no", "nomor", "nomer", "nmr", "siswa"})
HEADER_SEARCH_ROWS = 20
MIN_YEAR = 1990
MIN_BIRTH = date(1950, 1, 1)
LOOKUP_CHUNK = 2000
WRITE_CHUNK = 2000


class RosterError(Exception):
    """The file is not a roster at all (nothing was written). The message is for the user."""


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One valid roster row, normalised. Optional values are None when empty or dropped."""

    row_number: int
    nisn: str
    name: str
    birth_date: date
    kelas: str
    jurusan: str
    graduation_year: int
    gender: str | None = None
    homeroom_teacher: str | None = None
    phone: str | None = None


@dataclass(slots=True)
class ParsedRoster:
    rows: list[RosterRow] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    warnings: list[tuple[int, str]] = field(default_factory=list)  # row kept, a value dropped
    notes: list[str] = field(default_factory=list)  # about the whole file
    columns: tuple[str, ...] = ()  # the recognised columns present in the file


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Valid rows read from the file."""
        return self.added + self.updated + self.unchanged


# ---------------------------------------------------------------------------------------------
# reading the file: a list of (row number, cells) plus the header
# ---------------------------------------------------------------------------------------------


def _header_text(value: Any) -> str:
    return ("" if value is None else str(value)).replace("\ufeff", "").strip()


def _normalise_header(value: Any) -> str:
    """The roster column a header names (one of ALL_COLUMNS), else its compact form."""
    text = _header_text(value).lower()
    key = re.sub(r"[^0-9a-z]+", "", text)
    if key in _CANONICAL:
        return _CANONICAL[key]
    if key in HEADER_ALIASES:
        return HEADER_ALIASES[key]
    words = set(re.findall(r"[0-9a-z]+", text)) - PHONE_FILLER
    if words and words <= PHONE_WORDS:
        return "no_hp"
    return key


_CANONICAL = {re.sub(r"_", "", name): name for name in ALL_COLUMNS}


def _is_blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


@dataclass(frozen=True, slots=True)
class _Header:
    index: int  # into the rows
    columns: dict[str, int]  # roster column -> position
    unused: list[str]  # the other headers, as written (a second phone column says so)


def _find_header(rows: Sequence[tuple[int, Sequence[Any]]]) -> _Header | None:
    """The first row naming `nisn`: its column map and the headers not used, or None."""
    for index, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        names = [_normalise_header(c) for c in cells]
        if "nisn" in names:
            mapping: dict[str, int] = {}
            unused: list[str] = []
            for position, name in enumerate(names):
                shown = _header_text(cells[position])
                if name in ALL_COLUMNS and name not in mapping:
                    mapping[name] = position
                elif name in ALL_COLUMNS:
                    unused.append(f"{shown} (a second {name} column; the first is used)")
                elif shown:
                    unused.append(shown)
            return _Header(index, mapping, unused)
    return None


def _missing_message(found: Iterable[Any], missing: Sequence[str]) -> str:
    shown = [str(c).strip() for c in found if c is not None and str(c).strip()]
    found_text = ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "")
    return (
        f"This file is not a roster: missing column(s) {', '.join(missing)}. "
        f"Expected a header row with {', '.join(ALL_COLUMNS)} "
        f"(jenis_kelamin and no_hp may be left out)"
        + (f"; found: {found_text}." if found_text else "; the first row is empty.")
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decode(data: bytes, notes: list[str]) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise RosterError("This file is not a roster: it is not readable text.") from None
    if b"\x00" in data[:65536]:
        raise RosterError(
            "This file is not a roster: it looks like a binary file, not a CSV or XLSX."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for encoding, label in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        notes.append(
            f"The file is not UTF-8; it was read as {label}. Check names with special "
            "characters, or save it again as 'CSV UTF-8'."
        )
        return text
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _csv_rows(data: bytes, notes: list[str]) -> list[tuple[int, list[str]]]:
    text = _decode(data, notes)
    sample = text[:8192]
    if sample and len(_CONTROL.findall(sample)) > max(3, len(sample) // 100):
        raise RosterError(
            "This file is not a roster: it looks like a binary file, not a CSV or XLSX."
        )
    lines = text.splitlines()
    delimiter = None
    if lines and re.fullmatch(r"\s*sep=(.)\s*", lines[0]):  # Excel's "sep=;" hint, not shown
        delimiter = lines[0].strip()[4]
        text = text.split("\n", 1)[1] if "\n" in text else ""
    if delimiter is None:
        first = next((line for line in lines if line.strip()), "")
        counts = {d: first.count(d) for d in (";", ",", "\t")}
        delimiter = max(counts, key=lambda d: (counts[d], d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return list(enumerate(reader, start=1))
    except csv.Error as exc:
        raise RosterError(f"This file is not a readable CSV: {exc}.") from None


def _xlsx_rows(path: Path) -> tuple[list[tuple[int, tuple[Any, ...]]], datetime]:
    """Rows of the first sheet with a roster header (else the first sheet), and the epoch."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, ...
        raise RosterError(
            f"This file is not a roster: it could not be opened as an XLSX workbook ({exc})."
        ) from None
    try:
        first: list[tuple[int, tuple[Any, ...]]] | None = None
        for sheet in workbook.worksheets:
            if not hasattr(sheet, "reset_dimensions"):  # chart sheets
                continue
            sheet.reset_dimensions()  # some writers store a wrong dimension
            rows = [(i, tuple(r)) for i, r in enumerate(sheet.iter_rows(values_only=True), 1)]
            if first is None:
                first = rows
            if _find_header(rows) is not None:
                return rows, workbook.epoch
        return first or [], workbook.epoch
    finally:
        workbook.close()


def _load(path: Path, notes: list[str]) -> tuple[list[tuple[int, Sequence[Any]]], datetime]:
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                if "mimetype" in names and b"opendocument" in archive.read("mimetype"):
                    raise RosterError(
                        "This is an OpenDocument (.ods) file: save it as .xlsx or CSV first."
                    )
                if "xl/workbook.xml" not in names:
                    raise RosterError(
                        "This file is not a roster: it is a ZIP archive, not an XLSX workbook."
                    )
        except zipfile.BadZipFile:
            raise RosterError("This file is not a roster: it is a damaged ZIP/XLSX file.") from None
        return _xlsx_rows(path)  # type: ignore[return-value]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise RosterError(
            "This is an old Excel .xls file: open it in Excel and save it as .xlsx or CSV first."
        )
    data = path.read_bytes()
    if not data.strip():
        raise RosterError("This file is empty: it is not a roster.")
    return _csv_rows(data, notes), datetime(1899, 12, 30)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# cell values
# ---------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    text = " ".join(str(value).replace("\u00a0", " ").split())
    if len(text) > 2 and text.startswith('="') and text.endswith('"'):  # ="0071234501" trick
        text = text[2:-1].strip()
    return text


def _parse_nisn(value: Any) -> tuple[str | None, str | None, bool]:
    """(nisn, reason if rejected, padded?)."""
    if isinstance(value, bool):
        return None, "NISN is not a number", False
    if isinstance(value, float):
        if not value.is_integer() or value < 0:
            return None, "NISN is not a whole number", False
        value = int(value)
    if isinstance(value, int):
        digits = str(value)
    else:
        digits = _text(value).lstrip("'").replace(" ", "")
        if not digits:
            return None, "missing NISN", False
        if re.fullmatch(r"\d+([.,]\d+)?[eE][+-]?\d+", digits):
            return (
                None,
                "NISN in scientific notation (the digits were lost in Excel: format the "
                "column as Text and type them again)",
                False,
            )
        digits = re.sub(r"\.0+$", "", digits)  # "12345678.0" from a numeric export
        if not digits.isdigit() or not digits.isascii():
            return None, "NISN must contain digits only", False
    if len(digits) > 10:
        return None, f"NISN has {len(digits)} digits (must be 10)", False
    if len(digits) < 8:
        return None, f"NISN has only {len(digits)} digits (must be 10)", False
    return digits.zfill(10), None, len(digits) < 10


_DATE_PATTERNS = (
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"), "ymd"),
    (re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?"), "dmy"),
)


def _parse_birth_date(value: Any, epoch: datetime, today: date) -> tuple[date | None, str | None]:
    parsed: date | None = None
    if isinstance(value, datetime):
        parsed = value.date()
    elif isinstance(value, date):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        parsed = _from_serial(float(value), epoch)
        if parsed is None:
            return None, "date of birth is a number that is not an Excel date"
    else:
        text = _text(value)
        if not text:
            return None, "missing date of birth"
        if re.fullmatch(r"\d{4,5}(\.0+)?", text):
            parsed = _from_serial(float(text), epoch)
            if parsed is None:
                return None, "date of birth is a number that is not an Excel date"
        else:
            for pattern, order in _DATE_PATTERNS:
                match = pattern.fullmatch(text)
                if match:
                    a, b, c = (int(g) for g in match.groups())
                    year, month, day = (a, b, c) if order == "ymd" else (c, b, a)
                    try:
                        parsed = date(year, month, day)
                    except ValueError:
                        return None, "impossible date of birth"
                    break
            else:
                return None, "unrecognised date of birth (use DD/MM/YYYY or YYYY-MM-DD)"
    if parsed > today:
        return None, "date of birth is in the future"
    if parsed < MIN_BIRTH:
        return None, "implausible date of birth (before 1950)"
    return parsed, None


def _from_serial(serial: float, epoch: datetime) -> date | None:
    # 1900 system: serial 60 is the fictitious 29/02/1900; birth dates are far above it.
    if not 1 <= serial < 2958466:
        return None
    return (epoch + timedelta(days=int(serial))).date()


def _parse_year(value: Any, today: date) -> tuple[int | None, str | None]:
    if isinstance(value, datetime | date):
        return None, "graduation year must be a year such as 2025, not a date"
    text = re.sub(r"\.0+$", "", _text(value))
    if not text:
        return None, "missing graduation year"
    if not re.fullmatch(r"\d{4}", text):
        return None, "graduation year must be a year such as 2025"
    year = int(text)
    if not MIN_YEAR <= year <= today.year + 1:
        return None, f"implausible graduation year (expected {MIN_YEAR}–{today.year + 1})"
    return year, None


_GENDERS = {
    "l": "L",
    "lk": "L",
    "laki": "L",
    "laki_laki": "L",
    "lakilaki": "L",
    "pria": "L",
    "m": "L",
    "male": "L",
    "p": "P",
    "pr": "P",
    "perempuan": "P",
    "wanita": "P",
    "f": "P",
    "female": "P",
}


def _parse_gender(value: Any) -> tuple[str | None, str | None]:
    text = _text(value)
    if not text:
        return None, None
    key = re.sub(r"[^a-z]+", "_", text.lower()).strip("_")
    if key in _GENDERS:
        return _GENDERS[key], None
    return None, "jenis_kelamin not recognised (use L or P): left empty"


def normalise_phone(value: Any) -> str | None:
    """International digits without '+' (region ID), or None when not a valid number."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _text(value).lstrip("'")
    if not text:
        return None
    for candidate in re.split(r"\s*[/,;]\s*|\s+atau\s+", text):
        if not candidate or re.search(r"[eE][+-]?\d", candidate):
            continue
        try:
            number = phonenumbers.parse(candidate, "ID")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    return None


def _required_text(value: Any, what: str, limit: int) -> tuple[str | None, str | None]:
    text = _text(value)
    if not text:
        return None, f"missing {what}"
    if len(text) > limit:
        return None, f"{what} is longer than {limit} characters"
    return text, None


# ---------------------------------------------------------------------------------------------
# read_roster
# ---------------------------------------------------------------------------------------------


def read_roster(path: str | Path, *, today: date | None = None) -> ParsedRoster:
    """Read and validate a roster file (no database). Raises `RosterError` for a file that is not
    a roster and `FileNotFoundError` when it does not exist. See the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    today = today or date.today()
    result = ParsedRoster()
    rows, epoch = _load(path, result.notes)
    nonblank = [(n, cells) for n, cells in rows if not _is_blank(cells)]
    if not nonblank:
        raise RosterError("This file is empty: it is not a roster.")
    found = _find_header(nonblank)
    if found is None:
        first = {_normalise_header(c) for c in nonblank[0][1]}
        missing = [c for c in REQUIRED_COLUMNS if c not in first]
        raise RosterError(_missing_message(nonblank[0][1], missing))
    header_index, columns = found.index, found.columns
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RosterError(_missing_message(nonblank[header_index][1], missing))
    result.columns = tuple(c for c in ALL_COLUMNS if c in columns)
    if "no_hp" not in columns:
        result.notes.append(
            "No phone column (no_hp) was found, so no phone numbers were imported: graduates "
            "cannot be recognised by their WhatsApp number (they can still use their invitation "
            "code, or NISN and date of birth). To add the numbers, name the column no_hp "
            '(also understood: "No. HP", "No HP/WA", "Nomor WhatsApp", "Telepon", "WA") and '
            "import the file again."
        )
    if found.unused:
        result.notes.append(f"Columns not used: {', '.join(found.unused)}.")

    seen: dict[str, int] = {}
    padded = 0
    for row_number, cells in nonblank[header_index + 1 :]:

        def cell(name: str, _cells: Sequence[Any] = cells) -> Any:
            position = columns.get(name)
            if position is None or position >= len(_cells):
                return None
            return _cells[position]

        reasons: list[str] = []
        nisn, why, was_padded = _parse_nisn(cell("nisn"))
        if why:
            reasons.append(why)
        name, why = _required_text(cell("nama"), "name", 200)
        if why:
            reasons.append(why)
        birth, why = _parse_birth_date(cell("tanggal_lahir"), epoch, today)
        if why:
            reasons.append(why)
        kelas, why = _required_text(cell("kelas"), "kelas", 64)
        if why:
            reasons.append(why)
        jurusan, why = _required_text(cell("jurusan"), "jurusan", 64)
        if why:
            reasons.append(why)
        year, why = _parse_year(cell("tahun_lulus"), today)
        if why:
            reasons.append(why)
        if nisn is not None and nisn in seen:
            reasons.append(f"duplicate NISN in file (first at row {seen[nisn]})")
        if reasons:
            result.rejected.append((row_number, "; ".join(reasons)))
            continue

        teacher = _text(cell("wali_kelas"))[:200] or None
        gender, warning = _parse_gender(cell("jenis_kelamin"))
        if warning:
            result.warnings.append((row_number, warning))
        phone = normalise_phone(cell("no_hp"))
        if phone is None and _text(cell("no_hp")):
            result.warnings.append((row_number, "no_hp is not a valid phone number: left empty"))
        assert nisn and name and birth and kelas and jurusan and year
        seen[nisn] = row_number
        padded += was_padded
        result.rows.append(
            RosterRow(
                row_number=row_number,
                nisn=nisn,
                name=name,
                birth_date=birth,
                kelas=kelas,
                jurusan=jurusan,
                graduation_year=year,
                gender=gender,
                homeroom_teacher=teacher,
                phone=phone,
            )
        )
    if padded:
        result.notes.append(
            f"{padded} NISN(s) had lost their leading zero(s) and were padded back to 10 digits."
        )
    return result


# ---------------------------------------------------------------------------------------------
# import_roster
# ---------------------------------------------------------------------------------------------

_FIELDS = ("name", "birth_date", "kelas", "jurusan", "graduation_year")
_OPTIONAL_FIELDS = ("gender", "homeroom_teacher", "phone")


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def import_roster(db: Database, school_id: int, path: str | Path) -> ImportReport:
    """Read `path` and upsert its valid rows into the school's roster, in one transaction.

    Raises `RosterError` (nothing written) for a file that is not a roster and
    `FileNotFoundError` for a missing one."""
    parsed = await asyncio.to_thread(read_roster, path)
    report = ImportReport(rejected=parsed.rejected, warnings=parsed.warnings, notes=parsed.notes)
    if not parsed.rows:
        return report
    wanted = [row.nisn for row in parsed.rows]
    columns = [getattr(Alumnus, name) for name in ("id", "nisn", *_FIELDS, *_OPTIONAL_FIELDS)]
    now = utcnow()
    async with db.session() as session, session.begin():
        existing: dict[str, Any] = {}
        for chunk in _chunks(wanted, LOOKUP_CHUNK):
            result = await session.execute(
                select(*columns).where(Alumnus.school_id == school_id, Alumnus.nisn.in_(chunk))
            )
            for record in result:
                existing[record.nisn] = record
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row in parsed.rows:
            new = {name: getattr(row, name) for name in _FIELDS}
            for name in _OPTIONAL_FIELDS:
                value = getattr(row, name)
                if value is not None:  # an empty optional cell never erases a stored value
                    new[name] = value
            old = existing.get(row.nisn)
            if old is None:
                inserts.append(
                    {
                        "school_id": school_id,
                        "nisn": row.nisn,
                        **{name: getattr(row, name) for name in (*_FIELDS, *_OPTIONAL_FIELDS)},
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            elif any(getattr(old, name) != value for name, value in new.items()):
                updates.append({"id": old.id, **new, "updated_at": now})
            else:
                report.unchanged += 1
        for chunk in _chunks(inserts, WRITE_CHUNK):
            await session.execute(insert(Alumnus), list(chunk))
        for chunk in _chunks(updates, WRITE_CHUNK):
            await session.execute(update(Alumnus), list(chunk))
        report.added = len(inserts)
        report.updated = len(updates)
    return report


async def list_classes(db: Database, school_id: int) -> list[tuple[str, int]]:
    """The school's classes with their number of alumni, sorted by name."""
    async with db.session() as session:
        result = await session.execute(
            select(Alumnus.kelas, func.count())
            .where(Alumnus.school_id == school_id)
            .group_by(Alumnus.kelas)
            .order_by(Alumnus.kelas)
        )
        return [(kelas, count) for kelas, count in result]


__all__ = [
    "ALL_COLUMNS",
    "ImportReport",
    "ParsedRoster",
    "RosterError",
    "RosterRow",
    "import_roster",
    "list_classes",
    "normalise_phone",
    "read_roster",
]
