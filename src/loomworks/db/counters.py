"""The SQL that keeps dashboard_counts exact and versioned: per source table, one trigger
function that adds up what a statement changed per (engagement, item kind) and hands it to
dashboard_apply, which moves the counts and versions in one lock order and notifies.

Migrations install it with their own frozen lists of counted kinds (`Counted`); the
migration-drift test checks that what is installed equals what the registry asks for now,
so a new kind without its migration fails the tests. Migrations call these functions, so
what they write must not change: to change the SQL, add new functions beside these and a
migration that installs them.
"""

from __future__ import annotations

from collections.abc import Sequence

from loomworks.core.kinds import SOURCES

# (item kind, its predicate with "{r}" standing for the row's table alias)
Counted = Sequence[tuple[str, str]]


def downloads_by_registry() -> list[tuple[str, str]]:
    """The kinds whose items show a download link: their versions follow render_files."""
    return [(s.kind, s.predicate("{r}")) for s in SOURCES if s.downloadable]


def counted_by_registry() -> dict[str, list[tuple[str, str]]]:
    """Per source table, what its counter function counts: derived from loomworks.core.kinds."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for source in SOURCES:
        tables.setdefault(source.table, []).append((source.kind, source.predicate("{r}")))
    return tables


# Every change a statement makes to the zones goes through dashboard_apply (APPLY_SQL): the
# counts move, each touched (engagement, kind) gets a new version from one sequence (the
# ETags and event ids), and a notification is sent on commit. Installed by migration 0005.
NOTIFY_CHANNEL = "loomworks_dashboard"
MEMBERSHIP_CHANNEL = "loomworks_membership"
APPLY_SQL = (
    "CREATE SEQUENCE dashboard_version",
    "CREATE TYPE dashboard_change AS (engagement_id uuid, item_kind text, d integer)",
    f"""CREATE FUNCTION dashboard_apply(changes dashboard_change[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    stamp bigint;
BEGIN
    IF coalesce(cardinality(changes), 0) = 0 THEN
        RETURN;
    END IF;
    stamp := nextval('dashboard_version');
    -- Lock the counter rows in key order, so concurrent writers never wait in a cycle.
    PERFORM 1 FROM dashboard_counts c
    WHERE (c.engagement_id, c.item_kind) IN (
        SELECT t.engagement_id, t.item_kind FROM unnest(changes) t)
    ORDER BY c.engagement_id, c.item_kind FOR UPDATE;
    UPDATE dashboard_counts c SET n = c.n + t.d, version = stamp FROM unnest(changes) t
    WHERE c.engagement_id = t.engagement_id AND c.item_kind = t.item_kind;
    -- Only an arrival can need a new row: what left or changed was counted before (or its
    -- engagement is being deleted, its counters with it).
    INSERT INTO dashboard_counts AS c (engagement_id, item_kind, n, version)
    SELECT t.engagement_id, t.item_kind, t.d, stamp FROM unnest(changes) t
    WHERE t.d > 0 AND NOT EXISTS (
        SELECT 1 FROM dashboard_counts e
        WHERE e.engagement_id = t.engagement_id AND e.item_kind = t.item_kind)
    ORDER BY t.engagement_id, t.item_kind
    ON CONFLICT (engagement_id, item_kind) DO UPDATE SET n = c.n + EXCLUDED.n, version = stamp;
    PERFORM pg_notify('{NOTIFY_CHANNEL}', t.engagement_id || ' ' || t.item_kind || ' ' || stamp)
    FROM unnest(changes) t;
END $$""",
)


def _changes(counted: Counted, rows: str, sign: str) -> list[str]:
    return [
        f"SELECT r.engagement_id, '{kind}'::text AS item_kind, {sign}1 AS d "
        f"FROM {rows} r WHERE {predicate.format(r='r')}"
        for kind, predicate in counted
    ]


def _apply(changes: str) -> str:
    """PERFORM dashboard_apply on (engagement_id, item_kind, d) rows, summed per key."""
    return (
        "PERFORM dashboard_apply(ARRAY(SELECT ROW(engagement_id, item_kind, sum(d))::"
        f"dashboard_change FROM ({changes}) changes GROUP BY engagement_id, item_kind));"
    )


def _per_operation(table: str, steps: dict[str, str]) -> str:
    body = "".join(
        f"\n    {'IF' if n == 0 else 'ELSIF'} TG_OP = '{operation}' THEN\n        {step}"
        for n, (operation, step) in enumerate(steps.items())
    )
    return (
        f"CREATE OR REPLACE FUNCTION {table}() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$\nBEGIN{body}\n    END IF;\n    RETURN NULL;\nEND $$"
    )


def function_sql(table: str, counted: Counted) -> str:
    """CREATE OR REPLACE the statement-level counter function of `table`: what the statement
    moved into (+1) or out of (-1) each (engagement, kind), a row that stays in a zone
    counting 0 (its version still moves: it changed), applied by dashboard_apply."""
    old = " UNION ALL ".join(_changes(counted, "old_rows", "-"))
    new = " UNION ALL ".join(_changes(counted, "new_rows", ""))
    return _per_operation(
        f"dashboard_count_{table}",
        {
            "INSERT": _apply(new),
            "DELETE": _apply(old),
            "UPDATE": _apply(f"{old} UNION ALL {new}"),
        },
    )


def files_function_sql(counted: Counted) -> str:
    """A render's files decide whether it offers a download: a change to them changes the
    render's items (a version, no count) in every zone it is in."""

    def touched(rows: str) -> str:
        return " UNION ALL ".join(
            f"SELECT r.engagement_id, '{kind}'::text AS item_kind, 0 AS d FROM renders r "
            f"WHERE r.id IN (SELECT render_id FROM {rows}) AND {predicate.format(r='r')}"
            for kind, predicate in counted
        )

    return _per_operation(
        "dashboard_count_render_files",
        {
            "INSERT": _apply(touched("new_rows")),
            "DELETE": _apply(touched("old_rows")),
            "UPDATE": _apply(f"{touched('old_rows')} UNION ALL {touched('new_rows')}"),
        },
    )


# An engagement's name is on every item of it: a rename moves the versions of all its kinds.
RENAME_FUNCTION_SQL = _per_operation(
    "dashboard_count_engagements",
    {
        "UPDATE": _apply(
            "SELECT c.engagement_id, c.item_kind, 0 AS d FROM dashboard_counts c "
            "JOIN new_rows n ON n.id = c.engagement_id JOIN old_rows o ON o.id = n.id "
            "WHERE o.name IS DISTINCT FROM n.name"
        )
    },
)


def truncate_function_sql(table: str, counted: Counted) -> str:
    """Row triggers do not fire on TRUNCATE: drop the table's counters with it."""
    listed = ", ".join(f"'{kind}'" for kind, _ in counted)
    return (
        f"CREATE OR REPLACE FUNCTION dashboard_count_truncate_{table}() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN "
        f"DELETE FROM dashboard_counts WHERE item_kind IN ({listed}); RETURN NULL; END $$"
    )


# Who may see what changes with memberships: event streams listen for this.
MEMBERSHIP_NOTIFY_SQL = (
    "CREATE FUNCTION membership_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"PERFORM pg_notify('{MEMBERSHIP_CHANNEL}', coalesce(NEW.person_id, OLD.person_id)::text); "
    "RETURN NULL; END $$",
    "CREATE TRIGGER membership_notify AFTER INSERT OR UPDATE OR DELETE ON engagement_memberships "
    "FOR EACH ROW EXECUTE FUNCTION membership_notify()",
)

# Transition tables need one trigger per event.
_TRIGGERS = {
    "insert": "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows",
}


def create_triggers_sql(table: str, events: Sequence[str] = tuple(_TRIGGERS)) -> list[str]:
    return [
        f"CREATE TRIGGER dashboard_count_{event} {_TRIGGERS[event].format(table=table)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count_{table}()"
        for event in events
    ]


def drop_triggers_sql(table: str, events: Sequence[str] = tuple(_TRIGGERS)) -> list[str]:
    return [f"DROP TRIGGER dashboard_count_{event} ON {table}" for event in events]


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
