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

from loomworks.core.access import ADMITTED
from loomworks.core.kinds import SOURCES
from loomworks.core.states import Zone
from loomworks.core.zones import audience_of

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


def _apply_function(create: str, before_counters: str = "") -> str:
    """dashboard_apply as migration 0005 wrote it (`before_counters` empty), or with a step
    run after the version is drawn and before any counter row is locked."""
    return f"""{create} FUNCTION dashboard_apply(changes dashboard_change[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    stamp bigint;
BEGIN
    IF coalesce(cardinality(changes), 0) = 0 THEN
        RETURN;
    END IF;
    stamp := nextval('dashboard_version');{before_counters}
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
END $$"""


APPLY_SQL = (
    "CREATE SEQUENCE dashboard_version",
    "CREATE TYPE dashboard_change AS (engagement_id uuid, item_kind text, d integer)",
    _apply_function("CREATE"),
)

# Per person and zone, one version that moves whenever anything the person sees in that
# zone changes (migration 0015): what a poll's ETag is read from in one index lookup, where
# a digest of every counter the person sees grew with their portfolio. Kept by the same
# writes: dashboard_apply (items, files, renames), deleted counters (a TRUNCATE, an
# engagement deleted) and membership changes.
PERSON_VERSIONS = "dashboard_person_versions"
# (zone, the designations that see it), frozen by the migrations that install the SQL
Audiences = Sequence[tuple[str, Sequence[str]]]
# (item kind, its zone)
KindZones = Sequence[tuple[str, str]]


def audiences_by_registry() -> list[tuple[str, list[str]]]:
    """Which designations see each zone: from loomworks.core.access and the zones' audiences."""
    return [(str(zone), [str(d) for d in ADMITTED[audience_of(zone)]]) for zone in Zone]


def kind_zones_by_registry() -> list[tuple[str, str]]:
    return [(str(source.kind), str(source.zone)) for source in SOURCES]


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _audience_values(audiences: Audiences) -> str:
    rows = ", ".join(
        f"('{zone}', ARRAY[{_listed(designations)}]::text[])" for zone, designations in audiences
    )
    return f"(VALUES {rows}) AS z(zone, designations)"


def _move_versions(seen: str) -> str:
    """Give every (person_id, zone) that `seen` selects (distinct pairs) a new version, locking
    their rows in key order (concurrent writers never wait on each other in a cycle)."""
    return (
        f"INSERT INTO {PERSON_VERSIONS} AS v (person_id, zone, version) "
        f"SELECT s.person_id, s.zone, nextval('dashboard_version') FROM ({seen}) s "
        "ORDER BY s.person_id, s.zone "
        "ON CONFLICT (person_id, zone) DO UPDATE SET version = EXCLUDED.version;"
    )


def _members_seeing(changed: str, kind_zones: KindZones, audiences: Audiences) -> str:
    """Every (member, zone) that sees one of `changed`'s (engagement_id, item_kind) rows."""
    kinds = ", ".join(f"('{kind}', '{zone}')" for kind, zone in kind_zones)
    return (
        f"SELECT DISTINCT m.person_id, z.zone FROM {changed} t "
        f"JOIN (VALUES {kinds}) AS k(item_kind, zone) ON k.item_kind = t.item_kind "
        f"JOIN {_audience_values(audiences)} ON z.zone = k.zone "
        "JOIN engagement_memberships m ON m.engagement_id = t.engagement_id "
        "AND m.designation = ANY (z.designations)"
    )


def apply_function_sql(kind_zones: KindZones, audiences: Audiences) -> str:
    """dashboard_apply that also moves the version of each member who sees a change, before
    the counters are locked (so a statement waits on a person's version before it holds any
    counter another writer may need)."""
    step = "\n    " + _move_versions(_members_seeing("unnest(changes)", kind_zones, audiences))
    return _apply_function("CREATE OR REPLACE", step)


def previous_apply_function_sql() -> str:
    """dashboard_apply as migration 0005 installed it (what 0013's downgrade puts back)."""
    return _apply_function("CREATE OR REPLACE")


def counters_deleted_sql(kind_zones: KindZones, audiences: Audiences) -> tuple[str, str]:
    """Counter rows deleted (a source table truncated, a recount): their items left the
    zones of everyone who saw them."""
    function = _per_operation(
        "dashboard_counts_deleted",
        {"DELETE": _move_versions(_members_seeing("old_rows", kind_zones, audiences))},
    )
    trigger = (
        "CREATE TRIGGER dashboard_counts_deleted AFTER DELETE ON dashboard_counts "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION dashboard_counts_deleted()"
    )
    return function, trigger


def membership_versions_sql(audiences: Audiences) -> list[str]:
    """A membership arrived, left or changed designation: what its person sees changed in
    every zone the old or the new designation sees. The function, then its triggers."""

    def seen(rows: str) -> str:
        # Only persons still there: a person deleted takes their memberships with them.
        return (
            f"SELECT DISTINCT m.person_id, z.zone FROM {rows} m "
            "JOIN persons p ON p.id = m.person_id "
            f"JOIN {_audience_values(audiences)} ON m.designation = ANY (z.designations)"
        )

    function = _per_operation(
        "dashboard_membership_versions",
        {
            "INSERT": _move_versions(seen("new_rows")),
            "DELETE": _move_versions(seen("old_rows")),
            "UPDATE": _move_versions(
                seen("(SELECT * FROM old_rows UNION ALL SELECT * FROM new_rows)")
            ),
        },
    )
    triggers = [
        f"CREATE TRIGGER dashboard_versions_{event} "
        f"{_TRIGGERS[event].format(table='engagement_memberships')} "
        "FOR EACH STATEMENT EXECUTE FUNCTION dashboard_membership_versions()"
        for event in _TRIGGERS
    ]
    return [function, *triggers]


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
