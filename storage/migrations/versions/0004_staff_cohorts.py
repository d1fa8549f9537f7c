"""staff see cohorts (class + graduation year); only an admin's name matches wali_kelas

"XII TKJ 1" exists every graduation year, each time with another wali kelas, so a teacher's
explicit classes become cohorts:
- `staff_class` gains `graduation_year` (part of the primary key). An existing row, given
  before this without a year, becomes the class's newest cohort on the school's roster now:
  what a teacher saw of it by default. A row whose class is on no roster any more is dropped
  (it showed nothing).
- `staff_invitation.kelas` holds [class, year] pairs instead of class names; a code not yet
  used gets each class's newest cohort the same way.

`staff.name_from_admin`: only a name an admin set (`staff add --name`, an invitation made with
`--name`) is matched against the roster's wali_kelas; a name taken from the chat's display
name when a code without `--name` was redeemed is a label. Existing members: True, except a
teacher whose row was created by redeeming a code without a name (the code's use and the row's
creation are the same moment; a member who existed before and later redeemed such a code keeps
True). Those lose the wali_kelas classes their display name gave them and keep their explicit
cohorts; the ids are logged. To give such a teacher their wali_kelas classes, the admin makes a
code with `--name` (the same name) and the teacher sends it from that chat.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:00:00
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("storage.migrate")

SAME_MOMENT = timedelta(minutes=1)  # a code's use and the member row it created

staff = sa.table(
    "staff",
    sa.column("id", sa.Integer()),
    sa.column("school_id", sa.Integer()),
    sa.column("role", sa.String()),
    sa.column("name", sa.String()),
    sa.column("name_from_admin", sa.Boolean()),
    sa.column("telegram_id", sa.String()),
    sa.column("whatsapp", sa.String()),
    sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)
alumnus = sa.table(
    "alumnus",
    sa.column("school_id", sa.Integer()),
    sa.column("kelas", sa.String()),
    sa.column("graduation_year", sa.Integer()),
)
invitation = sa.table(
    "staff_invitation",
    sa.column("code", sa.String()),
    sa.column("school_id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("kelas", sa.JSON()),
    sa.column("used_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("used_by_contact", sa.String()),
)


def _staff_class_table(with_year: bool) -> sa.Table:
    columns = [
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("kelas", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    ]
    key = ["staff_id", "kelas"]
    if with_year:
        columns.append(sa.Column("graduation_year", sa.Integer(), nullable=False))
        key.append("graduation_year")
    return op.create_table(
        "staff_class",
        *columns,
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint(*key),
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def created_by_nameless_code(
    members: list[tuple[int, str, str | None, str | None, datetime | None]],
    redemptions: list[tuple[str | None, datetime | None]],
) -> list[int]:
    """Teacher rows (id, role, telegram_id, whatsapp, created_at) made by redeeming a code
    without a name: one of their chats used such a code (used_by_contact, used_at) at the
    moment the row was created."""
    used: dict[str, list[datetime]] = {}
    for contact, at in redemptions:
        if contact and at is not None:
            used.setdefault(contact, []).append(_aware(at))
    found = []
    for member_id, role, telegram_id, whatsapp, created_at in members:
        created = _aware(created_at)
        if role != "teacher" or created is None:
            continue
        chats = [f"telegram:{telegram_id}", f"whatsapp:{whatsapp}"]
        moments = [at for chat in chats if chat in used for at in used[chat]]
        if any(abs(created - at) <= SAME_MOMENT for at in moments):
            found.append(member_id)
    return sorted(found)


def _newest_years(bind) -> dict[tuple[int, str], int]:
    rows = bind.execute(
        sa.select(alumnus.c.school_id, alumnus.c.kelas, sa.func.max(alumnus.c.graduation_year))
        .group_by(alumnus.c.school_id, alumnus.c.kelas)
    ).all()
    newest: dict[tuple[int, str], int] = {}
    for school_id, kelas, year in rows:
        key = (school_id, " ".join(kelas.split()).casefold())
        newest[key] = max(int(year), newest.get(key, int(year)))
    return newest


def upgrade() -> None:
    bind = op.get_bind()
    newest = _newest_years(bind)

    def cohort(school_id: int, kelas: str) -> int | None:
        return newest.get((school_id, " ".join(kelas.split()).casefold()))

    # staff.name_from_admin
    # a plain ADD COLUMN (no batch copy of `staff`: other tables refer to it)
    op.add_column(
        "staff",
        sa.Column("name_from_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    bind.execute(staff.update().values(name_from_admin=True))
    members = bind.execute(
        sa.select(
            staff.c.id, staff.c.role, staff.c.telegram_id, staff.c.whatsapp, staff.c.created_at
        )
    ).all()
    redemptions = bind.execute(
        sa.select(invitation.c.used_by_contact, invitation.c.used_at).where(
            invitation.c.name.is_(None), invitation.c.used_at.is_not(None)
        )
    ).all()
    labelled = created_by_nameless_code([tuple(m) for m in members], [tuple(r) for r in redemptions])
    if labelled:
        bind.execute(staff.update().where(staff.c.id.in_(labelled)).values(name_from_admin=False))
        log.warning(
            "staff %s: their name came from their chat's display name, and is no longer "
            "matched against wali_kelas (their explicit classes stay); give them a code made "
            "with --name to restore it",
            labelled,
        )

    # staff_class: one cohort per row
    old_rows = bind.execute(
        sa.text(
            "SELECT staff_class.staff_id, staff_class.kelas, staff.school_id "
            "FROM staff_class JOIN staff ON staff.id = staff_class.staff_id"
        )
    ).all()
    op.drop_table("staff_class")
    table = _staff_class_table(with_year=True)
    rows, dropped = [], []
    for staff_id, kelas, school_id in old_rows:
        year = cohort(school_id, kelas)
        if year is None:
            dropped.append(staff_id)
        else:
            rows.append({"staff_id": staff_id, "kelas": kelas, "graduation_year": year})
    if rows:
        op.bulk_insert(table, rows)
    if dropped:
        log.warning("staff %s: a class on no roster any more was dropped", sorted(set(dropped)))

    # staff_invitation.kelas: [class, year] pairs
    for code, school_id, kelas in bind.execute(
        sa.select(invitation.c.code, invitation.c.school_id, invitation.c.kelas)
    ).all():
        pairs = []
        for entry in kelas or []:
            if isinstance(entry, str):
                year = cohort(school_id, entry)
                if year is not None:
                    pairs.append([entry, year])
            else:
                pairs.append(list(entry))
        if pairs != (kelas or []):
            bind.execute(invitation.update().where(invitation.c.code == code).values(kelas=pairs))


def downgrade() -> None:
    bind = op.get_bind()
    old_rows = bind.execute(sa.text("SELECT DISTINCT staff_id, kelas FROM staff_class")).all()
    op.drop_table("staff_class")
    table = _staff_class_table(with_year=False)
    if old_rows:
        op.bulk_insert(table, [{"staff_id": s, "kelas": k} for s, k in old_rows])
    for code, kelas in bind.execute(sa.select(invitation.c.code, invitation.c.kelas)).all():
        names = list(dict.fromkeys(e if isinstance(e, str) else e[0] for e in kelas or []))
        bind.execute(invitation.update().where(invitation.c.code == code).values(kelas=names))
    op.drop_column("staff", "name_from_admin")  # SQLite 3.35+: a plain DROP COLUMN
