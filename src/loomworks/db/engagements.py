"""Engagements and their members, and the per-engagement activity summary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import sources_in
from loomworks.core.states import Designation, Zone
from loomworks.db.tables import (
    dashboard_counts,
    engagement_memberships,
    engagements,
    metadata,
    persons,
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


def _membership(person_id: uuid.UUID, engagement_id: uuid.UUID) -> list[ColumnElement[bool]]:
    return [
        engagement_memberships.c.person_id == person_id,
        engagement_memberships.c.engagement_id == engagement_id,
    ]


async def remove_member(
    conn: AsyncConnection, *, person_id: uuid.UUID, engagement_id: uuid.UUID
) -> bool:
    """False when the person was not a member."""
    removed = await conn.execute(
        delete(engagement_memberships)
        .where(*_membership(person_id, engagement_id))
        .returning(engagement_memberships.c.id)
    )
    return removed.one_or_none() is not None


async def set_designation(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    engagement_id: uuid.UUID,
    designation: Designation,
) -> bool:
    """False when the person is not a member."""
    changed = await conn.execute(
        update(engagement_memberships)
        .where(*_membership(person_id, engagement_id))
        .values(designation=designation)
        .returning(engagement_memberships.c.id)
    )
    return changed.one_or_none() is not None


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


async def engagements_left_without_owner(
    conn: AsyncConnection, *, person_id: uuid.UUID, engagement_id: uuid.UUID | None = None
) -> list[str]:
    """Names of the engagements (all of the person's, or just this one) where the person is
    the only owner: removing them, or making them something else, would leave none."""
    mine = engagement_memberships.alias("mine")
    others = engagement_memberships.alias("others")
    other_owner = (
        select(others.c.id)
        .where(
            others.c.engagement_id == mine.c.engagement_id,
            others.c.person_id != person_id,
            others.c.designation == Designation.OWNER,
        )
        .exists()
    )
    query = (
        select(engagements.c.name)
        .join(mine, mine.c.engagement_id == engagements.c.id)
        .where(mine.c.person_id == person_id, mine.c.designation == Designation.OWNER, ~other_owner)
        .order_by(engagements.c.name)
    )
    if engagement_id is not None:
        query = query.where(engagements.c.id == engagement_id)
    return list((await conn.execute(query)).scalars())


async def rename_engagement(conn: AsyncConnection, *, engagement_id: uuid.UUID, name: str) -> bool:
    """False when another engagement already has that name (in any case)."""
    taken = await conn.execute(
        select(engagements.c.id).where(
            func.lower(engagements.c.name) == name.lower(), engagements.c.id != engagement_id
        )
    )
    if taken.first() is not None:
        return False
    await conn.execute(
        update(engagements).where(engagements.c.id == engagement_id).values(name=name)
    )
    return True


@dataclass(frozen=True)
class Contents:
    """What removing an engagement deletes with it."""

    members: int
    jobs: int
    items: int  # shapes, assertions and renders
    decisions: int


async def engagement_contents(conn: AsyncConnection, *, engagement_id: uuid.UUID) -> Contents:
    def counted(*names: str) -> ColumnElement[int]:
        return sum(
            (
                select(func.count())
                .where(metadata.tables[name].c.engagement_id == engagement_id)
                .scalar_subquery()
                for name in names
            ),
            start=literal_column("0"),
        )

    row = (
        await conn.execute(
            select(
                counted("engagement_memberships"),
                counted("shaping_jobs", "render_jobs", "external_production_records"),
                counted("shapes", "assertions", "renders"),
                counted("decisions"),
            )
        )
    ).one()
    return Contents(*row)


async def remove_engagement(conn: AsyncConnection, *, engagement_id: uuid.UUID) -> None:
    """Delete the engagement with everything in it (memberships, jobs, items, history)."""
    await conn.execute(delete(engagements).where(engagements.c.id == engagement_id))
