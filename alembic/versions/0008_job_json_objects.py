"""job JSON is always an object: repair stored non-objects to {}, then CHECK it

A progress write merges a fragment into `context` or `summary_counts` with `||`, which on
a stored array, string, number or JSON null builds an array, and the phase is lost. SQL
NULL stays allowed where the column is nullable: readers and writers take it as {}.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_COLUMNS = {
    "shaping_jobs": ("context", "summary_counts"),
    "render_jobs": ("context", "summary_counts"),
    "external_production_records": ("context",),
}


def upgrade() -> None:
    for table, columns in JSON_COLUMNS.items():
        for column in columns:
            op.execute(
                f"UPDATE {table} SET {column} = '{{}}'::jsonb "
                f"WHERE jsonb_typeof({column}) <> 'object'"
            )
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{column}_object "
                f"CHECK (jsonb_typeof({column}) = 'object')"
            )


def downgrade() -> None:
    for table, columns in JSON_COLUMNS.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_{column}_object")
