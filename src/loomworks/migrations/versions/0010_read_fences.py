"""read fences: the WAL position after a person's last write, so replicas behind it are skipped

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("persons", sa.Column("written_lsn", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("persons", "written_lsn")
