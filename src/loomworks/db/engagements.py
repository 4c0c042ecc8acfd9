"""Engagements and their members, and the per-engagement activity summary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import (
    ACTIVE_JOB_STATUSES,
    assertions,
    engagement_memberships,
    engagements,
    external_production_records,
    render_jobs,
    renders,
    shapes,
    shaping_jobs,
)


@dataclass(frozen=True)
class ActivitySummary:
    active_jobs: dict[str, int]
    decisions_waiting: dict[str, int]
    produced_renders: int


async def create_engagement(conn: AsyncConnection, *, name: str) -> uuid.UUID:
    engagement_id: uuid.UUID = (
        await conn.execute(insert(engagements).values(name=name).returning(engagements.c.id))
    ).scalar_one()
    return engagement_id


async def find_engagements(conn: AsyncConnection, name_or_id: str) -> list[uuid.UUID]:
    """Engagements whose id is `name_or_id`, else those with that exact name."""
    try:
        condition = engagements.c.id == uuid.UUID(name_or_id)
    except ValueError:
        condition = engagements.c.name == name_or_id
    rows = await conn.execute(select(engagements.c.id).where(condition).order_by(engagements.c.id))
    return [row.id for row in rows]


async def add_member(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    engagement_id: uuid.UUID,
    designation: str,
) -> bool:
    """Add a membership; False when the person is already a member of that engagement."""
    inserted = await conn.execute(
        pg_insert(engagement_memberships)
        .values(person_id=person_id, engagement_id=engagement_id, designation=designation)
        .on_conflict_do_nothing(constraint="uq_engagement_memberships_person_engagement")
        .returning(engagement_memberships.c.id)
    )
    return inserted.one_or_none() is not None


def _count(
    table: Table, engagement_id: uuid.UUID, *where: ColumnElement[bool]
) -> ColumnElement[int]:
    return (
        select(func.count())
        .select_from(table)
        .where(table.c.engagement_id == engagement_id, *where)
        .scalar_subquery()
    )


async def activity_summary(conn: AsyncConnection, *, engagement_id: uuid.UUID) -> ActivitySummary:
    """Counts of running jobs, waiting decisions and produced renders, in one statement."""
    counts = (
        await conn.execute(
            select(
                _count(shaping_jobs, engagement_id, shaping_jobs.c.status.in_(ACTIVE_JOB_STATUSES)),
                _count(render_jobs, engagement_id, render_jobs.c.status.in_(ACTIVE_JOB_STATUSES)),
                _count(
                    external_production_records,
                    engagement_id,
                    external_production_records.c.status == "awaiting_external",
                ),
                _count(shapes, engagement_id, shapes.c.state == "pending_confirmation"),
                _count(assertions, engagement_id, assertions.c.state == "held"),
                _count(
                    renders,
                    engagement_id,
                    renders.c.state == "produced",
                    renders.c.reviewed_at.is_(None),
                ),
                _count(renders, engagement_id, renders.c.state == "produced"),
            )
        )
    ).one()
    return ActivitySummary(
        active_jobs={
            "shape_production": counts[0],
            "render_production": counts[1],
            "external_polling": counts[2],
        },
        decisions_waiting={
            "pending_shape": counts[3],
            "held_assertion": counts[4],
            "produced_render_for_review": counts[5],
        },
        produced_renders=counts[6],
    )
