"""Shared fixtures.

`db` yields a migrated, empty `storage.db.Database`, once on SQLite and once on PostgreSQL for
tests marked `postgres` (the PostgreSQL run is skipped, with the reason shown, when no server
answers at JEJAK_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import asyncio
import os
import socket
from urllib.parse import urlparse

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from storage import migrate
from storage.db import Database

PG_URL = os.environ.get("JEJAK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    parsed = urlparse(PG_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1):
            return True
    except OSError:
        return False


PG_AVAILABLE = _pg_reachable()


def pytest_generate_tests(metafunc):
    if "db_url" in metafunc.fixturenames:
        backends = ["sqlite"]
        if metafunc.definition.get_closest_marker("postgres"):
            backends.append("postgresql")
        metafunc.parametrize("db_backend", backends, indirect=False)


@pytest.fixture(scope="session")
def pg_session_url():
    """A PostgreSQL database of this test session's own (created, and dropped at the end), so
    that parallel test runs on one server never reset each other's schema."""
    if not PG_AVAILABLE:
        yield None
        return
    import asyncpg

    parsed = urlparse(PG_URL)
    name = f"jejak_test_{os.getpid()}"
    admin = PG_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    yield parsed._replace(path=f"/{name}").geturl()
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def db_url(db_backend, tmp_path, pg_session_url):
    if db_backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/jejak.db"
    if os.environ.get("JEJAK_REQUIRE_POSTGRES") and not PG_AVAILABLE:
        pytest.fail(f"PostgreSQL required (JEJAK_REQUIRE_POSTGRES) but not reachable at {PG_URL}")
    if not PG_AVAILABLE:
        pytest.skip(f"no PostgreSQL reachable at {PG_URL} (set JEJAK_TEST_POSTGRES_URL)")
    return pg_session_url


async def _reset_postgres(url: str) -> None:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await db.dispose()


@pytest.fixture
async def db(db_url):
    """A freshly migrated, empty database (SQLite file per test, or a reset PostgreSQL)."""
    if not db_url.startswith("sqlite"):
        await _reset_postgres(db_url)
    database = Database(db_url)
    await migrate.upgrade(database)
    yield database
    await database.dispose()


__all__ = ["PG_AVAILABLE", "PG_URL", "SQLModel"]
