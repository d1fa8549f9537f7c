"""The export the BKK uploads or keeps (QUESTIONNAIRE.md "Export"): XLSX and CSV.

XLSX: sheet `lulusan` (one row per roster entry, responders and non-responders) and sheet
`rekap_jurusan` (per graduation year and major). The rows are streamed from the database in
batches into XlsxWriter's constant-memory workbook (each row goes to a temporary file as it is
written), so memory does not grow with the roster.
CSV: UTF-8 with BOM, the `lulusan` sheet only, for tools that read values as text (an upload
that asks for CSV, scripts, a database import). Excel guesses a type for every CSV cell and
turns the NISN `0071234501` into the number 71234501, so people opening the export in Excel take
the XLSX: the CSV keeps the NISN as plain digits rather than the `="0071234501"` trick, which is
itself a formula. Text cells that a spreadsheet program would run as a formula (starting with
= + - @, a tab or a carriage return) get a leading `'` (OWASP, "CSV Injection"); the number
columns (tahun_lulus, waiting_months) are written as numbers and never prefixed.

NISN and start_month are text (leading zeros, "MM/YYYY"); answered_at is a real datetime in the
school's zone (Excel has no time zones, so it is written as local wall time).
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from conversations.derived import derive
from storage.db import Database
from storage.models import School
from storage.reports import RecapRow, export_rows, school_recap

LULUSAN_COLUMNS = (
    "nisn",
    "nama",
    "kelas",
    "jurusan",
    "tahun_lulus",
    "status",
    "bmw",
    "employer",
    "job_title",
    "employer_type",
    "work_location",
    "start_month",
    "waiting_months",
    "job_channel",
    "income",
    "relevance",
    "business_field",
    "workers",
    "institution",
    "study_program",
    "level",
    "provider",
    "field",
    "searching_months",
    "obstacles",
    "willing_to_relocate",
    "reason",
    "answered_at",
    "channel",
)
REKAP_COLUMNS = (
    "tahun_lulus",
    "jurusan",
    "graduates",
    "responders",
    "response_rate",
    "B",
    "M",
    "W",
    "kursus",
    "mencari_kerja",
    "tidak_mencari",
    "pct_bmw",
    "pct_relevant",
    "median_waiting_months",
)
_TEXT_COLUMNS = frozenset({"nisn", "start_month"})
# the columns holding numbers (ints from the roster and derived figures, never typed text)
NUMERIC_COLUMNS = frozenset({"tahun_lulus", "waiting_months"})
# a CSV cell starting with one of these is run as a formula by spreadsheet programs
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_DATETIME_FORMAT = "%Y-%m-%d %H:%M"
_WIDTHS = {"nisn": 13, "nama": 28, "kelas": 12, "employer": 26, "institution": 26}
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PERCENT_FORMAT = "0.0%"
_YIELD_EVERY = 250  # rows written between two returns to the event loop


def _text(value: Any) -> str | None:
    if value.__class__ is str:  # the common case, first
        return value or None
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    return str(value)


def lulusan_values(row: dict[str, Any], zone: ZoneInfo) -> list[Any]:
    """One export row as a list in LULUSAN_COLUMNS order, from a `storage.reports.export_rows`
    dict. This is the per-row hot path of the export: plain values, no dict per row."""
    status = row.get("status")
    if status:
        derived = derive(row, row["tahun_lulus"])
        bmw = derived["bmw"] or None
        waiting = derived["waiting_months"]
    else:
        bmw = waiting = None
    answered_at: datetime | None = row.get("answered_at")
    if answered_at is not None:
        answered_at = answered_at.astimezone(zone).replace(tzinfo=None, microsecond=0)
    t = _text
    return [
        row["nisn"],
        row["nama"],
        row["kelas"],
        row["jurusan"],
        row["tahun_lulus"],
        status,
        bmw,
        t(row.get("employer")),
        t(row.get("job_title")),
        t(row.get("employer_type")),
        t(row.get("work_location")),
        t(row.get("start_month")),
        waiting,
        t(row.get("job_channel")),
        t(row.get("income")),
        t(row.get("relevance")),
        t(row.get("business_field")),
        t(row.get("workers")),
        t(row.get("institution")),
        t(row.get("study_program")),
        t(row.get("level")),
        t(row.get("provider")),
        t(row.get("field")),
        t(row.get("searching_months")),
        t(row.get("obstacles")),
        t(row.get("willing_to_relocate")),
        t(row.get("reason")),
        answered_at,
        row.get("channel"),
    ]


def lulusan_record(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """One export row (column -> value) from a `storage.reports.export_rows` dict."""
    return dict(zip(LULUSAN_COLUMNS, lulusan_values(row, zone), strict=True))


def rekap_record(r: RecapRow) -> dict[str, Any]:
    return {
        "tahun_lulus": r.graduation_year,
        "jurusan": r.jurusan,
        "graduates": r.graduates,
        "responders": r.responders,
        "response_rate": r.response_rate,
        "B": r.b,
        "M": r.m,
        "W": r.w,
        "kursus": r.kursus,
        "mencari_kerja": r.mencari_kerja,
        "tidak_mencari": r.tidak_mencari,
        "pct_bmw": r.bmw_rate,
        "pct_relevant": r.relevant_rate,
        "median_waiting_months": r.median_waiting_months,
    }


def neutralise(text: str) -> str:
    """A text cell that a spreadsheet program would evaluate (=, +, -, @, tab or CR first, also
    after leading spaces) with a leading `'`, so it is shown as the text it is (OWASP)."""
    if text.startswith(FORMULA_TRIGGERS) or text.lstrip(" ").startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


_NUMERIC_INDEXES = frozenset(i for i, c in enumerate(LULUSAN_COLUMNS) if c in NUMERIC_COLUMNS)


def csv_cells(values: list[Any]) -> list[Any]:
    """One `lulusan_values` row as CSV cells: numbers stay numbers in the number columns (a
    negative one too), datetimes become "YYYY-MM-DD HH:MM", every other value is text and is
    neutralised when it would run as a formula; None is an empty cell."""
    cells: list[Any] = []
    for i, value in enumerate(values):
        if value is None:
            cells.append("")
        elif i in _NUMERIC_INDEXES and isinstance(value, int | float):
            cells.append(value)
        elif isinstance(value, datetime):
            cells.append(value.strftime(CSV_DATETIME_FORMAT))
        else:
            cells.append(neutralise(str(value)))
    return cells


async def _school_zone(db: Database, school_id: int) -> ZoneInfo:
    async with db.session() as session:
        school = await session.get(School, school_id)
    return ZoneInfo(school.timezone if school else "Asia/Jakarta")


async def lulusan_records(
    db: Database,
    school_id: int,
    graduation_year: int | None = None,
    kelas: str | None = None,
    batch_size: int = 2000,
) -> AsyncIterator[dict[str, Any]]:
    zone = await _school_zone(db, school_id)
    async for row in export_rows(db, school_id, graduation_year, kelas, batch_size=batch_size):
        yield lulusan_record(row, zone)


class _XlsxWriter:
    """The workbook, written by XlsxWriter in constant-memory mode.

    Each row goes to a temporary file as soon as the next one starts, so memory does not grow with
    the roster; `finish` writes the small `rekap_jurusan` sheet and zips the parts into the
    workbook at `path`.
    """

    def __init__(self, path: str | Path, tmpdir: str) -> None:
        import xlsxwriter

        self.workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": tmpdir,
                # answers are data: never turn "=..." into a formula or "http://..." into a link
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                # datetimes written without a cell format (answered_at) get this one
                "default_date_format": DATETIME_FORMAT,
            },
        )
        wb = self.workbook
        self.bold = wb.add_format({"bold": True})
        self.percent = wb.add_format({"num_format": PERCENT_FORMAT})
        self.lulusan = wb.add_worksheet("lulusan")
        self.rekap = wb.add_worksheet("rekap_jurusan")
        text = wb.add_format({"num_format": "@"})
        for sheet, columns in ((self.lulusan, LULUSAN_COLUMNS), (self.rekap, REKAP_COLUMNS)):
            sheet.freeze_panes(1, 0)
            for i, column in enumerate(columns):
                width = _WIDTHS.get(column, max(10, len(column) + 2))
                # a cell written without its own format takes its column's: NISN and start_month
                # are text ("@"), also for anything typed into those columns later in Excel
                sheet.set_column(i, i, width, text if column in _TEXT_COLUMNS else None)
            sheet.write_row(0, 0, columns, self.bold)
        self.rows = 0
        sheet = self.lulusan
        self._string, self._number = sheet.write_string, sheet.write_number
        self._datetime, self._any = sheet.write_datetime, sheet.write

    def write_lulusan(self, values: list[Any]) -> None:
        """Append one `lulusan` row (`lulusan_values`). The hot loop of the export: calling the
        typed write methods directly is about a fifth cheaper than `write_row`'s dispatch, and
        empty cells are skipped (they get no XML at all)."""
        self.rows = n = self.rows + 1
        for col, value in enumerate(values):
            if value is None:
                continue
            kind = value.__class__
            if kind is str:
                if value:
                    self._string(n, col, value)
            elif kind is int:
                self._number(n, col, value)
            elif kind is datetime:
                self._datetime(n, col, value)  # the workbook's default date format
            else:
                self._any(n, col, value)

    def finish(self, recap: list[RecapRow]) -> None:
        last = len(LULUSAN_COLUMNS) - 1
        self.lulusan.autofilter(0, 0, self.rows, last)
        sheet = self.rekap
        percent_columns = {"response_rate", "pct_bmw", "pct_relevant"}
        for n, r in enumerate(recap, start=1):
            record = rekap_record(r)
            for i, column in enumerate(REKAP_COLUMNS):
                value = record[column]
                if value is None:
                    continue
                sheet.write(n, i, value, self.percent if column in percent_columns else None)
        sheet.autofilter(0, 0, len(recap), len(REKAP_COLUMNS) - 1)
        self.workbook.close()


async def export_xlsx(
    db: Database,
    school_id: int,
    path: str | Path,
    graduation_year: int | None = None,
    kelas: str | None = None,
    batch_size: int = 2000,
) -> int:
    """Write the XLSX export to `path`; returns the number of `lulusan` rows.

    The rows stream from the database in batches and each is written as it arrives; the event
    loop gets control every `_YIELD_EVERY` rows (a few milliseconds of writing), so a bot serving
    chats stays responsive. The writing is deliberately not moved to a worker thread: it is pure
    Python, and two threads contending for the GIL made the export slower, a lot slower on a busy
    machine (measured in bench/README.md). Nothing is written to `path` unless the export
    completes: until `close`, the workbook's parts live in a temporary directory.
    """
    zone = await _school_zone(db, school_id)
    # the per-major recap is one grouped query that the database works on while the rows are
    # written (another connection; SQLite runs it in its own thread, outside the GIL)
    recap_task = asyncio.ensure_future(school_recap(db, school_id, graduation_year, kelas))
    try:
        with tempfile.TemporaryDirectory(prefix="jejak-xlsx-") as tmpdir:
            writer = _XlsxWriter(path, tmpdir)
            write = writer.write_lulusan
            n = 0
            rows = export_rows(db, school_id, graduation_year, kelas, batch_size=batch_size)
            async for row in rows:
                write(lulusan_values(row, zone))
                n += 1
                if n % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            recap = await recap_task
            # zipping the parts into the workbook is blocking file work: off the event loop
            await asyncio.to_thread(writer.finish, recap)
    finally:
        if not recap_task.done():  # the rows failed: the recap is not needed any more
            recap_task.cancel()
        await asyncio.wait([recap_task])
        if not recap_task.cancelled():
            recap_task.exception()  # retrieved: an error there is raised or moot, not logged
    return writer.rows


async def export_csv(
    db: Database,
    school_id: int,
    path: str | Path,
    graduation_year: int | None = None,
    kelas: str | None = None,
    batch_size: int = 2000,
) -> int:
    """Write the `lulusan` rows as CSV (UTF-8 with BOM); returns the number of rows.

    Formula-like text cells are neutralised (`csv_cells`); for Excel, use the XLSX."""
    count = 0
    zone = await _school_zone(db, school_id)
    # buffered writes to a local file; the event loop gets control between database batches
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:  # noqa: ASYNC230
        writer = csv.writer(handle)
        writer.writerow(LULUSAN_COLUMNS)
        rows = export_rows(db, school_id, graduation_year, kelas, batch_size=batch_size)
        async for row in rows:
            writer.writerow(csv_cells(lulusan_values(row, zone)))
            count += 1
    return count


__all__ = [
    "FORMULA_TRIGGERS",
    "LULUSAN_COLUMNS",
    "NUMERIC_COLUMNS",
    "REKAP_COLUMNS",
    "csv_cells",
    "export_csv",
    "export_xlsx",
    "lulusan_record",
    "lulusan_values",
    "lulusan_records",
    "neutralise",
    "rekap_record",
]
