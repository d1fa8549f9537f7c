"""`jejak school add|list|set`: the schools of one deployment (a regional office serving several).

A single-school install needs none of this: the school configured by SCHOOL_NPSN, SCHOOL_NAME
and TIMEZONE is created on first use and stays the default of every `--school` option. These
commands work without a configured school too (a regional office may name every school with
`--school`); they then create no default school.
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli import app
from bot.cli.common import console, fail, load_settings, open_with_default, run
from storage.schools import SchoolError, add_school, list_schools, set_school

# Indonesia's three time zones: the only ones a school of this deployment can be in
SCHOOL_ZONES = {
    "Asia/Jakarta": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}


def check_school_zone(timezone: str) -> str:
    """`timezone` if it is one of SCHOOL_ZONES, else the command stops naming them."""
    if timezone not in SCHOOL_ZONES:
        known = ", ".join(f"{zone} ({short})" for zone, short in SCHOOL_ZONES.items())
        raise fail(escape(f"--timezone {timezone!r}: use one of {known}. Nothing changed."), 2)
    return timezone


school_app = typer.Typer(
    help="Schools of this deployment (NPSN, name, timezone).", no_args_is_help=True
)
app.add_typer(school_app, name="school")


@school_app.command("add")
def add_cmd(
    npsn: str = typer.Option(..., "--npsn", help="The school's 8-digit NPSN."),
    name: str = typer.Option(..., "--name", help='e.g. "SMK Negeri 1 Kupang".'),
    timezone: str = typer.Option(
        "Asia/Jakarta",
        "--timezone",
        help="Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT).",
    ),
) -> None:
    """Add a school; then import its roster with `jejak roster import FILE --school NPSN`."""
    check_school_zone(timezone)
    settings = load_settings()

    async def go():
        db, _default = await open_with_default(settings)
        try:
            return await add_school(db, npsn, name, timezone)
        finally:
            await db.dispose()

    try:
        school = run(go)
    except SchoolError as exc:
        raise fail(escape(str(exc)), 2) from None
    console.print(
        f"Added school {school.npsn}: {escape(school.name)} ({school.timezone}). "
        f"Next: `jejak roster import FILE --school {school.npsn}`."
    )


@school_app.command("list")
def list_cmd() -> None:
    """Every school with its roster size and active staff."""
    settings = load_settings()

    async def go():
        db, default = await open_with_default(settings)
        try:
            return (default.id if default else None), await list_schools(db)
        finally:
            await db.dispose()

    default_id, rows = run(go)
    table = Table("NPSN", "Name", "Timezone", "Graduates", "Staff", "")
    for school, graduates, staff in rows:
        table.add_row(
            school.npsn,
            escape(school.name),
            school.timezone,
            str(graduates),
            str(staff),
            "default" if school.id == default_id else "",
        )
    console.print(table)


@school_app.command("set")
def set_cmd(
    npsn: str = typer.Argument(..., help="NPSN of the school to change."),
    name: str | None = typer.Option(None, "--name"),
    timezone: str | None = typer.Option(
        None, "--timezone", help="Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT)."
    ),
) -> None:
    """Change a school's name or timezone (for the configured school, SCHOOL_NAME and TIMEZONE
    win at the next start of `jejak run` when they are set)."""
    if name is None and timezone is None:
        raise fail("Nothing to change: give --name and/or --timezone.", 2)
    if timezone is not None:
        check_school_zone(timezone)
    settings = load_settings()

    async def go():
        db, _default = await open_with_default(settings)
        try:
            return await set_school(db, npsn, name=name, timezone=timezone)
        finally:
            await db.dispose()

    try:
        school = run(go)
    except SchoolError as exc:
        raise fail(escape(str(exc)), 2) from None
    console.print(f"School {school.npsn}: {escape(school.name)} ({school.timezone}).")
    # `jejak run` applies SCHOOL_NAME / TIMEZONE at start when they are set (ensure_default_school)
    overridden = [
        setting.upper()
        for setting, changed in (("school_name", name), ("timezone", timezone))
        if changed is not None and setting in settings.model_fields_set
    ]
    if school.npsn == settings.school_npsn and overridden:
        console.print(
            f"This is the configured default school: also change {' / '.join(overridden)} in "
            "the settings, or the next start of `jejak run` sets it back.",
            style="yellow",
        )
