"""Engagements and their members, and the per-engagement activity summary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import (
    ACTIVE_JOB_STATUSES,
    assertions,
    engagement_memberships,
    engagements,
    external_production_records,
    persons,
    render_jobs,
    renders,
    shapes,
    shaping_jobs,
)

# Advisory lock key (any constant no other code uses) serialising engagement creation.
_ENGAGEMENT_NAMES_LOCK = 0x4C57_0003


@dataclass(frozen=True)
class ActivitySummary:
    active_jobs: dict[str, int]
    decisions_waiting: dict[str, int]
    produced_renders: int


@dataclass(frozen=True)
class EngagementListing:
    id: uuid.UUID
    name: str
    members: int


@dataclass(frozen=True)
class Member:
    email: str
    display_name: str
    designation: str


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


async def create_engagement_once(conn: AsyncConnection, *, name: str) -> uuid.UUID | None:
    """Create an engagement unless one has this name already (ignoring case); None then.
    A transaction-scoped advisory lock makes check-and-insert atomic across processes."""
    await conn.execute(select(func.pg_advisory_xact_lock(_ENGAGEMENT_NAMES_LOCK)))
    taken = await conn.execute(
        select(engagements.c.id).where(func.lower(engagements.c.name) == name.lower()).limit(1)
    )
    if taken.one_or_none() is not None:
        return None
    return await create_engagement(conn, name=name)


async def all_engagements(conn: AsyncConnection) -> list[EngagementListing]:
    members = (
        select(func.count())
        .select_from(engagement_memberships)
        .where(engagement_memberships.c.engagement_id == engagements.c.id)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(engagements.c.id, engagements.c.name, members).order_by(
            engagements.c.name, engagements.c.id
        )
    )
    return [EngagementListing(*row) for row in rows]


async def members_of(conn: AsyncConnection, *, engagement_id: uuid.UUID) -> list[Member]:
    rows = await conn.execute(
        select(persons.c.email, persons.c.display_name, engagement_memberships.c.designation)
        .join(persons, persons.c.id == engagement_memberships.c.person_id)
        .where(engagement_memberships.c.engagement_id == engagement_id)
        .order_by(persons.c.email)
    )
    return [Member(*row) for row in rows]


async def remove_member(
    conn: AsyncConnection, *, person_id: uuid.UUID, engagement_id: uuid.UUID
) -> bool:
    """False when the person was not a member."""
    removed = await conn.execute(
        delete(engagement_memberships)
        .where(
            engagement_memberships.c.person_id == person_id,
            engagement_memberships.c.engagement_id == engagement_id,
        )
        .returning(engagement_memberships.c.id)
    )
    return removed.one_or_none() is not None


async def set_designation(
    conn: AsyncConnection, *, person_id: uuid.UUID, engagement_id: uuid.UUID, designation: str
) -> bool:
    """False when the person is not a member."""
    changed = await conn.execute(
        update(engagement_memberships)
        .where(
            engagement_memberships.c.person_id == person_id,
            engagement_memberships.c.engagement_id == engagement_id,
        )
        .values(designation=designation)
        .returning(engagement_memberships.c.id)
    )
    return changed.one_or_none() is not None


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
