"""decisions: the history table, review outcomes, resolvable external failures (a new needs_you
kind, external_failure: a failed record nobody has resolved, newest completed_at first)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from loomworks.db import counters

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTERNAL = "external_production_records"
FAILED = "status = 'failed' AND resolved_at IS NULL"
# Frozen: what external_production_records counts from this revision on.
COUNTED = [
    ("external_polling", "{r}.status = 'awaiting_external'"),
    ("external_failure", "{r}.status = 'failed' AND {r}.resolved_at IS NULL"),
]
COUNTED_BEFORE = COUNTED[:1]

# A finished record without completed_at would have no place in the newest-first order.
STAMP_COMPLETED = (
    "CREATE FUNCTION external_production_stamp_completed() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN NEW.completed_at := now(); RETURN NEW; END $$",
    f"CREATE TRIGGER stamp_completed BEFORE INSERT OR UPDATE OF status, completed_at "
    f"ON {EXTERNAL} FOR EACH ROW "
    "WHEN (NEW.status <> 'awaiting_external' AND NEW.completed_at IS NULL) "
    "EXECUTE FUNCTION external_production_stamp_completed()",
)


def upgrade() -> None:
    op.add_column("renders", sa.Column("review_outcome", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_renders_review_outcome_valid"),
        "renders",
        "review_outcome IS NULL OR review_outcome IN ('accepted', 'changes_requested')",
    )
    op.add_column(EXTERNAL, sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(EXTERNAL, sa.Column("resolution", sa.Text(), nullable=True))
    op.add_column(EXTERNAL, sa.Column("retry_of", sa.UUID(), nullable=True))
    op.create_check_constraint(
        op.f("ck_external_production_records_resolution_valid"),
        EXTERNAL,
        "resolution IS NULL OR resolution IN ('retried', 'dismissed')",
    )
    op.create_foreign_key(
        op.f("fk_external_production_records_retry_of_external_production_records"),
        EXTERNAL,
        EXTERNAL,
        ["retry_of"],
        ["id"],
        ondelete="SET NULL",
    )
    op.execute(
        f"UPDATE {EXTERNAL} SET completed_at = started_at "
        "WHERE status <> 'awaiting_external' AND completed_at IS NULL"
    )
    for statement in STAMP_COMPLETED:
        op.execute(statement)

    op.create_table(
        "decisions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("item_kind", sa.Text(), nullable=False),
        sa.Column("item_id", sa.UUID(), nullable=False),
        sa.Column("item_label", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column(
            "decided_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("follow_up_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_decisions_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_decisions_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(
        "ix_decisions_history",
        "decisions",
        ["engagement_id", sa.literal_column("decided_at DESC"), sa.literal_column("id DESC")],
    )
    op.create_index(
        "ix_decisions_item", "decisions", ["item_id", sa.literal_column("decided_at DESC")]
    )

    newest_first: list[sa.ColumnElement[str]] = [
        sa.literal_column("completed_at DESC"),
        sa.literal_column("id DESC"),
    ]
    op.create_index(
        "ix_external_production_records_failed",
        EXTERNAL,
        ["engagement_id", *newest_first],
        postgresql_where=sa.text(FAILED),
    )
    op.create_index(
        "ix_external_production_records_failed_newest",
        EXTERNAL,
        newest_first,
        postgresql_where=sa.text(FAILED),
        postgresql_include=["engagement_id"],
    )
    _count(COUNTED)


def downgrade() -> None:
    op.execute("DELETE FROM dashboard_counts WHERE item_kind = 'external_failure'")
    _count(COUNTED_BEFORE)
    op.drop_index("ix_external_production_records_failed_newest", table_name=EXTERNAL)
    op.drop_index("ix_external_production_records_failed", table_name=EXTERNAL)
    op.drop_table("decisions")
    op.execute(f"DROP TRIGGER stamp_completed ON {EXTERNAL}")
    op.execute("DROP FUNCTION external_production_stamp_completed()")
    op.drop_constraint(
        op.f("fk_external_production_records_retry_of_external_production_records"),
        EXTERNAL,
        type_="foreignkey",
    )
    op.drop_constraint(op.f("ck_external_production_records_resolution_valid"), EXTERNAL)
    op.drop_column(EXTERNAL, "retry_of")
    op.drop_column(EXTERNAL, "resolution")
    op.drop_column(EXTERNAL, "resolved_at")
    op.drop_constraint(op.f("ck_renders_review_outcome_valid"), "renders")
    op.drop_column("renders", "review_outcome")


def _count(counted: counters.Counted) -> None:
    op.execute(counters.function_sql(EXTERNAL, counted))
    op.execute(counters.truncate_function_sql(EXTERNAL, counted))
    for statement in counters.recount_sql(EXTERNAL, counted):
        op.execute(statement)
