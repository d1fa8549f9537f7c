"""`jejak report [--tahun-lulus Y] [--chart FILE.png] [--lang id|en]`: the /rekap table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from bot.cli import app
from bot.cli.common import console, fail, load_settings, open_with_school, run, school_option
from bot.reports import recap_chart_png
from conversations.messages import LANGUAGES, catalogue
from storage.reports import RecapRow, recap_totals, school_recap


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def recap_table(rows: list[RecapRow], lang: str = "id") -> Table:
    """The recap per graduation year and major, in `lang` (catalogue keys `report.table.*`)."""
    cat = catalogue()
    table = Table(
        title=cat.t("report.table.title", lang),
        caption=cat.t("report.table.caption", lang),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    columns = cat.t("report.table.columns", lang).split("|")
    everyone = f"[b]{escape(cat.t('report.table.all', lang))}[/b]"
    for i, column in enumerate(columns):
        table.add_column(
            column,
            justify="left" if i == 1 else "right",
            no_wrap=i != 1,
            min_width=6 if i == 1 else None,
        )
    totals = {r.graduation_year: r for r in recap_totals(rows)}
    years = sorted({r.graduation_year for r in rows})
    for year in years:
        year_rows = [r for r in rows if r.graduation_year == year]
        if len(year_rows) > 1:
            year_rows.append(totals[year])
        for r in year_rows:
            median = r.median_waiting_months
            table.add_row(
                str(r.graduation_year),
                escape(r.jurusan) if r.jurusan else everyone,
                str(r.graduates),
                str(r.responders),
                _pct(r.response_rate),
                str(r.b),
                str(r.m),
                str(r.w),
                str(r.kursus),
                str(r.mencari_kerja),
                str(r.tidak_mencari),
                _pct(r.bmw_rate),
                _pct(r.relevant_rate),
                "–" if median is None else f"{median:g}",
                end_section=r.jurusan == "" or r is year_rows[-1],
            )
    return table


@app.command("report")
def report_cmd(
    tahun_lulus: int | None = typer.Option(
        None, "--tahun-lulus", help="Only this graduation year."
    ),
    chart: Path | None = typer.Option(None, "--chart", help="Also write the chart to this PNG."),
    lang: str = typer.Option("id", "--lang", help="Language of the table and chart: id or en."),
    school: str | None = school_option(),
) -> None:
    """Print the school-wide recap per graduation year and major."""
    if chart is not None and chart.suffix.lower() != ".png":
        raise fail("--chart must be a .png file.", 2)
    if chart is not None and not chart.parent.is_dir():
        raise fail(escape(f"Folder {chart.parent} does not exist."), 2)
    if lang not in LANGUAGES:
        raise fail("--lang must be id or en.", 2)
    settings = load_settings()

    async def go() -> list[RecapRow]:
        db, school_row = await open_with_school(settings, school)
        try:
            return await school_recap(db, school_row.id, graduation_year=tahun_lulus)
        finally:
            await db.dispose()

    rows = run(go)
    if not rows:
        console.print(
            "No graduates on the roster" + (f" for {tahun_lulus}." if tahun_lulus else ".")
        )
        return
    console.print(recap_table(rows, lang))
    if chart is not None:
        chart.write_bytes(recap_chart_png(rows, lang=lang))
        console.print(f"Chart written to {escape(str(chart))}.")
