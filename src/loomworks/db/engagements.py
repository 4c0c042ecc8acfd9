"""Engagements and their members, and the per-engagement activity summary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import dashboard_counts, engagement_memberships, engagements
from loomworks.kinds import sources_in
from loomworks.states import Designation, Zone


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
    designation: Designation,
) -> bool:
    """Add a membership; False when the person is already a member of that engagement."""
    inserted = await conn.execute(
        pg_insert(engagement_memberships)
        .values(person_id=person_id, engagement_id=engagement_id, designation=designation)
        .on_conflict_do_nothing(constraint="uq_engagement_memberships_person_engagement")
        .returning(engagement_memberships.c.id)
    )
    return inserted.one_or_none() is not None


async def activity_summary(conn: AsyncConnection, *, engagement_id: uuid.UUID) -> ActivitySummary:
    """Per-kind counts of every dashboard source in one engagement, from its counters."""
    rows = await conn.execute(
        select(dashboard_counts.c.item_kind, dashboard_counts.c.n).where(
            dashboard_counts.c.engagement_id == engagement_id
        )
    )
    counts: dict[str, int] = {row.item_kind: row.n for row in rows}

    def zone(zone: Zone) -> dict[str, int]:
        return {source.kind: counts.get(source.kind, 0) for source in sources_in(zone)}

    return ActivitySummary(
        active_jobs=zone(Zone.ACTIVE),
        decisions_waiting=zone(Zone.NEEDS_YOU),
        produced_renders=sum(zone(Zone.RECENT).values()),
    )
