"""search index: search_trigrams() and a GIN index per dashboard source of its label's
trigrams, so a `q` search reads the rows that may match instead of every row of the zone
(the embedded PostgreSQL has no pg_trgm)

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: db/search.py FUNCTION_SQL at this revision.
FUNCTION_SQL = """\
CREATE FUNCTION search_trigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
SELECT coalesce(array_agg(DISTINCT substr(lowered, i, 3)), '{}')
FROM lower(t) AS lowered, generate_series(1, char_length(lowered) - 2) AS i
$$"""

_RENDER = "'Render #' || coalesce(CAST(display_number AS TEXT), '') || ': ' || coalesce(title, '')"
_EXTERNAL = "coalesce(description, '') || ' from ' || coalesce(provider, '')"

# Frozen: (index, table, the label as searched (db/search.label_text), the source's rows).
INDEXES = [
    (
        "ix_shaping_jobs_active_search",
        "shaping_jobs",
        "'Shaping: ' || coalesce(translate(shape_type, '_-', '  '), '')",
        "status IN ('queued', 'dispatched')",
    ),
    (
        "ix_render_jobs_active_search",
        "render_jobs",
        "'Rendering: ' || coalesce(translate(render_type, '_-', '  '), '')",
        "status IN ('queued', 'dispatched')",
    ),
    (
        "ix_external_production_records_awaiting_search",
        "external_production_records",
        _EXTERNAL,
        "status = 'awaiting_external'",
    ),
    (
        "ix_external_production_records_failed_search",
        "external_production_records",
        _EXTERNAL,
        "status = 'failed' AND resolved_at IS NULL",
    ),
    ("ix_shapes_pending_search", "shapes", "coalesce(title, '')", "state = 'pending_confirmation'"),
    ("ix_assertions_held_search", "assertions", "coalesce(statement, '')", "state = 'held'"),
    (
        "ix_renders_awaiting_review_search",
        "renders",
        _RENDER,
        "state = 'produced' AND reviewed_at IS NULL",
    ),
    ("ix_renders_produced_search", "renders", _RENDER, "state = 'produced'"),
]


def upgrade() -> None:
    op.execute(FUNCTION_SQL)
    for name, table, label, rows in INDEXES:
        op.execute(
            f"CREATE INDEX {name} ON {table} USING gin (search_trigrams({label})) WHERE {rows}"
        )


def downgrade() -> None:
    for name, _, _, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute("DROP FUNCTION search_trigrams(text)")
