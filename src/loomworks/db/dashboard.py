"""The three dashboard zones, each one SQL statement: a UNION ALL of one arm per source.

Every arm is scoped by the caller's membership subquery and ordered and limited on its own
(so PostgreSQL merges a few rows per arm instead of sorting every match), choosing between a
newest-first fast path and a per-engagement slow path (see _arm_page); the page is cut in
one place, engagement names are joined after the cut, and total_count comes from the
trigger-kept dashboard_counts. docs/dashboard.md explains the shape and its measurements.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    DateTime,
    Integer,
    Row,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import (
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


def _sql(predicate: str) -> ColumnElement[bool]:
    """An arm's state predicate as literal SQL, not bound parameters: PostgreSQL can only match
    a partial index (WHERE state = 'produced') when it sees the constant, and prepared
    statements would otherwise fall back to generic plans that cannot use those indexes."""
    return text(predicate)  # type: ignore[return-value]


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
                (_sql("shaping_jobs.status IN ('queued', 'dispatched')"),),
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
                (_sql("render_jobs.status IN ('queued', 'dispatched')"),),
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
                (_sql("external_production_records.status = 'awaiting_external'"),),
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
                (_sql("shapes.state = 'pending_confirmation'"),),
                {"label_text": shapes.c.title, "label_extra": shapes.c.shape_type},
            ),
            Arm(
                assertions,
                "held_assertion",
                assertions.c.created_at,
                (_sql("assertions.state = 'held'"),),
                {"label_text": assertions.c.statement},
            ),
            Arm(
                renders,
                "produced_render_for_review",
                renders.c.created_at,
                (_sql("renders.state = 'produced' AND renders.reviewed_at IS NULL"),),
                {"label_text": renders.c.title, "display_number": renders.c.display_number},
            ),
        ]
    return [
        Arm(
            renders,
            "render",
            renders.c.completed_at,
            (_sql("renders.state = 'produced'"),),
            {
                "label_text": renders.c.title,
                "display_number": renders.c.display_number,
                "content_kind": renders.c.content_kind,
            },
        )
    ]


# Statement parameters: the statements are built once per shape and reused with these.
# The two limits are rendered into the SQL (one prepared statement per page size): knowing
# them, PostgreSQL's cached generic plan is as good as a fresh one, so it keeps it and skips
# ~1.2 ms of planning per request (measured: active 6.7 -> 5.4 ms in-process).
_PERSON = bindparam("person_id", type_=UUID(as_uuid=True))
_ENGAGEMENT = bindparam("engagement_id", type_=UUID(as_uuid=True))
_AFTER_KEY = bindparam("after_key", type_=DateTime(timezone=True))
_AFTER_ID = bindparam("after_id", type_=UUID(as_uuid=True))
_FETCH = bindparam("fetch", type_=Integer, literal_execute=True)
_WINDOW = bindparam("window", type_=Integer, literal_execute=True)
# How many of an arm's newest rows (across all engagements) the fast path looks through for
# the caller's; see _arm_page. Scanning them is an index-only walk of a few pages.
WINDOW_PER_ROW = 20
MIN_WINDOW = 1000


def _visible_engagements(zone: Zone, *, scoped: bool) -> Select[tuple[uuid.UUID]]:
    query = select(engagement_memberships.c.engagement_id).where(
        engagement_memberships.c.person_id == _PERSON
    )
    if scoped:
        query = query.where(engagement_memberships.c.engagement_id == _ENGAGEMENT)
    if zone == "needs_you":
        # Viewers are read-only: nothing in their engagements waits for their decision.
        query = query.where(engagement_memberships.c.designation.in_(DECIDING_DESIGNATIONS))
    return query


def _arm_page(
    zone: Zone, arm: Arm, visible: Select[tuple[uuid.UUID]], *, after: bool, scoped: bool
) -> Select[Any] | CompoundSelect[Any]:
    """One arm's newest `fetch` rows for the caller, exactly, by whichever path is cheap.

    Fast path: walk the arm's newest `window` rows of all engagements (a global partial
    index on (key DESC, id DESC) INCLUDE engagement_id) and keep the caller's. If that finds
    `fetch` of them, they are exactly the newest `fetch`: anything of the caller's outside
    the window is older than everything in it.

    Otherwise (the caller's rows are rare among the newest: few items, or a small portfolio
    inside a big installation) the slow path runs instead: the newest `fetch` of each
    visible engagement (a short walk down its (engagement_id, key DESC, id DESC) index),
    merged. PostgreSQL evaluates the choice once and skips the branch not taken.
    """
    table = arm.table
    payload = [
        (arm.payload[name] if name in arm.payload else cast(null(), sql_type)).label(name)
        for name, sql_type in _PAYLOAD[zone].items()
    ]
    columns = [
        table.c.engagement_id.label("engagement_id"),
        literal(arm.kind, Text).label("item_kind"),
        table.c.id.label("item_id"),
        arm.key.label("sort_key"),
        *payload,
    ]
    newest_first = (arm.key.desc(), table.c.id.desc())
    before = [tuple_(arm.key, table.c.id) < tuple_(_AFTER_KEY, _AFTER_ID)] if after else []

    memberships = visible.subquery(f"{arm.kind}_engagements")
    per_engagement = (
        select(*columns)
        .where(*arm.where, *before, table.c.engagement_id == memberships.c.engagement_id)
        .order_by(*newest_first)
        .limit(_FETCH)
        .lateral(f"{arm.kind}_rows")
    )
    slow = (
        select(per_engagement)
        .select_from(memberships.join(per_engagement, true()))
        .order_by(per_engagement.c.sort_key.desc(), per_engagement.c.item_id.desc())
        .limit(_FETCH)
    )
    if scoped:
        return slow

    window = (
        select(table.c.id, arm.key.label("key"), table.c.engagement_id)
        .where(*arm.where, *before)
        .order_by(*newest_first)
        .limit(_WINDOW)
        .subquery(f"{arm.kind}_window")
    )
    hits = (
        select(window.c.id)
        .where(window.c.engagement_id.in_(visible.scalar_subquery()))
        .order_by(window.c.key.desc(), window.c.id.desc())
        .limit(_FETCH)
        .cte(f"{arm.kind}_hits")
    )
    fast_is_exact = select(func.count()).select_from(hits).scalar_subquery() == _FETCH
    fast = select(*columns).join_from(table, hits, hits.c.id == table.c.id).where(fast_is_exact)
    slow_sq = slow.subquery(f"{arm.kind}_slow")
    return union_all(fast, select(slow_sq).where(~fast_is_exact))


@cache
def zone_statement(zone: Zone, *, after: bool, scoped: bool) -> Select[Any]:
    """The one statement behind a zone, built once per shape: the page (`fetch` = limit + 1
    rows, to see whether more follow) with engagement names, and total_count on every row
    (one row of NULLs when the page is empty). `after` adds the cursor condition, `scoped`
    narrows the zone to one engagement. Parameters: see zone_parameters()."""
    arms = _arms(zone)
    visible = _visible_engagements(zone, scoped=scoped)
    union = union_all(
        *(_arm_page(zone, arm, visible, after=after, scoped=scoped) for arm in arms)
    ).subquery("arms")
    page = (
        select(union)
        .order_by(union.c.sort_key.desc(), union.c.item_id.desc())
        .limit(_FETCH)
        .subquery("page")
    )
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
        select(totals.c.total_count, page, engagements.c.name.label("engagement_name"))
        .select_from(
            totals.outerjoin(page, true()).outerjoin(
                engagements, engagements.c.id == page.c.engagement_id
            )
        )
        .order_by(page.c.sort_key.desc(), page.c.item_id.desc())
    )


def zone_parameters(
    *,
    person_id: uuid.UUID,
    limit: int,
    after: Position | None,
    engagement_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    fetch = limit + 1
    parameters: dict[str, Any] = {
        "person_id": person_id,
        "fetch": fetch,
        "window": max(MIN_WINDOW, WINDOW_PER_ROW * fetch),
    }
    if after is not None:
        parameters |= {"after_key": after.key, "after_id": after.item_id}
    if engagement_id is not None:
        parameters["engagement_id"] = engagement_id
    return parameters


async def zone_page(
    conn: AsyncConnection,
    zone: Zone,
    *,
    person_id: uuid.UUID,
    limit: int,
    after: Position | None,
    engagement_id: uuid.UUID | None = None,
) -> Page:
    statement = zone_statement(zone, after=after is not None, scoped=engagement_id is not None)
    parameters = zone_parameters(
        person_id=person_id, limit=limit, after=after, engagement_id=engagement_id
    )
    result = await conn.execute(statement, parameters)
    rows: Sequence[Row[Any]] = result.all()
    total = int(rows[0].total_count) if rows else 0
    items = [row for row in rows if row.item_id is not None]
    return Page(rows=items[:limit], total_count=total, has_more=len(items) > limit)
