import pytest
from sqlalchemy import inspect

from storage import migrate
from storage.models import Alumnus, School

pytestmark = pytest.mark.postgres


async def test_migrations_create_every_table_and_are_idempotent(db):
    await migrate.upgrade(db)  # second run is a no-op
    assert await migrate.is_up_to_date(db)
    async with db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {"school", "alumnus", "contact", "response", "answer", "invitation"} <= tables


async def test_nisn_keeps_leading_zero(db):
    from datetime import date

    async with db.session() as s:
        school = School(npsn="20100001", name="SMK Uji")
        s.add(school)
        await s.flush()
        s.add(
            Alumnus(
                school_id=school.id,
                nisn="0012345678",
                name="Budi",
                birth_date=date(2006, 1, 2),
                kelas="XII TKJ 1",
                jurusan="TKJ",
                graduation_year=2025,
            )
        )
        await s.commit()
    async with db.session() as s:
        from sqlmodel import select

        got = (await s.execute(select(Alumnus.nisn))).scalar_one()
    assert got == "0012345678"


async def test_concurrent_upgrades_do_not_collide(db_url, db_backend):
    """Several workers starting together (compose --scale) all migrate without an error."""
    import asyncio

    from storage.db import Database

    if db_backend == "postgresql":
        from tests.conftest import _reset_postgres

        await _reset_postgres(db_url)
    databases = [Database(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate.upgrade(d) for d in databases))
        assert all([await migrate.is_up_to_date(d) for d in databases])
    finally:
        for d in databases:
            await d.dispose()
