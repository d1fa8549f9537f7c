"""`jejak export --out FILE.xlsx|FILE.csv [--tahun-lulus Y] [--kelas K]`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from bot.cli import app
from bot.cli.common import console, fail, load_settings, open_with_school, run, school_option
from bot.export import export_csv, export_xlsx
from bot.staff import match_class
from storage.staff import known_classes

FORMATS = {".xlsx": export_xlsx, ".csv": export_csv}


@app.command("export")
def export_cmd(
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help=(
            "File to write: .xlsx to open in Excel (NISN stays text), or .csv for other tools "
            "(an upload that asks for CSV, scripts): Excel drops a CSV NISN's leading zeros."
        ),
    ),
    tahun_lulus: int | None = typer.Option(
        None, "--tahun-lulus", help="Only this graduation year."
    ),
    kelas: str | None = typer.Option(
        None, "--kelas", "-k", help="Only this class (case and spacing do not matter)."
    ),
    school: str | None = school_option(),
) -> None:
    """Export every graduate with their current answers (XLSX: plus a per-major summary).

    For Excel use .xlsx: opened in Excel, a CSV loses the NISN's leading zeros (0071234501
    becomes 71234501). The CSV (UTF-8 with BOM, graduates only) is for tools that read text; a
    cell that would run as a formula (starting with = + - @) is written with a leading '.
    """
    writer = FORMATS.get(out.suffix.lower())
    if writer is None:
        raise fail(f"Unknown file type {out.suffix or '(none)'!r}: use .xlsx or .csv.", 2)
    if not out.parent.is_dir():
        raise fail(escape(f"Folder {out.parent} does not exist."), 2)
    settings = load_settings()

    async def go() -> int | str:
        db, school_row = await open_with_school(settings, school)
        try:
            wanted = None
            if kelas is not None:  # named as on the roster, case and spacing aside
                async with db.session() as session:
                    classes = await known_classes(session, school_row.id)
                wanted = match_class(kelas, classes)
                if wanted is None:
                    listing = ", ".join(classes) if classes else "(none: import the roster first)"
                    return f"Unknown class {kelas!r}. Known classes: {listing}"
            return await writer(db, school_row.id, out, graduation_year=tahun_lulus, kelas=wanted)
        finally:
            await db.dispose()

    result = run(go)
    if isinstance(result, str):
        raise fail(escape(result), 2)
    console.print(f"Wrote {result} graduates to {escape(str(out))}.")
    if writer is export_csv:
        console.print(
            "CSV is for tools that read text: Excel drops the NISN's leading zeros. "
            "To open the export in Excel, write .xlsx.",
            style="dim",
        )
    console.print("It holds personal data: share it only with who needs it.", style="dim")
