"""Jobs of every kind: one job's detail for a member, and the writes job code records progress with.

The writes merge a validated fragment (loomworks.core.progress patch helpers) into `context` or
`summary_counts` in one UPDATE, and only while the job is still running.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Select,
    Table,
    Text,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import Source, sources_in
from loomworks.core.progress import PROGRESS_FIELDS, composite_patch, counts_patch, phase_patch
from loomworks.core.rows import JobRow
from loomworks.core.states import JobStatus, Zone
from loomworks.db.tables import engagement_memberships, engagements, metadata

# Every active source is a kind of job: its table, and the statuses it runs in.
JOB_SOURCES: dict[str, Source] = {source.kind: source for source in sources_in(Zone.ACTIVE)}
JOB_TABLES: dict[str, Table] = {
    kind: metadata.tables[source.table] for kind, source in JOB_SOURCES.items()
}


# How progress_fields reads each PROGRESS_FIELDS value: the phase as its key (text), the
# counts as integers, so no row's JSON is decoded for them; only a composite stays JSON
# (and is read only where a job records one).
PROGRESS_TYPES: dict[str, Any] = {
    "phase": Text,
    "composite": JSONB,
    "processed": BigInteger,
    "total": BigInteger,
}
# A count as the progress contract takes it: a JSON integer (no fraction, no exponent in
# PostgreSQL's output), at most 18 digits so it fits a bigint (progress_of bounds it further).
_INTEGER_TEXT = "^[0-9]{1,18}$"


def _sql_text(value: str) -> ColumnElement[str]:
    # Our own constants, written into the SQL: the zone statements bind only request values.
    return literal_column(f"'{value}'", Text)


def _phase_key(value: ColumnElement[Any]) -> ColumnElement[str | None]:
    """As core.progress.phase_key reads the stored phase: NULL when absent or JSON null, its
    key when that is a string, '' for anything else (a phase, but a malformed one)."""
    key = value.op("->", return_type=JSONB)(_sql_text("key"))
    return case(
        (func.coalesce(func.jsonb_typeof(value), _sql_text("null")) == _sql_text("null"), null()),
        (
            func.jsonb_typeof(key) == _sql_text("string"),
            value.op("->>", return_type=Text)(_sql_text("key")),
        ),
        else_=_sql_text(""),
    )


def _integer(value: ColumnElement[Any]) -> ColumnElement[int | None]:
    text = cast(value, Text)
    is_integer = (func.jsonb_typeof(value) == _sql_text("number")) & text.op(
        "~", return_type=Boolean
    )(_sql_text(_INTEGER_TEXT))
    return case((is_integer, cast(text, BigInteger)), else_=null())


_READ_AS: dict[str, Callable[[ColumnElement[Any]], ColumnElement[Any]]] = {
    "phase": _phase_key,
    "processed": _integer,
    "total": _integer,
}


def progress_fields(table: Table) -> dict[str, ColumnElement[Any]]:
    """What the progress contract reads of a job's stored JSON: the PROGRESS_FIELDS values,
    as columns named by their key, in progress_of's order, typed as PROGRESS_TYPES says (NULL
    where the table has no such document). The rest of those documents (job code may keep
    anything there) is never sent or decoded; four plain values cost less than one object,
    and text and integers less than JSON (docs/benchmarks.md, steps 14 and 15)."""
    fields: dict[str, ColumnElement[Any]] = {}
    for document, key in PROGRESS_FIELDS:
        column = table.c.get(document)
        if column is None:
            fields[key] = cast(null(), PROGRESS_TYPES[key])
            continue
        value = column.op("->", return_type=JSONB)(_sql_text(key))
        fields[key] = _READ_AS[key](value) if key in _READ_AS else value
    return fields


def payload_columns(
    source: Source, table: Table, types: Mapping[str, Any]
) -> list[ColumnElement[Any]]:
    """The columns `types` names, labelled, as the source's payload maps them onto `table`
    (a NULL of the given SQL type where the source has no such column)."""
    return [
        (table.c[source.payload[name]] if name in source.payload else cast(null(), sql_type)).label(
            name
        )
        for name, sql_type in types.items()
    ]


class JobPatchRefused(Exception):
    """The job is not running (finished, or unknown), so its progress is no longer written."""


def _job_select(kind: str) -> Select[Any]:
    """A job table's rows as JobRow's columns, up to (not including) engagement_name."""
    source, table = JOB_SOURCES[kind], JOB_TABLES[kind]
    return select(
        literal(kind, Text).label("job_kind"),
        table.c.id,
        table.c.engagement_id,
        table.c.status,
        table.c.started_at,
        table.c.completed_at,
        *payload_columns(source, table, {"label_text": Text, "label_extra": Text}),
        *(value.label(key) for key, value in progress_fields(table).items()),
        table.c.progress_updated_at,
    )


async def job_detail(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    engagement_id: uuid.UUID,
    job_id: uuid.UUID,
) -> JobRow | None:
    """The job with that id in that engagement, of any kind; None unless the caller is a member."""
    arms = [
        _job_select(kind).where(table.c.id == job_id, table.c.engagement_id == engagement_id)
        for kind, table in JOB_TABLES.items()
    ]
    jobs = union_all(*arms).subquery("jobs")
    row = (
        await conn.execute(
            select(jobs, engagements.c.name.label("engagement_name"))
            .join(engagements, engagements.c.id == jobs.c.engagement_id)
            .join(
                engagement_memberships,
                (engagement_memberships.c.engagement_id == jobs.c.engagement_id)
                & (engagement_memberships.c.person_id == person_id),
            )
        )
    ).one_or_none()
    return JobRow(**row._mapping) if row is not None else None


async def _update_while(
    conn: AsyncConnection,
    kind: str,
    job_id: uuid.UUID,
    statuses: tuple[str, ...],
    values: dict[str, Any],
) -> None:
    """Update the job only while its status is one of `statuses`; JobPatchRefused otherwise."""
    table = JOB_TABLES[kind]
    result = await conn.execute(
        update(table)
        .where(table.c.id == job_id, table.c.status.in_(statuses))
        .values(values)
        .returning(table.c.id)
    )
    if result.one_or_none() is None:
        raise JobPatchRefused(f"job {job_id} is not {' or '.join(statuses)}")


async def _merge(
    conn: AsyncConnection, kind: str, job_id: uuid.UUID, column: str, patch: dict[str, Any]
) -> None:
    values = {column: _merged(JOB_TABLES[kind].c[column], patch), "progress_updated_at": func.now()}
    await _update_while(conn, kind, job_id, JOB_SOURCES[kind].states, values)


def _merged(target: ColumnElement[Any], patch: dict[str, Any]) -> ColumnElement[Any]:
    """The stored JSON object with `patch`'s keys set. `||` on an array, string, number or
    JSON null would build an array and lose the patch; the schema refuses those (migration
    0008), and a write still never builds one."""
    stored = case((func.jsonb_typeof(target) == "object", target), else_=cast({}, JSONB))
    return stored.op("||")(cast(patch, JSONB))


async def record_phase(conn: AsyncConnection, kind: str, job_id: uuid.UUID, key: str) -> None:
    """Say which step of the phase vocabulary a job is in (ValueError for an unknown key)."""
    await _merge(conn, kind, job_id, "context", phase_patch(key))


async def record_counts(
    conn: AsyncConnection, kind: str, job_id: uuid.UUID, *, processed: int, total: int
) -> None:
    """Record how many of a known total a job has processed."""
    await _merge(conn, kind, job_id, "summary_counts", counts_patch(processed, total))


async def record_composite(
    conn: AsyncConnection,
    kind: str,
    job_id: uuid.UUID,
    *,
    children: int,
    failed: int = 0,
    partial: int = 0,
) -> None:
    """Record the state of a job made of child parts."""
    await _merge(conn, kind, job_id, "context", composite_patch(children, failed, partial))


async def dispatch_job(conn: AsyncConnection, kind: str, job_id: uuid.UUID) -> None:
    """A queued job starts running."""
    values = {"status": JobStatus.DISPATCHED, "progress_updated_at": func.now()}
    await _update_while(conn, kind, job_id, (JobStatus.QUEUED,), values)


async def finish_job(
    conn: AsyncConnection, kind: str, job_id: uuid.UUID, *, status: str, error: str | None = None
) -> None:
    """Move a running job to a terminal status and stamp completed_at; `error` says why it
    failed (kept as the context's "error", which a failure's detail shows)."""
    values: dict[str, Any] = {"status": status, "completed_at": func.now()}
    if error is not None:
        values["context"] = _merged(JOB_TABLES[kind].c.context, {"error": error})
    await _update_while(conn, kind, job_id, JOB_SOURCES[kind].states, values)


async def running_jobs(conn: AsyncConnection, *, kinds: Sequence[str]) -> list[JobRow]:
    """Every running job of those kinds across all engagements, oldest first: what job code
    (the demo simulator) moves forward. Not scoped to a person: never serve it to one."""
    arms = [
        _job_select(kind).where(JOB_TABLES[kind].c.status.in_(JOB_SOURCES[kind].states))
        for kind in kinds
    ]
    jobs = union_all(*arms).subquery("jobs")
    rows = await conn.execute(
        select(jobs, engagements.c.name.label("engagement_name"))
        .join(engagements, engagements.c.id == jobs.c.engagement_id)
        .order_by(jobs.c.started_at, jobs.c.id)
    )
    return [JobRow(**row._mapping) for row in rows]


async def start_job(
    conn: AsyncConnection,
    kind: str,
    *,
    engagement_id: uuid.UUID,
    label_text: str,
    label_extra: str | None = None,
) -> uuid.UUID:
    """A new job in the first of its running statuses (a job queued, a production awaited),
    its label columns named by its source's payload (shape_type, render_type, provider...)."""
    source, table = JOB_SOURCES[kind], JOB_TABLES[kind]
    labels = {"label_text": label_text, "label_extra": label_extra}
    values = {source.payload[name]: value for name, value in labels.items() if value is not None}
    job_id: uuid.UUID = (
        await conn.execute(
            insert(table)
            .values(engagement_id=engagement_id, status=source.states[0], **values)
            .returning(table.c.id)
        )
    ).scalar_one()
    return job_id
