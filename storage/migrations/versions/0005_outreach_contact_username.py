"""contact.username: the Telegram @username of a graduate's chat

BKK staff need a way to reach a graduate who tapped "Saya berminat" from a Telegram chat whose
roster row has no phone number: the chat id is useless to them, a t.me/<username> link is not.
The username is personal data: kept only while the chat is linked to a graduate, shown in
their /data, cleared by /hapus.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("username")
