"""Benchmark data: the scales, and a set-based loader built on `generate_series`.

Every source table is filled by one `INSERT ... SELECT ... FROM generate_series(...)`
statement per table (no row-by-row inserts), driven by a temporary table that lists the
benchmark's engagements, whether the caller belongs to each, and how old its rows are.
Random values come from PostgreSQL's `random()` after `setseed()`, so two loads of the same
scale produce the same mix (timestamps are relative to the load's `now()`). A few percent of
rows share exactly-equal timestamps (whole days), across engagements and tables, so the
cursor tie-breaker is exercised.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.people import issue_session
from loomworks.db.tables import DATA_TABLES
from loomworks.platform.migrate import alembic_config, upgrade_to_head

SOURCE_TABLES = (
    "shaping_jobs",
    "render_jobs",
    "external_production_records",
    "shapes",
    "assertions",
    "renders",
)


def _rows(n: int, **overrides: int) -> dict[str, int]:
    """Rows per engagement for every source table: `n`, except where overridden."""
    counts = dict.fromkeys(SOURCE_TABLES, n)
    counts.update(overrides)
    return counts


@dataclass(frozen=True)
class Scale:
    """One data set: the caller's engagements, the noise around them and their ages."""

    name: str
    description: str
    caller_engagements: int
    noise_engagements: int
    caller_rows: dict[str, int]
    noise_rows: dict[str, int]
    # Row ages in days: uniform in [age_min, age_min + age_span].
    caller_age: tuple[float, float] = (0.0, 365.0)
    noise_age: tuple[float, float] = (0.0, 365.0)
    # Persons other than the caller, each a member of a few engagements.
    noise_persons: int = 20
    # Seconds of sustained 16-client load for the memory figure.
    sustain_seconds: float = 10.0
    # Every n-th running job reports a phase (1: all of them, the phase-heavy variant).
    phase_every: int = 5


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        name="tiny",
        description="CI smoke: caller in 3 engagements, 50 rows per table each, 2 noise",
        caller_engagements=3,
        noise_engagements=2,
        caller_rows=_rows(50),
        noise_rows=_rows(50),
        noise_persons=4,
        sustain_seconds=1.0,
    ),
    "S": Scale(
        name="S",
        description="caller in 10 engagements, 1k rows per source table each, 20 noise",
        caller_engagements=10,
        noise_engagements=20,
        caller_rows=_rows(1000),
        noise_rows=_rows(1000),
    ),
    "M": Scale(
        name="M",
        description="caller in 100 engagements, 1k rows per source table each, 50 noise",
        caller_engagements=100,
        noise_engagements=50,
        caller_rows=_rows(1000),
        noise_rows=_rows(1000),
        noise_persons=50,
    ),
    "L": Scale(
        name="L",
        description=(
            "caller in 1,000 engagements (+100 noise): 1k renders, 400 shapes/assertions/"
            "jobs and 200 external records each; renders > 1M rows"
        ),
        caller_engagements=1000,
        noise_engagements=100,
        caller_rows=_rows(400, renders=1000, external_production_records=200),
        noise_rows=_rows(400, renders=1000, external_production_records=200),
        noise_persons=200,
    ),
    "skewed": Scale(
        name="skewed",
        description=(
            "caller in 30 engagements with 20 old rows per table each (300-365 days), inside "
            "500 noise engagements with 2k renders and 400 rows per other table each"
        ),
        caller_engagements=30,
        noise_engagements=500,
        caller_rows=_rows(20),
        noise_rows=_rows(400, renders=2000, external_production_records=200),
        caller_age=(300.0, 65.0),
        noise_age=(0.0, 300.0),
        noise_persons=100,
    ),
}


# S again, with every running job reporting a phase (the page then decodes the most progress).
SCALES["S-phased"] = replace(
    SCALES["S"],
    name="S-phased",
    description="S with every running job in a phase (phase-heavy active zone)",
    phase_every=1,
)


@dataclass(frozen=True)
class Membership:
    engagement_id: uuid.UUID
    designation: str


@dataclass
class Dataset:
    """What the load produced: the caller, their session token and engagements, timings."""

    scale: Scale
    load_mode: str
    run_id: str
    caller_id: uuid.UUID
    token: str
    memberships: list[Membership]
    engagement_ids: list[uuid.UUID]
    person_ids: list[uuid.UUID]
    timings: dict[str, float]
    row_counts: dict[str, int]

    @property
    def caller_engagement_ids(self) -> list[uuid.UUID]:
        return [m.engagement_id for m in self.memberships]


# --- the statements -------------------------------------------------------------------------

_CREATE_PLAN = """
CREATE TEMP TABLE bench_engagements (
    ord int PRIMARY KEY,
    id uuid NOT NULL,
    caller boolean NOT NULL,
    age_min float8 NOT NULL,
    age_span float8 NOT NULL
)
"""

_ENGAGEMENTS = """
WITH plan AS MATERIALIZED (
    SELECT g AS ord,
           gen_random_uuid() AS id,
           g <= CAST(:n_caller AS int) AS caller
    FROM generate_series(1, CAST(:n_caller AS int) + CAST(:n_noise AS int)) AS g
), created AS (
    INSERT INTO engagements (id, name, created_at)
    SELECT id,
           CASE WHEN caller THEN 'Engagement ' ELSE 'Other engagement ' END
               || lpad(ord::text, 4, '0'),
           now() - interval '400 days' + ord * interval '1 minute'
    FROM plan
    RETURNING id
)
INSERT INTO bench_engagements (ord, id, caller, age_min, age_span)
SELECT ord, id, caller,
       CASE WHEN caller THEN CAST(:caller_age_min AS float8)
            ELSE CAST(:noise_age_min AS float8) END,
       CASE WHEN caller THEN CAST(:caller_age_span AS float8)
            ELSE CAST(:noise_age_span AS float8) END
FROM plan
"""

_PERSONS = """
INSERT INTO persons (id, email, display_name, created_at)
SELECT gen_random_uuid(),
       'bench-' || :run_id || '-' || CASE WHEN g = 0 THEN 'caller' ELSE 'p' || g END
           || '@example.test',
       CASE WHEN g = 0 THEN 'Bench Caller' ELSE 'Bench Person ' || g END,
       now() - interval '400 days'
FROM generate_series(0, :n_persons) AS g
RETURNING id, email
"""

# The caller: owner/operator/viewer with about 20% viewer (ord % 5 = 2; so tiny has one).
_CALLER_MEMBERSHIPS = """
INSERT INTO engagement_memberships (person_id, engagement_id, designation, created_at)
SELECT CAST(:caller_id AS uuid), e.id,
       CASE e.ord % 5 WHEN 2 THEN 'viewer' WHEN 0 THEN 'owner' WHEN 3 THEN 'owner'
                      ELSE 'operator' END,
       now() - interval '399 days'
FROM bench_engagements e
WHERE e.caller
RETURNING engagement_id, designation
"""

# Everybody else: three members per engagement, spread over the other persons.
_NOISE_MEMBERSHIPS = """
INSERT INTO engagement_memberships (person_id, engagement_id, designation, created_at)
SELECT p.ids[1 + (e.ord * 7 + k * 13) % cardinality(p.ids)], e.id,
       (ARRAY['owner', 'operator', 'viewer'])[1 + (e.ord + k) % 3],
       now() - interval '399 days'
FROM bench_engagements e
CROSS JOIN generate_series(0, 2) AS k
CROSS JOIN (SELECT CAST(:person_ids AS uuid[]) AS ids) AS p
ON CONFLICT (person_id, engagement_id) DO NOTHING
"""

# Row ages: uniform over [age_min, age_min + age_span] days, except every 25th row of an
# engagement, which falls on an exact midnight (shared across engagements and tables).
_AGE = """
CASE WHEN g % 25 = 0
     THEN date_trunc('day', now()) - (e.age_min + (g / 25) % 60) * interval '1 day'
     ELSE now() - (e.age_min + e.age_span * random()) * interval '1 day'
END
"""

_PER_ENGAGEMENT = """
FROM bench_engagements e
CROSS JOIN LATERAL generate_series(
    CAST(:first AS int),
    LEAST(CAST(:last AS int),
          CASE WHEN e.caller THEN CAST(:caller_rows AS int) ELSE CAST(:noise_rows AS int) END)
) AS g
"""

# OFFSET 0 keeps the inner SELECT from being pulled up, so each random() is drawn once per row.
_JOBS = """
INSERT INTO {table} (engagement_id, {type_column}, status, started_at, completed_at,
                     context, summary_counts)
SELECT engagement_id, kind, status, started_at,
       CASE WHEN status IN ('queued', 'dispatched') THEN NULL
            ELSE started_at + dur * interval '3 hours' END,
       CASE WHEN status NOT IN ('queued', 'dispatched') THEN '{{}}'::jsonb
            WHEN g % CAST(:phase_every AS int) = 0 THEN jsonb_build_object(
                'phase', jsonb_build_object(
                    'key', (ARRAY['preparing', 'fetching', 'processing', 'persisting',
                                  'finalizing'])[1 + g % 5 + (g / 5) % 5]))
            WHEN g % 5 = 1 THEN jsonb_build_object(
                'composite', jsonb_build_object('children', 4 + g % 3, 'failed', g % 2,
                                                'partial', (g / 2) % 2))
            ELSE '{{}}'::jsonb END,
       CASE WHEN status IN ('queued', 'dispatched') AND g % 5 IN (2, 3)
            THEN jsonb_build_object('processed', g % 40, 'total', 40)
            WHEN status = 'completed' THEN jsonb_build_object('processed', 40, 'total', 40)
            ELSE '{{}}'::jsonb END
FROM (
    SELECT e.id AS engagement_id, g,
           (ARRAY[{kinds}])[1 + g % {n_kinds}] AS kind,
           CASE WHEN u < 0.02 THEN 'queued' WHEN u < 0.05 THEN 'dispatched'
                WHEN u < 0.92 THEN 'completed' WHEN u < 0.97 THEN 'failed'
                ELSE 'cancelled' END AS status,
           {age} AS started_at,
           dur
    FROM (SELECT e.*, g, random() AS u, random() AS dur {per_engagement} OFFSET 0) AS e
) AS s
"""


def _jobs_sql(table: str, type_column: str, kinds: tuple[str, ...]) -> str:
    return _JOBS.format(
        table=table,
        type_column=type_column,
        kinds=", ".join(f"'{k}'" for k in kinds),
        n_kinds=len(kinds),
        age=_AGE,
        per_engagement=_PER_ENGAGEMENT,
    )


_EXTERNAL = f"""
INSERT INTO external_production_records (engagement_id, provider, description, status,
                                         started_at, completed_at, context)
SELECT engagement_id,
       (ARRAY['Acme Survey', 'Northwind Imaging', 'Globex Print'])[1 + g % 3],
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'Batch ' || g || ' of site imagery' END,
       status, started_at,
       CASE WHEN status = 'awaiting_external' THEN NULL
            ELSE started_at + dur * interval '2 days' END,
       jsonb_build_object('request', 'req-' || g)
FROM (
    SELECT e.id AS engagement_id, g,
           CASE WHEN u < 0.04 THEN 'awaiting_external' WHEN u < 0.90 THEN 'received'
                WHEN u < 0.96 THEN 'failed' ELSE 'cancelled' END AS status,
           {_AGE} AS started_at,
           dur
    FROM (SELECT e.*, g, random() AS u, random() AS dur {_PER_ENGAGEMENT} OFFSET 0) AS e
) AS s
"""  # noqa: S608 (interpolates only this module's constant fragments)

_SHAPES = f"""
INSERT INTO shapes (engagement_id, shape_type, title, state, created_at, decided_at)
SELECT engagement_id, shape_type, 'Shape ' || g || ': ' || shape_type, state, created_at,
       CASE WHEN state = 'pending_confirmation' THEN NULL
            ELSE created_at + dur * interval '5 days' END
FROM (
    SELECT e.id AS engagement_id, g,
           (ARRAY['site_plan', 'floor_plan', 'elevation', 'section'])[1 + g % 4] AS shape_type,
           CASE WHEN u < 0.03 THEN 'pending_confirmation' WHEN u < 0.85 THEN 'confirmed'
                ELSE 'rejected' END AS state,
           {_AGE} AS created_at,
           dur
    FROM (SELECT e.*, g, random() AS u, random() AS dur {_PER_ENGAGEMENT} OFFSET 0) AS e
) AS s
"""  # noqa: S608 (interpolates only this module's constant fragments)

_ASSERTIONS = f"""
INSERT INTO assertions (engagement_id, statement, state, created_at, decided_at)
SELECT engagement_id, 'Assertion ' || g || ': the boundary follows the survey line',
       state, created_at,
       CASE WHEN state = 'held' THEN NULL ELSE created_at + dur * interval '5 days' END
FROM (
    SELECT e.id AS engagement_id, g,
           CASE WHEN u < 0.03 THEN 'held' WHEN u < 0.90 THEN 'committed'
                ELSE 'withdrawn' END AS state,
           {_AGE} AS created_at,
           dur
    FROM (SELECT e.*, g, random() AS u, random() AS dur {_PER_ENGAGEMENT} OFFSET 0) AS e
) AS s
"""  # noqa: S608 (interpolates only this module's constant fragments)

# Most renders produced (about 60% of those reviewed), some producing or failed; content
# kinds about 60% inline_dict, 30% binary_blob, 10% multi_file. Rows on an exact midnight
# complete at that same instant, so the recent zone has ties too.
_RENDERS = f"""
INSERT INTO renders (engagement_id, title, display_number, state, content_kind,
                     inline_content, created_at, completed_at, reviewed_at)
SELECT engagement_id, 'Render of sheet ' || g, g, state, content_kind,
       CASE WHEN content_kind = 'inline_dict'
            THEN jsonb_build_object('rows', g % 10, 'note', 'inline') END,
       created_at,
       CASE WHEN state = 'producing' THEN NULL
            WHEN g % 25 = 0 THEN created_at
            ELSE created_at + dur * interval '2 hours' END,
       CASE WHEN state = 'produced' AND r < 0.6
            THEN created_at + interval '2 hours' + dur * interval '3 days' END
FROM (
    SELECT e.id AS engagement_id, g,
           CASE WHEN u < 0.02 THEN 'producing' WHEN u < 0.05 THEN 'failed'
                ELSE 'produced' END AS state,
           CASE WHEN k < 0.60 THEN 'inline_dict' WHEN k < 0.90 THEN 'binary_blob'
                ELSE 'multi_file' END AS content_kind,
           {_AGE} AS created_at,
           dur, r
    FROM (SELECT e.*, g, random() AS u, random() AS k, random() AS r, random() AS dur
          {_PER_ENGAGEMENT} OFFSET 0) AS e
) AS s
"""  # noqa: S608 (interpolates only this module's constant fragments)

# One file per produced binary_blob render, two or three per multi_file one, 16-64 bytes each.
_RENDER_FILES = """
INSERT INTO render_files (render_id, filename, media_type, content, byte_size, created_at)
SELECT render_id, filename, media_type, content, octet_length(content), created_at
FROM (
    SELECT r.id AS render_id,
           'sheet-' || r.display_number
               || CASE WHEN r.content_kind = 'multi_file' THEN '-' || f ELSE '' END
               || CASE WHEN r.content_kind = 'multi_file' THEN '.png' ELSE '.pdf' END
               AS filename,
           CASE WHEN r.content_kind = 'multi_file' THEN 'image/png'
                ELSE 'application/pdf' END AS media_type,
           substring(sha512(convert_to(r.id::text || f, 'UTF8'))
                     FROM 1 FOR 16 + abs(hashtext(r.id::text || f)) % 49) AS content,
           r.completed_at AS created_at
    FROM renders r
    JOIN bench_engagements e ON e.id = r.engagement_id
    CROSS JOIN LATERAL generate_series(
        1, CASE WHEN r.content_kind = 'multi_file' THEN 2 + r.display_number % 2 ELSE 1 END
    ) AS f
    WHERE r.state = 'produced' AND r.content_kind IN ('binary_blob', 'multi_file')
) AS s
"""

_STEPS: tuple[tuple[str, str], ...] = (
    (
        "shaping_jobs",
        _jobs_sql(
            "shaping_jobs", "shape_type", ("site_plan", "floor_plan", "elevation", "section")
        ),
    ),
    (
        "render_jobs",
        _jobs_sql("render_jobs", "render_type", ("drawing_set", "schedule", "report")),
    ),
    ("external_production_records", _EXTERNAL),
    ("shapes", _SHAPES),
    ("assertions", _ASSERTIONS),
    ("renders", _RENDERS),
)


async def load(
    engine: AsyncEngine,
    scale: Scale,
    *,
    from_base: bool = False,
    seed: float = 0.42,
    chunk: int = 100,
) -> Dataset:
    """Generate `scale` into the database behind `engine`, then VACUUM ANALYZE.

    Adds to whatever the database holds: every person and engagement it creates is new (the
    emails carry a random run id), so the caller sees exactly the benchmark's rows.

    With `from_base` (only for a database the benchmark owns, empty and unmigrated) the rows
    go into the first migration's schema, the data contract, and the database is then
    upgraded to head, the way an installation with history upgrades: later migrations build
    their indexes and derived state (e.g. trigger-kept counters) from the data in one pass,
    instead of a row trigger firing per generated row (five times slower). When the base
    schema has no triggers of its own, foreign-key checks are skipped too (replica role): the
    generated rows are consistent by construction. Otherwise the database must already be at
    head and every trigger fires.
    """
    run_id = secrets.token_hex(4)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    skip_triggers = False
    if from_base:
        await migrate_to(engine, base_revision())
        skip_triggers = not await has_user_triggers(engine)
        timings["migrate_to_base_s"] = time.perf_counter() - started
    async with engine.connect() as conn:
        try:
            if skip_triggers:
                await conn.execute(text("SET session_replication_role = replica"))
            await conn.execute(text("SET synchronous_commit = off"))
            await conn.execute(text("SET maintenance_work_mem = '256MB'"))
            await conn.execute(text("SET work_mem = '64MB'"))
            await conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
            await conn.execute(text(_CREATE_PLAN))
            await conn.execute(
                text(_ENGAGEMENTS),
                {
                    "n_caller": scale.caller_engagements,
                    "n_noise": scale.noise_engagements,
                    "caller_age_min": scale.caller_age[0],
                    "caller_age_span": scale.caller_age[1],
                    "noise_age_min": scale.noise_age[0],
                    "noise_age_span": scale.noise_age[1],
                },
            )
            people = (
                await conn.execute(
                    text(_PERSONS), {"run_id": run_id, "n_persons": scale.noise_persons}
                )
            ).all()
            caller_id = next(row.id for row in people if row.email.endswith("-caller@example.test"))
            others = [row.id for row in people if row.id != caller_id]
            caller_rows = (
                await conn.execute(text(_CALLER_MEMBERSHIPS), {"caller_id": caller_id})
            ).all()
            await conn.execute(
                text(_NOISE_MEMBERSHIPS).bindparams(
                    bindparam("person_ids", type_=ARRAY(UUID(as_uuid=True)))
                ),
                {"person_ids": others},
            )
            engagement_ids = list(
                (
                    await conn.execute(text("SELECT id FROM bench_engagements ORDER BY ord"))
                ).scalars()
            )
            timings["identity_s"] = time.perf_counter() - started
            await conn.commit()
            for table, sql in _STEPS:
                step = time.perf_counter()
                most = max(scale.caller_rows[table], scale.noise_rows[table])
                for first in range(1, most + 1, chunk):
                    await conn.execute(
                        text(sql),
                        {
                            "caller_rows": scale.caller_rows[table],
                            "phase_every": scale.phase_every,
                            "noise_rows": scale.noise_rows[table],
                            "first": first,
                            "last": first + chunk - 1,
                        },
                    )
                    await conn.commit()
                timings[f"{table}_s"] = time.perf_counter() - step
            step = time.perf_counter()
            await conn.execute(text(_RENDER_FILES))
            timings["render_files_s"] = time.perf_counter() - step
            await conn.execute(text("DROP TABLE bench_engagements"))
            await conn.commit()
        finally:
            # The session settings above (replica role, work_mem, ...) must not leak into
            # later users of the pool: this connection is closed, not returned.
            await conn.invalidate()
    timings["insert_s"] = time.perf_counter() - started
    if from_base:
        step = time.perf_counter()
        await upgrade_to_head(engine)
        timings["upgrade_to_head_s"] = time.perf_counter() - step
    # At head: the code that issues it reads today's schema, not the base one.
    async with engine.begin() as conn:
        token = await issue_session(conn, person_id=caller_id, lifetime=timedelta(hours=12))
    step = time.perf_counter()
    await vacuum_analyze(engine)
    timings["vacuum_analyze_s"] = time.perf_counter() - step
    timings["total_s"] = time.perf_counter() - started
    async with engine.connect() as conn:
        counts = await row_counts(conn)
    return Dataset(
        scale=scale,
        load_mode=(
            "base schema, then upgrade to head"
            + (" (no triggers, no FK checks)" if skip_triggers else "")
            if from_base
            else "at head, every trigger firing"
        ),
        run_id=run_id,
        caller_id=caller_id,
        token=token,
        memberships=[Membership(row.engagement_id, row.designation) for row in caller_rows],
        engagement_ids=engagement_ids,
        person_ids=[row.id for row in people],
        timings=timings,
        row_counts=counts,
    )


def base_revision() -> str:
    """The first migration: the data contract, before any derived state."""
    (base,) = ScriptDirectory.from_config(alembic_config()).get_bases()
    return str(base)


async def migrate_to(engine: AsyncEngine, revision: str) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
        await conn.commit()


async def has_user_triggers(engine: AsyncEngine) -> bool:
    """Whether any table of the current schema has a trigger besides foreign-key checks."""
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
                )
            )
        ).scalar_one()
    return bool(count)


async def vacuum_analyze(engine: AsyncEngine) -> None:
    """VACUUM (ANALYZE) the data tables: fresh statistics and a set visibility map, as
    autovacuum would leave them in production."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in DATA_TABLES:
            await conn.execute(text(f"VACUUM (ANALYZE) {table.name}"))


async def row_counts(conn: AsyncConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in reversed(DATA_TABLES):
        counts[table.name] = int(
            (await conn.execute(select(func.count()).select_from(table))).scalar_one()
        )
    return counts


async def remove(engine: AsyncEngine, dataset: Dataset) -> None:
    """Delete what `load` created (cascades through every engagement-scoped table)."""
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM engagements WHERE id = ANY(:ids)").bindparams(
                bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
            ),
            {"ids": dataset.engagement_ids},
        )
        await conn.execute(
            text("DELETE FROM persons WHERE id = ANY(:ids)").bindparams(
                bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
            ),
            {"ids": dataset.person_ids},
        )
