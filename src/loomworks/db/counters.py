"""The SQL that keeps dashboard_counts exact: per source table, one trigger function that adds
up what a statement changed per (engagement, item kind) and applies it in one order.

Migrations install it with their own frozen list of counted kinds (`Counted`); the
migration-drift test checks that what is installed equals what the registry asks for now,
so a new kind without its migration fails the tests. Change the SQL written here only
together with a migration that reinstalls every table's function.
"""

from __future__ import annotations

from collections.abc import Sequence

from loomworks.kinds import SOURCES

# (item kind, its predicate with "{r}" standing for the row's table alias)
Counted = Sequence[tuple[str, str]]


def counted_by_registry() -> dict[str, list[tuple[str, str]]]:
    """Per source table, what its counter function counts: derived from loomworks.kinds."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for source in SOURCES:
        tables.setdefault(source.table, []).append((source.kind, source.predicate("{r}")))
    return tables


def _changes(counted: Counted, rows: str, sign: str) -> list[str]:
    return [
        f"SELECT r.engagement_id, '{kind}'::text AS item_kind, {sign}1 AS d "
        f"FROM {rows} r WHERE {predicate.format(r='r')}"
        for kind, predicate in counted
    ]


def function_sql(table: str, counted: Counted) -> str:
    """CREATE OR REPLACE the statement-level counter function of `table`.

    Row-level triggers updated counter rows in whatever order a statement's rows came, so two
    multi-row writers could lock the same counters in opposite orders and deadlock. This one
    aggregates the statement's changes first, locks the counter rows it touches in key order,
    then applies them (decrements need the row to exist: its old row was counted)."""
    old = " UNION ALL ".join(_changes(counted, "old_rows", "-"))
    new = " UNION ALL ".join(_changes(counted, "new_rows", ""))
    deltas = {
        "INSERT": new,
        "DELETE": old,
        "UPDATE": f"{old} UNION ALL {new}",
    }
    steps = []
    for operation, changes in deltas.items():
        delta = (
            f"SELECT engagement_id, item_kind, sum(d) AS d FROM ({changes}) changes "
            "GROUP BY engagement_id, item_kind HAVING sum(d) <> 0"
        )
        steps.append(f"""
    IF TG_OP = '{operation}' THEN
        PERFORM 1 FROM dashboard_counts c
        WHERE (c.engagement_id, c.item_kind) IN (SELECT engagement_id, item_kind FROM ({delta}) t)
        ORDER BY c.engagement_id, c.item_kind FOR UPDATE;
        UPDATE dashboard_counts c SET n = c.n + t.d FROM ({delta}) t
        WHERE c.engagement_id = t.engagement_id AND c.item_kind = t.item_kind;
        INSERT INTO dashboard_counts AS c (engagement_id, item_kind, n)
        SELECT t.engagement_id, t.item_kind, t.d FROM ({delta}) t
        WHERE t.d > 0 AND NOT EXISTS (
            SELECT 1 FROM dashboard_counts e
            WHERE e.engagement_id = t.engagement_id AND e.item_kind = t.item_kind)
        ORDER BY t.engagement_id, t.item_kind
        ON CONFLICT (engagement_id, item_kind) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;""")
    return (
        f"CREATE OR REPLACE FUNCTION dashboard_count_{table}() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$\nBEGIN{''.join(steps)}\n    RETURN NULL;\nEND $$"
    )


def truncate_function_sql(table: str, counted: Counted) -> str:
    """Row triggers do not fire on TRUNCATE: drop the table's counters with it."""
    listed = ", ".join(f"'{kind}'" for kind, _ in counted)
    return (
        f"CREATE OR REPLACE FUNCTION dashboard_count_truncate_{table}() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN "
        f"DELETE FROM dashboard_counts WHERE item_kind IN ({listed}); RETURN NULL; END $$"
    )


# Transition tables need one trigger per event.
_TRIGGERS = {
    "insert": "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows",
}


def create_triggers_sql(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER dashboard_count_{event} {clause.format(table=table)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count_{table}()"
        for event, clause in _TRIGGERS.items()
    ]


def drop_triggers_sql(table: str) -> list[str]:
    return [f"DROP TRIGGER dashboard_count_{event} ON {table}" for event in _TRIGGERS]


def recount_sql(table: str, counted: Counted) -> list[str]:
    """Set the table's counters from its rows (after installing a new kind's counting)."""
    listed = ", ".join(f"'{kind}'" for kind, _ in counted)
    return [
        f"DELETE FROM dashboard_counts WHERE item_kind IN ({listed})",
        *(
            f"INSERT INTO dashboard_counts (engagement_id, item_kind, n) "
            f"SELECT engagement_id, '{kind}', count(*) FROM {table} r "
            f"WHERE {predicate.format(r='r')} GROUP BY engagement_id"
            for kind, predicate in counted
        ),
    ]
