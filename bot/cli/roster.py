"""`jejak roster import FILE`: load the school's roster from a CSV or XLSX file.

Exit codes: 0 when the file was read (even with rejected rows), 1 when it is not a roster
(nothing written), 2 when it does not exist.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli import app
from bot.cli.common import console, fail, load_settings, open_with_school, run, school_option
from storage.roster import ImportReport, RosterError, import_roster

SAMPLE_ROSTER = Path(__file__).resolve().parent.parent / "sample_roster.csv"

roster_app = typer.Typer(help="The school's roster of graduates.", no_args_is_help=True)
app.add_typer(roster_app, name="roster")


def print_report(report: ImportReport) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("added", f"[green]{report.added}[/green]")
    table.add_row("updated", f"[cyan]{report.updated}[/cyan]")
    table.add_row("unchanged", str(report.unchanged))
    rejected = len(report.rejected)
    table.add_row("rejected", f"[red]{rejected}[/red]" if rejected else "0")
    console.print(table)
    for note in report.notes:
        console.print(f"[yellow]Note:[/yellow] {escape(note)}")
    if report.rejected:
        console.print("[red]Rejected rows (fix them in the file and import it again):[/red]")
        for row_number, reason in report.rejected:
            console.print(f"  row {row_number}: {escape(reason)}", highlight=False)
    if report.warnings:
        console.print("[yellow]Warnings (the rows were imported):[/yellow]")
        for row_number, reason in report.warnings:
            console.print(f"  row {row_number}: {escape(reason)}", highlight=False)


def import_failure(file: Path, exc: RosterError | FileNotFoundError) -> typer.Exit:
    """Say why `file` cannot be imported; the exit to raise (1: not a roster, 2: missing)."""
    if isinstance(exc, RosterError):
        return fail(escape(f"{file.name}: {exc} Nothing was imported."), 1)
    return fail(escape(f"File not found: {file}"), 2)


@roster_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="CSV (comma or semicolon) or XLSX roster file."),
    school: str | None = school_option(),
) -> None:
    """Import (upsert by NISN) a roster with the columns nisn, nama, tanggal_lahir,
    jenis_kelamin, kelas, jurusan, tahun_lulus, wali_kelas, no_hp."""
    if not file.is_file():
        raise fail(escape(f"File not found: {file}"), 2)
    settings = load_settings()

    async def go() -> ImportReport:
        db, school_row = await open_with_school(settings, school)
        try:
            return await import_roster(db, school_row.id, file)
        finally:
            await db.dispose()

    try:
        report = run(go)
    except (RosterError, FileNotFoundError) as exc:
        raise import_failure(file, exc) from None
    console.print(f"Roster [bold]{escape(file.name)}[/bold]:")
    print_report(report)
