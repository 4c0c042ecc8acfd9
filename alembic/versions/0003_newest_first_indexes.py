"""newest-first indexes: each dashboard arm's rows across all engagements, newest first

The dashboard's fast path walks these (index-only, engagement_id included) to find a
caller's newest items without visiting each engagement; see db/dashboard.py.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    (
        "ix_shaping_jobs_active_newest",
        "shaping_jobs",
        "started_at",
        "status IN ('queued', 'dispatched')",
    ),
    (
        "ix_render_jobs_active_newest",
        "render_jobs",
        "started_at",
        "status IN ('queued', 'dispatched')",
    ),
    (
        "ix_external_production_records_awaiting_newest",
        "external_production_records",
        "started_at",
        "status = 'awaiting_external'",
    ),
    ("ix_shapes_pending_newest", "shapes", "created_at", "state = 'pending_confirmation'"),
    ("ix_assertions_held_newest", "assertions", "created_at", "state = 'held'"),
    ("ix_renders_produced_newest", "renders", "completed_at", "state = 'produced'"),
    (
        "ix_renders_awaiting_review_newest",
        "renders",
        "created_at",
        "state = 'produced' AND reviewed_at IS NULL",
    ),
]


def upgrade() -> None:
    for name, table, key, where in INDEXES:
        op.create_index(
            name,
            table,
            [sa.literal_column(f"{key} DESC"), sa.literal_column("id DESC")],
            unique=False,
            postgresql_where=sa.text(where),
            postgresql_include=["engagement_id"],
        )


def downgrade() -> None:
    for name, table, _key, _where in INDEXES:
        op.drop_index(name, table_name=table)
