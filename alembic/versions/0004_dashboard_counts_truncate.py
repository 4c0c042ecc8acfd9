"""dashboard counts follow TRUNCATE too: row triggers do not fire on TRUNCATE, so a table
emptied that way (test harnesses, maintenance) would leave its counters behind

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = {
    "shaping_jobs": ["shape_production"],
    "render_jobs": ["render_production"],
    "external_production_records": ["external_polling"],
    "shapes": ["pending_shape"],
    "assertions": ["held_assertion"],
    "renders": ["produced_render_for_review", "render"],
}


def upgrade() -> None:
    for table, kinds in KINDS.items():
        listed = ", ".join(f"'{kind}'" for kind in kinds)
        op.execute(
            f"CREATE FUNCTION dashboard_count_truncate_{table}() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN "
            f"DELETE FROM dashboard_counts WHERE item_kind IN ({listed}); RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER dashboard_count_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count_truncate_{table}()"
        )


def downgrade() -> None:
    for table in KINDS:
        op.execute(f"DROP TRIGGER dashboard_count_truncate ON {table}")
        op.execute(f"DROP FUNCTION dashboard_count_truncate_{table}()")
