"""Helpers shared by CLI commands: settings, a migrated database, the default school."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from bot.settings import Settings
from storage import migrate
from storage.db import Database
from storage.schools import ensure_default_school

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


async def open_with_school(settings: Settings):
    db = await open_database(settings)
    school = await ensure_default_school(db, settings)
    return db, school


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(coro_fn())
    except KeyboardInterrupt:
        sys.exit(130)
