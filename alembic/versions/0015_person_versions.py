"""person versions: per person and zone, a version the counter triggers move whenever anything
that person sees in that zone changes, so a poll's ETag is one index lookup, not a digest of
every counter of the person's engagements

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from loomworks.db import counters

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: each kind's zone, and who sees each zone, at this revision.
KIND_ZONES = [
    ("shape_production", "active"),
    ("render_production", "active"),
    ("external_polling", "active"),
    ("pending_shape", "needs_you"),
    ("held_assertion", "needs_you"),
    ("produced_render_for_review", "needs_you"),
    ("external_failure", "needs_you"),
    ("render", "recent"),
]
AUDIENCES = [
    ("active", ["owner", "operator", "viewer"]),
    ("needs_you", ["owner", "operator"]),
    ("recent", ["owner", "operator", "viewer"]),
]


def upgrade() -> None:
    op.create_table(
        counters.PERSON_VERSIONS,
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_dashboard_person_versions_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "zone", name=op.f("pk_dashboard_person_versions")),
    )
    # No backfill: a missing row reads as version 0, and the next change moves it.
    op.execute(counters.apply_function_sql(KIND_ZONES, AUDIENCES))
    for statement in (
        *counters.counters_deleted_sql(KIND_ZONES, AUDIENCES),
        *counters.membership_versions_sql(AUDIENCES),
    ):
        op.execute(statement)


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER dashboard_versions_{event} ON engagement_memberships")
    op.execute("DROP FUNCTION dashboard_membership_versions()")
    op.execute("DROP TRIGGER dashboard_counts_deleted ON dashboard_counts")
    op.execute("DROP FUNCTION dashboard_counts_deleted()")
    op.execute(counters.previous_apply_function_sql())
    op.drop_table(counters.PERSON_VERSIONS)
