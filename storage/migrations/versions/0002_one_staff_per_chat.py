"""one active staff member per chat

A Telegram id or WhatsApp number belongs to at most one active (not removed) staff member:
partial unique indexes on staff.telegram_id and staff.whatsapp where removed_at IS NULL.

An older database may hold several active members on one chat (redeeming a second staff code
used to add a row). Only the oldest of them ever answered that chat (the lookup took the
lowest id), so the upgrade keeps exactly what worked: the oldest member keeps the chat; a
newer one loses that chat (its column is cleared) and, when it has no other chat left, is
marked removed (it stays visible in `jejak staff list --all`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("storage.migrate")

COLUMNS = ("telegram_id", "whatsapp")
staff = sa.table(
    "staff",
    sa.column("id", sa.Integer()),
    sa.column("telegram_id", sa.String()),
    sa.column("whatsapp", sa.String()),
    sa.column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)


def _active(column: str) -> sa.TextClause:
    return sa.text(f"removed_at IS NULL AND {column} IS NOT NULL")


def resolve_duplicates(rows: list[tuple[int, str | None, str | None]]):
    """Active rows (id, telegram_id, whatsapp) -> (ids to mark removed, {id: columns to clear}).
    The lowest id keeps a chat; a row that keeps none of its chats is removed."""
    taken: dict[str, set[str]] = {c: set() for c in COLUMNS}
    removed: list[int] = []
    cleared: dict[int, list[str]] = {}
    for row_id, *addresses in sorted(rows):
        lost = []
        for column, address in zip(COLUMNS, addresses, strict=True):
            if address is None:
                continue
            if address in taken[column]:
                lost.append(column)
            else:
                taken[column].add(address)
        if not lost:
            continue
        if len(lost) == sum(a is not None for a in addresses):
            removed.append(row_id)
        else:
            cleared[row_id] = lost
    return removed, cleared


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(staff.c.id, staff.c.telegram_id, staff.c.whatsapp).where(
            staff.c.removed_at.is_(None)
        )
    ).all()
    removed, cleared = resolve_duplicates([tuple(r) for r in rows])
    if removed:
        bind.execute(
            staff.update().where(staff.c.id.in_(removed)).values(removed_at=datetime.now(UTC))
        )
    for row_id, columns in cleared.items():
        bind.execute(staff.update().where(staff.c.id == row_id).values({c: None for c in columns}))
    if removed or cleared:
        log.warning(
            "one staff member per chat: staff %s marked removed, %s lost a chat held by an "
            "older member",
            sorted(removed) or "none",
            sorted(cleared) or "none",
        )
    for column in COLUMNS:
        op.create_index(
            f"uq_staff_active_{column.split('_')[0]}",
            "staff",
            [column],
            unique=True,
            sqlite_where=_active(column),
            postgresql_where=_active(column),
        )


def downgrade() -> None:
    # the rows the upgrade changed are not restored: they never answered their chat
    for column in COLUMNS:
        op.drop_index(f"uq_staff_active_{column.split('_')[0]}", table_name="staff")
