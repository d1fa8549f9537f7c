import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel.sql.sqltypes import UTCDateTime

from storage import migrate
from storage.db import Database
from storage.models import Alumnus, School, Staff, StaffClass, StaffInvitation

pytestmark = pytest.mark.postgres

# the staff table as migrations 0001-0002 left it: rows inserted before a later migration runs
# cannot go through today's model
STAFF_0001 = sa.table(
    "staff",
    sa.column("id", sa.Integer()),
    sa.column("school_id", sa.Integer()),
    sa.column("role", sa.String()),
    sa.column("name", sa.String()),
    sa.column("telegram_id", sa.String()),
    sa.column("whatsapp", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("removed_at", UTCDateTime()),
)


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
                inserted = await s.execute(  # the table as 0001 made it (not today's model)
                    insert(STAFF_0001)
                    .values(
                        school_id=school.id,
                        role=role,
                        name=name,
                        telegram_id=tg,
                        whatsapp=wa,
                        removed_at=removed,
                        created_at=long_ago,
                    )  # fmt: skip
                    .returning(STAFF_0001.c.id)
                )
                ids.append(inserted.scalar_one())
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


async def test_declined_migration_keeps_the_roster(db_url, db_backend):
    """0003 adds `alumnus.declined_at` to a roster that already exists: every graduate is kept,
    nobody is declined, and the column takes a time."""
    from datetime import date

    import sqlalchemy as sa

    if db_backend == "postgresql":
        from tests.conftest import _reset_postgres

        await _reset_postgres(db_url)
    db = Database(db_url)
    try:
        await migrate.upgrade(db, "0002")
        old_alumnus = sa.table(  # the table as 0002 left it (no declined_at)
            "alumnus",
            *(sa.column(c) for c in ("school_id", "nisn", "name", "birth_date", "kelas")),
            *(sa.column(c) for c in ("jurusan", "graduation_year", "created_at", "updated_at")),
        )
        async with db.session() as s:
            school = School(npsn="20100001", name="SMK Uji")
            s.add(school)
            await s.flush()
            now = datetime(2025, 1, 1, tzinfo=UTC)
            await s.execute(
                sa.insert(old_alumnus).values(
                    school_id=school.id, nisn="0012345678", name="Budi",
                    birth_date=date(2006, 1, 2), kelas="XII TKJ 1", jurusan="TKJ",
                    graduation_year=2025, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            await s.commit()

        await migrate.upgrade(db)
        assert await migrate.is_up_to_date(db)
        async with db.session() as s:
            assert (await s.execute(select(Alumnus.nisn, Alumnus.declined_at))).all() == [
                ("0012345678", None)
            ]
            await s.execute(update(Alumnus).values(declined_at=now))
            await s.commit()
            assert (await s.execute(select(Alumnus.declined_at))).scalar_one() == now
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


async def _downgrade(db: Database, revision: str) -> None:
    from alembic import command

    def go(connection) -> None:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(go)


async def test_staff_cohorts_migration(db_url, db_backend):
    """0004 on a database of 0003: an explicit class becomes its newest cohort on the school's
    roster (one dropped when its class is on no roster); an unused code's classes the same; a
    teacher whose row was created by a code without a name (their display name) is no longer
    matched against wali_kelas, while one added by the admin, or who existed before sending
    such a code, still is. Downgrading gives the class names back."""
    from storage import staff as st

    if db_backend == "postgresql":
        from tests.conftest import _reset_postgres

        await _reset_postgres(db_url)
    db = Database(db_url)
    staff_class = sa.table("staff_class", sa.column("staff_id"), sa.column("kelas"))
    invitation = sa.table(
        "staff_invitation",
        sa.column("code"), sa.column("school_id"), sa.column("role"), sa.column("name"),
        sa.column("kelas", sa.JSON()), sa.column("created_at", UTCDateTime()),
        sa.column("used_at", UTCDateTime()), sa.column("used_by_contact"),
    )  # fmt: skip
    try:
        await migrate.upgrade(db, "0003")
        long_ago = datetime(2025, 1, 1, tzinfo=UTC)
        redeemed = datetime(2025, 8, 1, 9, 0, 0, 400000, tzinfo=UTC)
        async with db.session() as s:
            uji, lain = School(npsn="20100001", name="SMK Uji"), School(npsn="2", name="Lain")
            s.add_all([uji, lain])
            await s.flush()
            for i, (school, kelas, year, wali) in enumerate(
                [
                    (uji, "XII TKJ 1", 2024, "Pak Budi Santoso"),
                    (uji, "XII TKJ 1", 2025, "Bu Sri Wahyuni"),
                    (uji, "XII RPL 1", 2024, "Pak Budi Santoso"),
                    (lain, "XII TKJ 1", 2023, "Bu Lain"),
                ]
            ):
                s.add(
                    Alumnus(
                        school_id=school.id, nisn=f"00000000{i:02d}", name=f"A{i}",
                        birth_date=datetime(2006, 1, 1).date(), kelas=kelas, jurusan="TKJ",
                        graduation_year=year, homeroom_teacher=wali,
                    )
                )  # fmt: skip
            await s.flush()
            people = {}
            for key, school, name, tg, wa, created in [
                ("sri", uji, "Bu Sri Wahyuni", None, "628111", long_ago),  # staff add
                ("eve", uji, "Pak Budi Santoso", "501", None, redeemed.replace(microsecond=0)),
                ("ani", uji, "Ani", "502", None, long_ago),  # added, later sent a code
                ("lain", lain, "Pak Lain", "503", None, long_ago),
            ]:
                inserted = await s.execute(
                    insert(STAFF_0001)
                    .values(
                        school_id=school.id,
                        role="teacher",
                        name=name,
                        telegram_id=tg,
                        whatsapp=wa,
                        created_at=created,
                    )  # fmt: skip
                    .returning(STAFF_0001.c.id)
                )
                people[key] = inserted.scalar_one()
            await s.execute(
                insert(staff_class),
                [
                    {"staff_id": people["eve"], "kelas": "XII TKJ 1"},
                    {"staff_id": people["ani"], "kelas": "XII RPL 1"},
                    {"staff_id": people["ani"], "kelas": "XII MESIN 1"},  # on no roster now
                    {"staff_id": people["lain"], "kelas": "XII TKJ 1"},
                ],
            )
            code_row = dict(school_id=uji.id, role="teacher", name=None, created_at=long_ago)
            await s.execute(
                insert(invitation),
                [
                    # the nameless code that made Eve's row, from her display name
                    dict(
                        code_row,
                        code="S-EEEEEEEEEE",
                        kelas=["XII TKJ 1"],
                        used_at=redeemed,
                        used_by_contact="telegram:501",
                    ),  # fmt: skip
                    # the nameless code Ani sent months after the admin added her
                    dict(
                        code_row,
                        code="S-AAAAAAAAAA",
                        kelas=["XII RPL 1"],
                        used_at=redeemed,
                        used_by_contact="telegram:502",
                    ),  # fmt: skip
                    # not used yet
                    dict(
                        code_row,
                        code="S-UUUUUUUUUU",
                        kelas=["XII TKJ 1", "XII MESIN 1"],
                        used_at=None,
                        used_by_contact=None,
                        created_at=datetime.now(UTC),
                    ),  # fmt: skip
                ],
            )
            await s.commit()

        await migrate.upgrade(db)
        async with db.session() as s:
            got = {
                key: await s.get(Staff, staff_id, populate_existing=True)
                for key, staff_id in people.items()
            }
            assert {k: m.name_from_admin for k, m in got.items()} == {
                "sri": True,
                "eve": False,
                "ani": True,
                "lain": True,
            }
            assert await st.cohorts_for(s, got["sri"]) == [("XII TKJ 1", 2025)]
            # Eve's display name no longer gives her Pak Budi's classes
            assert await st.cohorts_for(s, got["eve"]) == [("XII TKJ 1", 2025)]
            assert await st.cohorts_for(s, got["ani"]) == [("XII RPL 1", 2024)]
            assert await st.cohorts_for(s, got["lain"]) == [("XII TKJ 1", 2023)]
            rows = await s.execute(
                select(StaffClass.staff_id, StaffClass.kelas, StaffClass.graduation_year)
            )
            assert sorted(rows.all()) == sorted(
                [
                    (people["eve"], "XII TKJ 1", 2025),
                    (people["ani"], "XII RPL 1", 2024),
                    (people["lain"], "XII TKJ 1", 2023),
                ]
            )
            unused = await s.get(StaffInvitation, "S-UUUUUUUUUU")
            assert unused.kelas == [["XII TKJ 1", 2025]]
            linked = await st.redeem_invitation(s, "S-UUUUUUUUUU", "whatsapp", "628999")
            assert await st.cohorts_for(s, linked.staff) == [("XII TKJ 1", 2025)]

        await _downgrade(db, "0003")
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {x["name"] for x in inspect(c).get_columns("staff")}
            )
            kept = (await conn.execute(sa.text("SELECT staff_id, kelas FROM staff_class"))).all()
            codes = dict((await conn.execute(select(invitation.c.code, invitation.c.kelas))).all())
        assert "name_from_admin" not in columns
        assert sorted(kept) == sorted(
            [
                (people["eve"], "XII TKJ 1"),
                (people["ani"], "XII RPL 1"),
                (people["lain"], "XII TKJ 1"),
                (linked.staff.id, "XII TKJ 1"),
            ]
        )
        assert codes["S-UUUUUUUUUU"] == ["XII TKJ 1"]
        await migrate.upgrade(db)  # and up again
        assert await migrate.is_up_to_date(db)
    finally:
        await db.dispose()


def test_created_by_nameless_code_is_the_same_moment():
    path = Path(migrate.__file__).with_name("migrations") / "versions" / "0004_staff_cohorts.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    at = datetime(2025, 8, 1, 9, 0, tzinfo=UTC)
    members = [
        (1, "teacher", "501", None, at.replace(tzinfo=None)),  # SQLite: naive UTC
        (2, "teacher", None, "628", at - timedelta(days=30)),  # existed before the code
        (3, "bkk", "503", None, at),  # not a teacher
        (4, "teacher", "504", "629", at),  # no code from its chats
        (5, "teacher", None, "630", at + timedelta(seconds=2)),
    ]
    used = [
        ("telegram:501", at),
        ("whatsapp:628", at),
        ("telegram:503", at),
        ("whatsapp:630", at),
        (None, at),
        ("telegram:999", None),
    ]
    assert m.created_by_nameless_code(members, used) == [1, 5]


async def test_contact_username_migration_keeps_existing_chats(db_url, db_backend):
    """0005 (contact.username) on a database with chats: the new column is empty (a username is
    learnt from the person's next message), and the chats are untouched."""
    from sqlalchemy import text

    from storage.models import Contact

    if db_backend == "postgresql":
        from tests.conftest import _reset_postgres

        await _reset_postgres(db_url)
    db = Database(db_url)
    try:
        await migrate.upgrade(db, "0004")
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO contact (channel, address, language, state, created_at, "
                    "updated_at) VALUES ('telegram', '201', 'id', '{}', :t, :t)"
                ),
                {"t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == "0005"
        async with db.session() as s:
            contact = (await s.execute(select(Contact))).scalar_one()
            assert (contact.address, contact.username) == ("201", None)
            contact.username = "a" * 32  # Telegram's longest
            await s.commit()
    finally:
        await db.dispose()
