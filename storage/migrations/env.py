"""Alembic environment. Used two ways:

- programmatically by `storage.migrate` with a live connection in `config.attributes["connection"]`;
- from the `alembic` command line (`alembic -c storage/alembic.ini ...`), with DATABASE_URL from
  the environment (or the default SQLite file).
"""

import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.db import normalise_url

target_metadata = SQLModel.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, hide_parameters=True)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = normalise_url(os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./data/jejak.db"))
    asyncio.run(_run_async(url))
