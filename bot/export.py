"""The export the BKK uploads or keeps (QUESTIONNAIRE.md "Export"): XLSX and CSV.

XLSX: sheet `lulusan` (one row per roster entry, responders and non-responders) and sheet
`rekap_jurusan` (per graduation year and major). The workbook is write-only and the rows are
streamed from the database in batches, so memory does not grow with the roster.
CSV: UTF-8 with BOM (Excel opens it correctly), the `lulusan` sheet only.

NISN and start_month are text (leading zeros, "MM/YYYY"); answered_at is a real datetime in the
school's zone (Excel has no time zones, so it is written as local wall time).
"""

from __future__ import annotations

import asyncio
import csv
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
_WIDTHS = {"nisn": 13, "nama": 28, "kelas": 12, "employer": 26, "institution": 26}
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    return str(value)


def lulusan_record(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """One export row (column -> value) from a `storage.reports.export_rows` dict."""
    derived = derive(row, row["tahun_lulus"]) if row.get("status") else {}
    answered_at: datetime | None = row.get("answered_at")
    record: dict[str, Any] = {
        "nisn": row["nisn"],
        "nama": row["nama"],
        "kelas": row["kelas"],
        "jurusan": row["jurusan"],
        "tahun_lulus": row["tahun_lulus"],
        "status": row.get("status"),
        "bmw": derived.get("bmw") or None,
        "waiting_months": derived.get("waiting_months"),
        "answered_at": (
            answered_at.astimezone(zone).replace(tzinfo=None, microsecond=0)
            if answered_at
            else None
        ),
        "channel": row.get("channel"),
    }
    for column in LULUSAN_COLUMNS:
        if column not in record:
            record[column] = _text(row.get(column))
    return record


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


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


async def export_xlsx(
    db: Database,
    school_id: int,
    path: str | Path,
    graduation_year: int | None = None,
    kelas: str | None = None,
    batch_size: int = 2000,
) -> int:
    """Write the XLSX export to `path`; returns the number of `lulusan` rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("lulusan")
    rekap_ws = wb.create_sheet("rekap_jurusan")
    for ws_, columns in ((ws, LULUSAN_COLUMNS), (rekap_ws, REKAP_COLUMNS)):
        ws_.freeze_panes = "A2"
        for i, column in enumerate(columns, start=1):
            ws_.column_dimensions[_column_letter(i)].width = _WIDTHS.get(
                column, max(10, len(column) + 2)
            )
    bold = Font(bold=True)

    def header(sheet, columns) -> list:
        cells = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=column)
            cell.font = bold
            cells.append(cell)
        return cells

    ws.append(header(ws, LULUSAN_COLUMNS))
    text_cells = {c: i for i, c in enumerate(LULUSAN_COLUMNS) if c in _TEXT_COLUMNS}
    date_index = LULUSAN_COLUMNS.index("answered_at")
    count = 0
    async for record in lulusan_records(db, school_id, graduation_year, kelas, batch_size):
        values: list[Any] = [record[c] for c in LULUSAN_COLUMNS]
        for i in text_cells.values():
            if values[i] is not None:
                cell = WriteOnlyCell(ws, value=values[i])
                cell.number_format = "@"
                values[i] = cell
        if values[date_index] is not None:
            cell = WriteOnlyCell(ws, value=values[date_index])
            cell.number_format = DATETIME_FORMAT
            values[date_index] = cell
        ws.append(values)
        count += 1
    ws.auto_filter.ref = f"A1:{_column_letter(len(LULUSAN_COLUMNS))}{count + 1}"

    rows = await school_recap(db, school_id, graduation_year, kelas)
    rekap_ws.append(header(rekap_ws, REKAP_COLUMNS))
    percent_columns = {"response_rate", "pct_bmw", "pct_relevant"}
    for r in rows:
        record = rekap_record(r)
        values = []
        for column in REKAP_COLUMNS:
            value = record[column]
            if column in percent_columns and value is not None:
                cell = WriteOnlyCell(rekap_ws, value=value)
                cell.number_format = "0.0%"
                value = cell
            values.append(value)
        rekap_ws.append(values)
    rekap_ws.auto_filter.ref = f"A1:{_column_letter(len(REKAP_COLUMNS))}{len(rows) + 1}"
    # write-only: the rows already sit in a temporary file; saving zips them (off the event loop)
    await asyncio.to_thread(wb.save, str(path))
    return count


async def export_csv(
    db: Database,
    school_id: int,
    path: str | Path,
    graduation_year: int | None = None,
    kelas: str | None = None,
    batch_size: int = 2000,
) -> int:
    """Write the `lulusan` rows as CSV (UTF-8 with BOM); returns the number of rows."""
    count = 0
    # buffered writes to a local file; the event loop gets control between database batches
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:  # noqa: ASYNC230
        writer = csv.writer(handle)
        writer.writerow(LULUSAN_COLUMNS)
        async for record in lulusan_records(db, school_id, graduation_year, kelas, batch_size):
            values = []
            for column in LULUSAN_COLUMNS:
                value = record[column]
                if isinstance(value, datetime):
                    value = value.strftime("%Y-%m-%d %H:%M")
                values.append("" if value is None else value)
            writer.writerow(values)
            count += 1
    return count


__all__ = [
    "LULUSAN_COLUMNS",
    "REKAP_COLUMNS",
    "export_csv",
    "export_xlsx",
    "lulusan_record",
    "lulusan_records",
    "rekap_record",
]
