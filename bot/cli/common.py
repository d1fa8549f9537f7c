"""Helpers shared by CLI commands: settings, a migrated database, the default school.

CLI commands never change a school from the settings: they create the configured school when
it does not exist yet and otherwise use it as it is (`jejak run` applies SCHOOL_NAME and TIMEZONE
at start; `jejak school set` changes a school by hand). Without a configured school (SCHOOL_NPSN
unset) a command that works on the default school stops and says what to set.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bot.settings import Settings
from storage import migrate
from storage.db import Database
from storage.models import School
from storage.schools import PLACEHOLDER_NPSN, SchoolError, ensure_default_school, school_by_npsn

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


# the settings file of this invocation (`jejak --env-file FILE` / JEJAK_ENV_FILE); None: ./.env
_env_file: Path | None = None


def use_env_file(path: Path | None, given_as: str = "--env-file") -> None:
    """Read the settings from `path` instead of ./.env (checked here: a file that is missing or
    unreadable stops the command before anything is opened)."""
    global _env_file
    _env_file = None
    if path is None:
        return
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise fail(f"Settings file {escape(str(path))} ({given_as}) does not exist.", 2) from None
    except OSError as exc:
        hint = (
            " Run the command as the user the bot runs as (e.g. `sudo -u jejak ...`)."
            if isinstance(exc, PermissionError)
            else ""
        )
        raise fail(
            f"Settings file {escape(str(path))} ({given_as}) cannot be read: "
            f"{escape(exc.strerror or str(exc))}.{hint}",
            2,
        ) from None
    _env_file = path


def load_settings() -> Settings:
    try:
        if _env_file is not None:
            return Settings(_env_file=_env_file)
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            err_console.print(f"[red]Setting {name}: {escape(message)}[/red]")
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


def school_configured(settings: Settings) -> bool:
    """Whether SCHOOL_NPSN names a school (its default, the placeholder, does not)."""
    return settings.school_npsn.strip() != PLACEHOLDER_NPSN


NO_SCHOOL = (
    "No school is configured: SCHOOL_NPSN is not set (its default {placeholder} is only a "
    "placeholder). Set SCHOOL_NPSN (the school's 8-digit NPSN), SCHOOL_NAME and TIMEZONE in "
    "./.env, in the environment, or in the file given with `jejak --env-file FILE` (on a server "
    "with systemd: `jejak --env-file /etc/jejak/jejak.env ...`){tail}"
)


def no_school_message(*, school_option: bool = True) -> str:
    tail = (
        "; or name a school with --school NPSN (`jejak school list` shows them)."
        if school_option
        else "."
    )
    return NO_SCHOOL.format(placeholder=PLACEHOLDER_NPSN, tail=tail)


async def open_with_school(settings: Settings, npsn: str | None = None) -> tuple[Database, School]:
    """The database and a school: the configured default one, or the one with NPSN `npsn`
    (an unknown NPSN exits with an error naming the known schools). Without `npsn` and without
    a configured school it exits with `no_school_message` before opening anything."""
    wanted = npsn.strip() if npsn is not None else None
    default = wanted is None or (school_configured(settings) and wanted == settings.school_npsn)
    if default and not school_configured(settings):
        raise fail(escape(no_school_message()), 2)
    db = await open_database(settings)
    try:
        if default:
            school = await ensure_default_school(db, settings, update=False)
        else:
            school = await school_by_npsn(db, wanted)
    except SchoolError as exc:
        await db.dispose()
        raise fail(escape(str(exc)), 2) from None
    except BaseException:
        await db.dispose()
        raise
    return db, school


async def open_with_default(settings: Settings) -> tuple[Database, School | None]:
    """The database and the configured school (created if missing, never changed), or None
    when no school is configured; for commands about every school (`jejak school ...`)."""
    db = await open_database(settings)
    if not school_configured(settings):
        return db, None
    try:
        return db, await ensure_default_school(db, settings, update=False)
    except BaseException:
        await db.dispose()
        raise


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(coro_fn())
    except KeyboardInterrupt:
        sys.exit(130)
