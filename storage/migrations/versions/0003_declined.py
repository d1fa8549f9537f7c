"""graduates who declined the tracer consent

`alumnus.declined_at`: when a graduate who opened their personal invitation link did not agree
to the tracer study. Only the fact and its time are kept (no answers, no chat link), so the
class summary can say "declined" and the school stops asking. Nullable, no data to migrate:
refusals recorded before this revision were not tied to a graduate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alumnus",
        sa.Column("declined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("alumnus") as batch:
        batch.drop_column("declined_at")
