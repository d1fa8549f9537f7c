"""Apply or check Alembic migrations from code (the app migrates on start)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from storage import process_lock
from storage.db import Database, database_problem

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

_INI = Path(__file__).with_name("alembic.ini")
MIGRATION_LOCK = 0x6A656A616B  # "jejak": the advisory lock key of schema migrations


def alembic_config() -> Config:
    cfg = Config(str(_INI))
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to the newest migration, or to `revision` (tests of a migration start
    from the one before it). Idempotent; safe when several processes start at once: an
    advisory lock on PostgreSQL, a lock file next to a SQLite database. The first thing every
    command does with the database: when it cannot be reached or opened, raises
    `storage.db.DatabaseUnavailable` saying why."""
    try:
        await _upgrade_with_lock(db, revision)
    except Exception as exc:
        problem = database_problem(exc, db.given_url)
        if problem is None or problem is exc:
            raise
        raise problem from exc


async def _upgrade_with_lock(db: Database, revision: str) -> None:
    database_file = process_lock.sqlite_file(db.url)
    if database_file is None or fcntl is None:
        await _upgrade_locked(db, revision)
        return
    lock_file = database_file.with_name(database_file.name + ".migrate-lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:  # noqa: ASYNC230  (a local lock file, instant)
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            await _upgrade_locked(db, revision)
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


async def _upgrade_locked(db: Database, revision: str = "head") -> None:

    def _upgrade(connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several workers starting at once (compose --scale): one migrates, the others wait
            # here and then find nothing to do; released at the end of this transaction
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        await conn.run_sync(_upgrade)


async def current_revision(db: Database) -> str | None:
    def _current(connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_up_to_date(db: Database) -> bool:
    return await current_revision(db) == head_revision()
