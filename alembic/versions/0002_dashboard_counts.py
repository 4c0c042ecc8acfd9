"""dashboard counts: per-engagement item counts kept by triggers, so total_count stays flat

Counting every produced render of a caller with a thousand engagements reads every such row;
summing one counter row per engagement and item kind does not grow with history.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, item kind, predicate over a row variable): the dashboard arms' WHERE clauses.
COUNTED = {
    "shaping_jobs": [("shape_production", "{r}.status IN ('queued', 'dispatched')")],
    "render_jobs": [("render_production", "{r}.status IN ('queued', 'dispatched')")],
    "external_production_records": [("external_polling", "{r}.status = 'awaiting_external'")],
    "shapes": [("pending_shape", "{r}.state = 'pending_confirmation'")],
    "assertions": [("held_assertion", "{r}.state = 'held'")],
    "renders": [
        ("produced_render_for_review", "{r}.state = 'produced' AND {r}.reviewed_at IS NULL"),
        ("render", "{r}.state = 'produced'"),
    ],
}


def _function_sql(table: str) -> str:
    steps = []
    for kind, predicate in COUNTED[table]:
        old, new = predicate.format(r="OLD"), predicate.format(r="NEW")
        steps.append(f"""
    old_in := TG_OP <> 'INSERT' AND ({old});
    new_in := TG_OP <> 'DELETE' AND ({new});
    IF old_in AND NOT (new_in AND NEW.engagement_id = OLD.engagement_id) THEN
        UPDATE dashboard_counts SET n = n - 1
        WHERE engagement_id = OLD.engagement_id AND item_kind = '{kind}';
    END IF;
    IF new_in AND NOT (old_in AND NEW.engagement_id = OLD.engagement_id) THEN
        INSERT INTO dashboard_counts (engagement_id, item_kind, n)
        VALUES (NEW.engagement_id, '{kind}', 1)
        ON CONFLICT (engagement_id, item_kind) DO UPDATE SET n = dashboard_counts.n + 1;
    END IF;""")
    return f"""
CREATE FUNCTION dashboard_count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_in boolean;
    new_in boolean;
BEGIN{"".join(steps)}
    RETURN NULL;
END $$"""


def upgrade() -> None:
    op.create_table(
        "dashboard_counts",
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("item_kind", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("n >= 0", name=op.f("ck_dashboard_counts_n_non_negative")),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_dashboard_counts_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("engagement_id", "item_kind", name=op.f("pk_dashboard_counts")),
    )
    for table, kinds in COUNTED.items():
        op.execute(_function_sql(table))
        op.execute(
            f"CREATE TRIGGER dashboard_count AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION dashboard_count_{table}()"
        )
        for kind, predicate in kinds:
            op.execute(
                f"INSERT INTO dashboard_counts (engagement_id, item_kind, n) "
                f"SELECT engagement_id, '{kind}', count(*) FROM {table} t "
                f"WHERE {predicate.format(r='t')} GROUP BY engagement_id"
            )


def downgrade() -> None:
    for table in COUNTED:
        op.execute(f"DROP TRIGGER dashboard_count ON {table}")
        op.execute(f"DROP FUNCTION dashboard_count_{table}()")
    op.drop_table("dashboard_counts")
