"""decision undo: what a decision replaced (so an undo restores it exactly), when it was
undone, and one person's decisions newest first (GET /me/decisions)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("prior_outcome", sa.Text(), nullable=True))
    op.add_column("decisions", sa.Column("prior_stamp", sa.DateTime(timezone=True), nullable=True))
    op.add_column("decisions", sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_decisions_person",
        "decisions",
        ["person_id", sa.literal_column("decided_at DESC"), sa.literal_column("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_person", table_name="decisions")
    op.drop_column("decisions", "undone_at")
    op.drop_column("decisions", "prior_stamp")
    op.drop_column("decisions", "prior_outcome")
