"""The three dashboard zones, each one SQL statement: a UNION ALL of one arm per source.

Every arm is scoped by the caller's membership subquery and ordered and limited on its own
(so PostgreSQL merges a few rows per arm instead of sorting every match), the page is cut in
one place, engagement names are joined after the cut, and total_count rides along.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    Text,
    and_,
    cast,
    func,
    literal,
    null,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import (
    ACTIVE_JOB_STATUSES,
    assertions,
    dashboard_counts,
    engagement_memberships,
    engagements,
    external_production_records,
    render_jobs,
    renders,
    shapes,
    shaping_jobs,
)

Zone = Literal["active", "needs_you", "recent"]
DECIDING_DESIGNATIONS = ("owner", "operator")


@dataclass(frozen=True)
class Position:
    """Where a page ends: the recency key at full precision and the id that breaks ties."""

    key: datetime
    item_id: uuid.UUID


@dataclass(frozen=True)
class Page:
    rows: list[Row[Any]]
    total_count: int
    has_more: bool


@dataclass(frozen=True)
class Arm:
    """One source of a zone: which rows, their kind, their recency key and their payload."""

    table: Table
    kind: str
    key: ColumnElement[datetime]
    where: tuple[ColumnElement[bool], ...]
    payload: dict[str, ColumnElement[Any]]


# Payload columns each zone's rows carry, padded with NULLs where an arm has nothing to say.
_PAYLOAD: dict[Zone, dict[str, Any]] = {
    "active": {
        "label_text": Text,
        "label_extra": Text,
        "status": Text,
        "context": JSONB,
        "summary_counts": JSONB,
    },
    "needs_you": {"label_text": Text, "label_extra": Text, "display_number": Integer},
    "recent": {"label_text": Text, "display_number": Integer, "content_kind": Text},
}


def _arms(zone: Zone) -> list[Arm]:
    if zone == "active":
        return [
            Arm(
                shaping_jobs,
                "shape_production",
                shaping_jobs.c.started_at,
                (shaping_jobs.c.status.in_(ACTIVE_JOB_STATUSES),),
                {
                    "label_text": shaping_jobs.c.shape_type,
                    "status": shaping_jobs.c.status,
                    "context": shaping_jobs.c.context,
                    "summary_counts": shaping_jobs.c.summary_counts,
                },
            ),
            Arm(
                render_jobs,
                "render_production",
                render_jobs.c.started_at,
                (render_jobs.c.status.in_(ACTIVE_JOB_STATUSES),),
                {
                    "label_text": render_jobs.c.render_type,
                    "status": render_jobs.c.status,
                    "context": render_jobs.c.context,
                    "summary_counts": render_jobs.c.summary_counts,
                },
            ),
            Arm(
                external_production_records,
                "external_polling",
                external_production_records.c.started_at,
                (external_production_records.c.status == "awaiting_external",),
                {
                    "label_text": external_production_records.c.provider,
                    "label_extra": external_production_records.c.description,
                    "status": external_production_records.c.status,
                    "context": external_production_records.c.context,
                },
            ),
        ]
    if zone == "needs_you":
        return [
            Arm(
                shapes,
                "pending_shape",
                shapes.c.created_at,
                (shapes.c.state == "pending_confirmation",),
                {"label_text": shapes.c.title, "label_extra": shapes.c.shape_type},
            ),
            Arm(
                assertions,
                "held_assertion",
                assertions.c.created_at,
                (assertions.c.state == "held",),
                {"label_text": assertions.c.statement},
            ),
            Arm(
                renders,
                "produced_render_for_review",
                renders.c.created_at,
                (renders.c.state == "produced", renders.c.reviewed_at.is_(None)),
                {"label_text": renders.c.title, "display_number": renders.c.display_number},
            ),
        ]
    return [
        Arm(
            renders,
            "render",
            renders.c.completed_at,
            (renders.c.state == "produced",),
            {
                "label_text": renders.c.title,
                "display_number": renders.c.display_number,
                "content_kind": renders.c.content_kind,
            },
        )
    ]


def _visible_engagements(
    zone: Zone, person_id: uuid.UUID, engagement_id: uuid.UUID | None
) -> Select[tuple[uuid.UUID]]:
    query = select(engagement_memberships.c.engagement_id).where(
        engagement_memberships.c.person_id == person_id
    )
    if engagement_id is not None:
        query = query.where(engagement_memberships.c.engagement_id == engagement_id)
    if zone == "needs_you":
        # Viewers are read-only: nothing in their engagements waits for their decision.
        query = query.where(engagement_memberships.c.designation.in_(DECIDING_DESIGNATIONS))
    return query


def _arm_page(
    zone: Zone, arm: Arm, visible: Select[tuple[uuid.UUID]], after: Position | None, limit: int
) -> Select[Any]:
    """One arm's newest `limit` rows: the newest `limit` of each visible engagement (a short
    walk down that engagement's partial index), merged. Reading at most `limit` rows per
    engagement keeps the cost independent of how much history each engagement holds."""
    memberships = visible.subquery(f"{arm.kind}_engagements")
    payload = [
        (arm.payload[name] if name in arm.payload else cast(null(), sql_type)).label(name)
        for name, sql_type in _PAYLOAD[zone].items()
    ]
    conditions = [*arm.where, arm.table.c.engagement_id == memberships.c.engagement_id]
    if after is not None:
        conditions.append(
            tuple_(arm.key, arm.table.c.id) < tuple_(literal(after.key), literal(after.item_id))
        )
    newest = (
        select(
            arm.table.c.engagement_id.label("engagement_id"),
            literal(arm.kind, Text).label("item_kind"),
            arm.table.c.id.label("item_id"),
            arm.key.label("sort_key"),
            *payload,
        )
        .where(and_(*conditions))
        .order_by(arm.key.desc(), arm.table.c.id.desc())
        .limit(limit)
        .lateral(f"{arm.kind}_rows")
    )
    return (
        select(newest)
        .select_from(memberships.join(newest, true()))
        .order_by(newest.c.sort_key.desc(), newest.c.item_id.desc())
        .limit(limit)
    )


def zone_statement(
    zone: Zone,
    *,
    person_id: uuid.UUID,
    limit: int,
    after: Position | None,
    engagement_id: uuid.UUID | None = None,
) -> Select[Any]:
    """The one statement behind a zone: the page (limit + 1 rows, to see if more follow)
    with engagement names, and total_count on every row (one row of NULLs when empty).
    `engagement_id` narrows the zone to one of the caller's engagements."""
    arms = _arms(zone)
    visible = _visible_engagements(zone, person_id, engagement_id)
    fetch = limit + 1
    union = union_all(*(_arm_page(zone, arm, visible, after, fetch) for arm in arms)).subquery(
        "arms"
    )
    page = select(union).order_by(union.c.sort_key.desc(), union.c.item_id.desc()).limit(fetch)
    page_sq = page.subquery("page")
    # Exact, and flat as history grows: one counter row per engagement and item kind.
    total = (
        select(func.coalesce(func.sum(dashboard_counts.c.n), 0))
        .where(
            dashboard_counts.c.engagement_id.in_(visible.scalar_subquery()),
            dashboard_counts.c.item_kind.in_([arm.kind for arm in arms]),
        )
        .scalar_subquery()
    )
    totals = select(total.label("total_count")).subquery("totals")
    return (
        select(totals.c.total_count, page_sq, engagements.c.name.label("engagement_name"))
        .select_from(
            totals.outerjoin(page_sq, true()).outerjoin(
                engagements, engagements.c.id == page_sq.c.engagement_id
            )
        )
        .order_by(page_sq.c.sort_key.desc(), page_sq.c.item_id.desc())
    )


async def zone_page(
    conn: AsyncConnection,
    zone: Zone,
    *,
    person_id: uuid.UUID,
    limit: int,
    after: Position | None,
    engagement_id: uuid.UUID | None = None,
) -> Page:
    statement = zone_statement(
        zone, person_id=person_id, limit=limit, after=after, engagement_id=engagement_id
    )
    result = await conn.execute(statement)
    rows: Sequence[Row[Any]] = result.all()
    total = int(rows[0].total_count) if rows else 0
    items = [row for row in rows if row.item_id is not None]
    return Page(rows=items[:limit], total_count=total, has_more=len(items) > limit)
