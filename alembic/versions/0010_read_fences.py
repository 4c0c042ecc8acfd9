"""read fences: the WAL position after a person's last write, so replicas behind it are skipped;
a membership change keeps the person on the primary until a probe resolves its position

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from loomworks.db.replicas import MEMBERSHIP_FENCE_SQL
from loomworks.db.tables import UNRESOLVED_FENCE

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("persons", sa.Column("written_lsn", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_persons_unresolved_fence",
        "persons",
        ["written_lsn"],
        postgresql_where=sa.text(f"written_lsn = {UNRESOLVED_FENCE}"),
    )
    for statement in MEMBERSHIP_FENCE_SQL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER membership_fence ON engagement_memberships")
    op.execute("DROP FUNCTION membership_fence()")
    op.drop_column("persons", "written_lsn")
