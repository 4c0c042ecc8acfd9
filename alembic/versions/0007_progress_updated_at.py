"""jobs remember when their progress last moved (progress_updated_at), so one that stopped
reporting can be named as stalled

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_TABLES = ("shaping_jobs", "render_jobs", "external_production_records")


def upgrade() -> None:
    for table in JOB_TABLES:
        op.add_column(
            table,
            sa.Column(
                "progress_updated_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("now()"),
                nullable=False,
            ),
        )
        # Existing jobs: their last sign of life we know of is when they started.
        op.execute(f"UPDATE {table} SET progress_updated_at = started_at")


def downgrade() -> None:
    for table in JOB_TABLES:
        op.drop_column(table, "progress_updated_at")
