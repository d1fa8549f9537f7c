"""Helpers shared by CLI commands: settings, a migrated database, the default school."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bot.settings import Settings
from storage import migrate
from storage.db import Database
from storage.schools import SchoolError, ensure_default_school, school_by_npsn

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]).upper()
            err_console.print(f"[red]Setting {name}: {error['msg']}[/red]")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


async def open_database(settings: Settings) -> Database:
    """Open the configured database and bring its schema up to date."""
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    return db


def school_option():
    """`--school NPSN` on every command that reads or writes one school's data."""
    return typer.Option(
        None,
        "--school",
        help="NPSN of the school (default: the configured SCHOOL_NPSN; see `jejak school list`).",
    )


async def open_with_school(settings: Settings, npsn: str | None = None):
    """The database and a school: the configured default one, or the one with NPSN `npsn`
    (an unknown NPSN exits with an error naming the known schools)."""
    db = await open_database(settings)
    school = await ensure_default_school(db, settings)
    if npsn is not None and npsn.strip() != school.npsn:
        try:
            school = await school_by_npsn(db, npsn)
        except SchoolError as exc:
            await db.dispose()
            raise fail(escape(str(exc)), 2) from None
    return db, school


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(coro_fn())
    except KeyboardInterrupt:
        sys.exit(130)
