"""Jobs of every kind: one job's detail for a member, and the writes job code records progress with.

The writes merge a validated fragment (loomworks.progress patch helpers) into `context` or
`summary_counts` in one UPDATE, and only while the job is still running.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    Text,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import (
    ACTIVE_JOB_STATUSES,
    engagement_memberships,
    engagements,
    external_production_records,
    render_jobs,
    shaping_jobs,
)
from loomworks.progress import (
    PROGRESS_FIELDS,
    composite_patch,
    counts_patch,
    phase_patch,
)

JobKind = Literal["shape_production", "render_production", "external_polling"]
JOB_TABLES: dict[JobKind, Table] = {
    "shape_production": shaping_jobs,
    "render_production": render_jobs,
    "external_polling": external_production_records,
}
_RUNNING: dict[JobKind, tuple[str, ...]] = {
    "shape_production": ACTIVE_JOB_STATUSES,
    "render_production": ACTIVE_JOB_STATUSES,
    "external_polling": ("awaiting_external",),
}


_TYPE_COLUMNS = {
    "shape_production": shaping_jobs.c.shape_type,
    "render_production": render_jobs.c.render_type,
    "external_polling": external_production_records.c.provider,
}


def progress_fields(table: Table) -> dict[str, ColumnElement[Any]]:
    """What the progress contract reads of a job's stored JSON: the PROGRESS_FIELDS values,
    as columns named by their key, in progress_of's order (JSON null where the table has no
    such document). The rest of those documents (job code may keep anything there) is never
    sent or decoded; and four plain values cost less to build and decode than one object
    holding them (measured: 0.1 ms for a page of 50, docs/benchmarks.md)."""
    fields: dict[str, ColumnElement[Any]] = {}
    for document, key in PROGRESS_FIELDS:
        column = table.c.get(document)
        fields[key] = (
            column.op("->", return_type=JSONB)(literal_column(f"'{key}'", Text))
            if column is not None
            else cast(null(), JSONB)
        )
    return fields


class JobPatchRefused(Exception):
    """The job is not running (finished, or unknown), so its progress is no longer written."""


async def job_detail(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    engagement_id: uuid.UUID,
    job_id: uuid.UUID,
) -> Row[Any] | None:
    """The job with that id in that engagement, of any kind; None unless the caller is a member."""
    arms = []
    for kind, table in JOB_TABLES.items():
        is_external = kind == "external_polling"
        arms.append(
            select(
                literal(kind, Text).label("job_kind"),
                table.c.id,
                table.c.engagement_id,
                table.c.status,
                table.c.started_at,
                table.c.completed_at,
                _TYPE_COLUMNS[kind].label("label_text"),
                (table.c.description if is_external else cast(null(), Text)).label("label_extra"),
                *(value.label(key) for key, value in progress_fields(table).items()),
            ).where(table.c.id == job_id, table.c.engagement_id == engagement_id)
        )
    jobs = union_all(*arms).subquery("jobs")
    return (
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


async def _update_while(
    conn: AsyncConnection,
    kind: JobKind,
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
    conn: AsyncConnection, kind: JobKind, job_id: uuid.UUID, column: str, patch: dict[str, Any]
) -> None:
    target = JOB_TABLES[kind].c[column]
    # `||` on an array, string, number or JSON null would build an array and lose the patch;
    # the schema refuses those (migration 0008), and a write still never builds one.
    stored = case((func.jsonb_typeof(target) == "object", target), else_=cast({}, JSONB))
    merged = stored.op("||")(cast(patch, JSONB))
    await _update_while(conn, kind, job_id, _RUNNING[kind], {column: merged})


async def record_phase(conn: AsyncConnection, kind: JobKind, job_id: uuid.UUID, key: str) -> None:
    """Say which step of the phase vocabulary a job is in (ValueError for an unknown key)."""
    await _merge(conn, kind, job_id, "context", phase_patch(key))


async def record_counts(
    conn: AsyncConnection, kind: JobKind, job_id: uuid.UUID, *, processed: int, total: int
) -> None:
    """Record how many of a known total a job has processed."""
    await _merge(conn, kind, job_id, "summary_counts", counts_patch(processed, total))


async def record_composite(
    conn: AsyncConnection,
    kind: JobKind,
    job_id: uuid.UUID,
    *,
    children: int,
    failed: int = 0,
    partial: int = 0,
) -> None:
    """Record the state of a job made of child parts."""
    await _merge(conn, kind, job_id, "context", composite_patch(children, failed, partial))


async def dispatch_job(conn: AsyncConnection, kind: JobKind, job_id: uuid.UUID) -> None:
    """A queued job starts running."""
    await _update_while(conn, kind, job_id, ("queued",), {"status": "dispatched"})


async def finish_job(
    conn: AsyncConnection, kind: JobKind, job_id: uuid.UUID, *, status: str
) -> None:
    """Move a running job to a terminal status and stamp completed_at."""
    values = {"status": status, "completed_at": func.now()}
    await _update_while(conn, kind, job_id, _RUNNING[kind], values)
