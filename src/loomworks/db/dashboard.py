"""The three dashboard zones, each one SQL statement: a UNION ALL of one arm per source.

Every arm is scoped by the caller's membership subquery and ordered and limited on its own
(so PostgreSQL merges a few rows per arm instead of sorting every match), choosing between a
newest-first fast path and a per-engagement slow path (see _arm_page); the page is cut in
one place, engagement names are joined after the cut, and total_count comes from the
trigger-kept dashboard_counts. docs/dashboard.md explains the shape and its measurements.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    CompoundSelect,
    DateTime,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.jobs import progress_fields
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
from loomworks.progress import PROGRESS_FIELDS

Zone = Literal["active", "needs_you", "recent"]
DECIDING_DESIGNATIONS = ("owner", "operator")


@dataclass(frozen=True, order=True)
class Position:
    """Where a page ends: the recency key at full precision and the id that breaks ties."""

    key: datetime
    item_id: uuid.UUID


@dataclass(frozen=True)
class Page:
    """A zone's page: its rows as tuples in item_columns(zone) order, the zone's total, and
    where the next page starts (None on the last page)."""

    rows: list[tuple[Any, ...]]
    total_count: int
    next_after: Position | None


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
        **{key: JSONB for _, key in PROGRESS_FIELDS},  # db/jobs.progress_fields
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
                    **progress_fields(shaping_jobs),
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
                    **progress_fields(render_jobs),
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
                    **progress_fields(external_production_records),
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
_PERSON = bindparam("person_id", type_=UUID(as_uuid=True))
_ENGAGEMENT = bindparam("engagement_id", type_=UUID(as_uuid=True))
_AFTER_KEY = bindparam("after_key", type_=DateTime(timezone=True))
_AFTER_ID = bindparam("after_id", type_=UUID(as_uuid=True))
_PARAMETERS = {param.key for param in (_PERSON, _ENGAGEMENT, _AFTER_KEY, _AFTER_ID)}
# How many of an arm's newest rows (across all engagements) the fast path looks through for
# the caller's; see _candidates. Scanning them is an index-only walk of a few pages.
WINDOW_PER_ROW = 20
MIN_WINDOW = 1000


@dataclass(frozen=True)
class _Sizes:
    """A page size's numbers, written into the SQL as constants (one statement per page
    size): knowing them, PostgreSQL's cached generic plan is as good as a fresh one, so it
    keeps it and skips ~1.2 ms of planning per request (measured: active 6.7 -> 5.4 ms
    in-process); and, unlike parameters rendered at execution (`literal_execute`), they cost
    nothing per request: SQLAlchemy re-rendered the whole statement text for those."""

    fetch: ColumnElement[int]  # limit + 1 rows, to see whether more follow
    window: ColumnElement[int]

    @classmethod
    def of(cls, limit: int) -> _Sizes:
        fetch = limit + 1
        window = max(MIN_WINDOW, WINDOW_PER_ROW * fetch)
        return cls(literal_column(str(fetch), Integer), literal_column(str(window), Integer))


def _visible_engagements(zone: Zone, *, scoped: bool) -> Select[tuple[uuid.UUID]]:
    query = select(engagement_memberships.c.engagement_id).where(
        engagement_memberships.c.person_id == _PERSON
    )
    if scoped:
        query = query.where(engagement_memberships.c.engagement_id == _ENGAGEMENT)
    if zone == "needs_you":
        # Viewers are read-only: nothing in their engagements waits for their decision.
        query = query.where(
            engagement_memberships.c.designation.in_(
                [literal_column(f"'{designation}'", Text) for designation in DECIDING_DESIGNATIONS]
            )
        )
    return query


def _is_visible(
    engagement_id: ColumnElement[uuid.UUID], visible: Select[tuple[uuid.UUID]]
) -> ColumnElement[bool]:
    """`(engagement_id IN (visible)) IS TRUE`: the same test as a plain IN (engagement ids are
    never NULL), written so PostgreSQL cannot turn it into a join. A join either probes the
    membership index once per distinct engagement met (memoized nested loop) or hashes the
    whole window before keeping any row; the wrapped IN is a hashed SubPlan instead: the
    caller's engagements are hashed once, every window row costs one hash lookup, and the
    walk still stops at the `fetch`-th hit. Measured on the active zone's statement
    (docs/benchmarks.md, step 14): -0.14 ms at S, -0.9 ms at L, +0.2 ms on skewed (where the
    whole window is read either way). `= ANY (ARRAY(...))`, also tried, compares each row
    with every engagement in turn, so its cost grows with the portfolio (+0.7 ms on skewed)."""
    return engagement_id.in_(visible.scalar_subquery()).is_(true())


def _kind(arm: Arm) -> ColumnElement[str]:
    # A constant in the SQL (kinds are our own identifiers), so the payload arms' filters on it
    # are plain comparisons with a literal.
    return literal_column(f"'{arm.kind}'::text", Text)


def _candidates(
    arm: Arm, visible: Select[tuple[uuid.UUID]], sizes: _Sizes, *, after: bool, scoped: bool
) -> Select[Any] | CompoundSelect[Any]:
    """(item_kind, item_id, sort_key) of the arm's newest `fetch` rows for the caller, exactly,
    by whichever path is cheap, read from indexes alone.

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
    newest_first = (arm.key.desc(), table.c.id.desc())
    before = [tuple_(arm.key, table.c.id) < tuple_(_AFTER_KEY, _AFTER_ID)] if after else []

    memberships = visible.subquery(f"{arm.kind}_engagements")
    per_engagement = (
        select(table.c.id.label("item_id"), arm.key.label("sort_key"))
        .where(*arm.where, *before, table.c.engagement_id == memberships.c.engagement_id)
        .order_by(*newest_first)
        .limit(sizes.fetch)
        .lateral(f"{arm.kind}_rows")
    )
    slow = (
        select(_kind(arm).label("item_kind"), per_engagement.c.item_id, per_engagement.c.sort_key)
        .select_from(memberships.join(per_engagement, true()))
        .order_by(per_engagement.c.sort_key.desc(), per_engagement.c.item_id.desc())
        .limit(sizes.fetch)
    )
    if scoped:
        return slow

    window = (
        select(table.c.id, arm.key.label("key"), table.c.engagement_id)
        .where(*arm.where, *before)
        .order_by(*newest_first)
        .limit(sizes.window)
        .subquery(f"{arm.kind}_window")
    )
    hits = (
        select(window.c.id.label("item_id"), window.c.key.label("sort_key"))
        .where(_is_visible(window.c.engagement_id, visible))
        .order_by(window.c.key.desc(), window.c.id.desc())
        .limit(sizes.fetch)
        .cte(f"{arm.kind}_hits")
    )
    fast_is_exact = select(func.count()).select_from(hits).scalar_subquery() == sizes.fetch
    fast = select(_kind(arm).label("item_kind"), hits.c.item_id, hits.c.sort_key).where(
        fast_is_exact
    )
    slow_sq = slow.subquery(f"{arm.kind}_slow")
    return union_all(fast, select(slow_sq).where(~fast_is_exact))


def _payload(zone: Zone, arm: Arm, page: CTE) -> Select[Any]:
    """The page's rows of this arm with what the items show: read only for the `fetch` rows
    that made the page, not for every candidate."""
    table = arm.table
    payload = [
        (arm.payload[name] if name in arm.payload else cast(null(), sql_type)).label(name)
        for name, sql_type in _PAYLOAD[zone].items()
    ]
    return (
        select(table.c.engagement_id, page.c.item_kind, page.c.item_id, page.c.sort_key, *payload)
        .join_from(page, table, table.c.id == page.c.item_id)
        .where(page.c.item_kind == _kind(arm))
    )


# What each row of a zone's page holds, in order (see zone_page).
ITEM_COLUMNS = ("engagement_id", "engagement_name", "item_kind", "item_id", "sort_key")
_ITEM_ID = ITEM_COLUMNS.index("item_id")
_SORT_KEY = ITEM_COLUMNS.index("sort_key")


def item_columns(zone: Zone) -> tuple[str, ...]:
    return (*ITEM_COLUMNS, *_PAYLOAD[zone])


def position_of(row: tuple[Any, ...]) -> Position:
    """Where a page row sits in its zone's order."""
    return Position(row[_SORT_KEY], row[_ITEM_ID])


@lru_cache(maxsize=1024)  # 3 zones x 2 x 2 x 100 page sizes at most
def zone_statement(zone: Zone, *, after: bool, scoped: bool, limit: int) -> Select[Any]:
    """The one statement behind a zone, built once per shape: total_count, then the page
    (`limit` + 1 rows, to see whether more follow) in item_columns(zone) order; one row of
    NULLs after total_count when the page is empty. `after` adds the cursor condition,
    `scoped` narrows the zone to one engagement. Parameters: zone_parameters().

    The page is cut from index-only candidates (kind, id, key) of every arm; only its rows
    are then read from their tables and joined to their engagement's name."""
    arms = _arms(zone)
    visible = _visible_engagements(zone, scoped=scoped)
    sizes = _Sizes.of(limit)
    candidates = union_all(
        *(_candidates(arm, visible, sizes, after=after, scoped=scoped) for arm in arms)
    ).subquery("candidates")
    page = (
        select(candidates)
        .order_by(candidates.c.sort_key.desc(), candidates.c.item_id.desc())
        .limit(sizes.fetch)
        .cte("page")
    )
    rows = union_all(*(_payload(zone, arm, page) for arm in arms)).subquery("rows")
    # Exact, and flat as history grows: one counter row per engagement and item kind.
    total = (
        # bigint, not sum()'s numeric: the driver decodes that as a Decimal, for nothing.
        select(cast(func.coalesce(func.sum(dashboard_counts.c.n), literal_column("0")), BigInteger))
        .where(
            dashboard_counts.c.engagement_id.in_(visible.scalar_subquery()),
            dashboard_counts.c.item_kind.in_([_kind(arm) for arm in arms]),
        )
        .scalar_subquery()
    )
    totals = select(total.label("total_count")).subquery("totals")
    columns = {**rows.c, "engagement_name": engagements.c.name.label("engagement_name")}
    return (
        select(totals.c.total_count, *(columns[name] for name in item_columns(zone)))
        .select_from(
            totals.outerjoin(rows, true()).outerjoin(
                engagements, engagements.c.id == rows.c.engagement_id
            )
        )
        .order_by(rows.c.sort_key.desc(), rows.c.item_id.desc())
    )


@lru_cache(maxsize=1024)
def _compiled(
    zone: Zone, *, after: bool, scoped: bool, limit: int, dialect: Dialect
) -> tuple[str, tuple[str, ...]]:
    """zone_statement compiled once for the connection's dialect: its SQL text and the names
    of its positional parameters (all of them zone_parameters(); every constant is written
    into the SQL). Executing the text skips SQLAlchemy's per-request lookup of the compiled
    form, which hashes the statement's whole structure (a big tree: ~0.2 ms a request,
    measured with py-spy)."""
    compiled = zone_statement(zone, after=after, scoped=scoped, limit=limit).compile(
        dialect=dialect
    )
    names = tuple(compiled.positiontup or ())
    if unknown := set(names) - _PARAMETERS:
        raise AssertionError(f"zone statement binds {sorted(unknown)}; write constants as SQL")
    return str(compiled), names


def zone_parameters(
    *,
    person_id: uuid.UUID,
    after: Position | None,
    engagement_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"person_id": person_id}
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
    sql, names = _compiled(
        zone, after=after is not None, scoped=engagement_id is not None, limit=limit,
        dialect=conn.dialect,
    )  # fmt: skip
    parameters = zone_parameters(person_id=person_id, after=after, engagement_id=engagement_id)
    result = await conn.exec_driver_sql(sql, tuple(parameters[name] for name in names))
    rows = result.all()
    total = int(rows[0][0]) if rows else 0
    items = [row[1:] for row in rows if row[1 + _ITEM_ID] is not None]
    has_more = len(items) > limit
    items = items[:limit]
    return Page(
        rows=items, total_count=total, next_after=position_of(items[-1]) if has_more else None
    )
