import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

from storage import migrate
from storage.db import Database
from storage.models import Alumnus, School, Staff

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


async def test_one_staff_per_chat_migration_resolves_duplicates(db_url, db_backend):
    """0002 on a database that already holds several active staff members on one chat (what
    redeeming a second staff code used to do): the oldest keeps the chat, as it answered it;
    a newer one loses that chat, and is marked removed when it has none left. Then the
    database refuses a second active member on a chat, and allows one again once removed."""
    if db_backend == "postgresql":
        from tests.conftest import _reset_postgres

        await _reset_postgres(db_url)
    db = Database(db_url)
    try:
        await migrate.upgrade(db, "0001")
        assert await migrate.current_revision(db) == "0001"
        long_ago = datetime(2025, 1, 1, tzinfo=UTC)
        async with db.session() as s:
            uji, lain = (
                School(npsn="20100001", name="SMK Uji"),
                School(npsn="20100002", name="SMK Lain"),
            )
            s.add_all([uji, lain])
            await s.flush()
            rows = [
                # school, role, name, telegram, whatsapp, removed
                (uji, "bkk", "Rina", "42", None, None),
                (lain, "bkk", "Rina B", "42", None, None),  # dead: only 42, held by #1
                (uji, "teacher", "Sri", "42", "628111", None),  # keeps 628111
                (uji, "teacher", "Sri 2", None, "628111", None),  # dead: 628111 held by #3
                (uji, "admin", "Lama", "77", None, long_ago),  # removed long ago: untouched
                (uji, "admin", "Baru", "77", None, None),  # the only active one on 77
                (uji, "teacher", "Ani", "43", "628222", None),  # no duplicate
            ]
            ids = []
            for school, role, name, tg, wa, removed in rows:  # one by one: ids in this order
                member = Staff(
                    school_id=school.id, role=role, name=name, telegram_id=tg, whatsapp=wa,
                    removed_at=removed, created_at=long_ago,
                )  # fmt: skip
                s.add(member)
                await s.flush()
                ids.append(member.id)
            lain_id = lain.id
            await s.commit()
        assert ids == sorted(ids)

        await migrate.upgrade(db)
        assert await migrate.is_up_to_date(db)
        async with db.session() as s:
            got = {
                m.id: (m.telegram_id, m.whatsapp, m.removed_at is not None)
                for m in (await s.execute(select(Staff))).scalars()
            }
            removed_at = (
                await s.execute(select(Staff.removed_at).where(Staff.id == ids[4]))
            ).scalar_one()
        assert [got[i] for i in ids] == [
            ("42", None, False),
            ("42", None, True),
            (None, "628111", False),
            (None, "628111", True),
            ("77", None, True),
            ("77", None, False),
            ("43", "628222", False),
        ]
        assert removed_at == long_ago

        # the database now refuses a second active member on a chat, on either column
        for column, address in (("telegram_id", "42"), ("whatsapp", "628222")):
            async with db.session() as s:
                s.add(Staff(school_id=lain_id, role="bkk", name="Dup", **{column: address}))
                with pytest.raises(IntegrityError):
                    await s.commit()
        # removed members do not count; several members without a chat are fine
        async with db.session() as s:
            await s.execute(update(Staff).where(Staff.id == ids[0]).values(removed_at=long_ago))
            s.add(Staff(school_id=lain_id, role="bkk", name="Rina B", telegram_id="42"))
            s.add(Staff(school_id=lain_id, role="admin", name="Tanpa Chat 1"))
            s.add(Staff(school_id=lain_id, role="admin", name="Tanpa Chat 2"))
            await s.commit()
    finally:
        await db.dispose()


def test_resolve_duplicates_keeps_the_oldest_holder():
    path = (
        Path(migrate.__file__).with_name("migrations") / "versions" / "0002_one_staff_per_chat.py"
    )
    spec = importlib.util.spec_from_file_location("migration_0002", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    assert m.resolve_duplicates([]) == ([], {})
    assert m.resolve_duplicates([(2, "1", None), (1, "1", "9"), (3, None, "9")]) == ([2, 3], {})
    assert m.resolve_duplicates([(1, "1", None), (2, "1", "9"), (3, "2", "9")]) == (
        [],
        {2: ["telegram_id"], 3: ["whatsapp"]},
    )


async def test_contact_username_migration_keeps_existing_chats(db_url, db_backend):
    """0003_outreach_contact_username on a database with chats: the new column is empty (a
    username is learnt from the person's next message), and the chats are untouched."""
    from sqlalchemy import text

    from storage.models import Contact

    if db_backend == "postgresql":
        from tests.conftest import _reset_postgres

        await _reset_postgres(db_url)
    db = Database(db_url)
    try:
        await migrate.upgrade(db, "0002")
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO contact (channel, address, language, state, created_at, "
                    "updated_at) VALUES ('telegram', '201', 'id', '{}', :t, :t)"
                ),
                {"t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == "0003_outreach_contact_username"
        async with db.session() as s:
            contact = (await s.execute(select(Contact))).scalar_one()
            assert (contact.address, contact.username) == ("201", None)
            contact.username = "a" * 32  # Telegram's longest
            await s.commit()
    finally:
        await db.dispose()
