"""statement-level dashboard counters with versions and notifications

Row triggers updated counter rows in row order, so concurrent multi-row writers could lock
the same counters in opposite orders and deadlock. Now each statement's changes are summed
per (engagement, item kind) and applied by dashboard_apply in key order; every touched
counter gets a new version from one sequence (what ETags and event ids are made of), renames
and render files move versions too, and commits notify listeners. See db/counters.py.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from loomworks.db import counters

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: what each table counted at this revision (the same kinds as 0002).
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
DOWNLOADS = [("render", "{r}.state = 'produced'")]

# The row-level function of 0002, restored by downgrade.
_ROW_STEP = """
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
    END IF;"""


def upgrade() -> None:
    op.add_column(
        "dashboard_counts",
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    for statement in counters.APPLY_SQL:
        op.execute(statement)
    for table, counted in COUNTED.items():
        op.execute(f"DROP TRIGGER dashboard_count ON {table}")
        op.execute(counters.function_sql(table, counted))
        for statement in counters.create_triggers_sql(table):
            op.execute(statement)
    op.execute(counters.files_function_sql(DOWNLOADS))
    for statement in counters.create_triggers_sql("render_files"):
        op.execute(statement)
    op.execute(counters.RENAME_FUNCTION_SQL)
    for statement in counters.create_triggers_sql("engagements", ["update"]):
        op.execute(statement)
    for statement in counters.MEMBERSHIP_NOTIFY_SQL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER membership_notify ON engagement_memberships")
    op.execute("DROP FUNCTION membership_notify()")
    for statement in counters.drop_triggers_sql("engagements", ["update"]):
        op.execute(statement)
    op.execute("DROP FUNCTION dashboard_count_engagements()")
    for statement in counters.drop_triggers_sql("render_files"):
        op.execute(statement)
    op.execute("DROP FUNCTION dashboard_count_render_files()")
    for table, counted in COUNTED.items():
        for statement in counters.drop_triggers_sql(table):
            op.execute(statement)
        steps = "".join(
            _ROW_STEP.format(old=p.format(r="OLD"), new=p.format(r="NEW"), kind=kind)
            for kind, p in counted
        )
        op.execute(
            f"CREATE OR REPLACE FUNCTION dashboard_count_{table}() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$\nDECLARE\n    old_in boolean;\n    new_in boolean;\n"
            f"BEGIN{steps}\n    RETURN NULL;\nEND $$"
        )
        op.execute(
            f"CREATE TRIGGER dashboard_count AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION dashboard_count_{table}()"
        )
    op.execute("DROP FUNCTION dashboard_apply(dashboard_change[])")
    op.execute("DROP TYPE dashboard_change")
    op.execute("DROP SEQUENCE dashboard_version")
    op.drop_column("dashboard_counts", "version")
