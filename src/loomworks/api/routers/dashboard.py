"""The operator dashboard: one call per zone across all of the caller's engagements, and the
same zones narrowed to one engagement."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Generic

from fastapi import APIRouter, Query

from loomworks import dashboard
from loomworks.api.cursor import decode_cursor, encode_cursor
from loomworks.api.deps import Conn, CurrentPerson, CursorKey, Member
from loomworks.api.responses import JSONBody
from loomworks.api.schemas.dashboard import (
    DashboardActiveResponse,
    DashboardNeedsYouResponse,
    DashboardRecentResponse,
)
from loomworks.db.dashboard import ActiveRow, NeedsYouRow, RecentRow, RowT, zone_page
from loomworks.states import Zone

router = APIRouter(prefix="/me/dashboard", tags=["dashboard"])
# The same zones for one engagement: what a per-engagement screen (and the benchmark's
# "one call per engagement" baseline) uses.
engagement_router = APIRouter(prefix="/engagements/{engagement_id}/dashboard", tags=["dashboard"])

Limit = Annotated[int, Query(ge=1, le=100, description="page size, 1-100")]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page of this zone")]


class ZoneView(Generic[RowT]):
    """A zone as the API serves it: its rows and how each becomes an item."""

    def __init__(self, zone: Zone, row: type[RowT], item: Callable[[RowT], dashboard.Item]) -> None:
        self.zone: Zone = zone
        self.row: type[RowT] = row
        self.item: Callable[[RowT], dashboard.Item] = item

    async def page(
        self,
        conn: Conn,
        me: CurrentPerson,
        key: bytes,
        limit: int,
        cursor: str | None,
        engagement_id: uuid.UUID | None = None,
    ) -> JSONBody:
        """Decode the cursor, run the zone's one statement, shape the page."""
        after = decode_cursor(key, self.zone, cursor) if cursor is not None else None
        page = await zone_page(
            conn,
            self.row,
            person_id=me.id,
            limit=limit,
            after=after,
            engagement_id=engagement_id,
        )
        next_cursor = (
            encode_cursor(key, self.zone, page.next_after) if page.next_after is not None else None
        )
        return JSONBody(
            {
                "items": [self.item(row) for row in page.rows],
                "total_count": page.total_count,
                "next_cursor": next_cursor,
            }
        )


ACTIVE = ZoneView(Zone.ACTIVE, ActiveRow, dashboard.active_item)
NEEDS_YOU = ZoneView(Zone.NEEDS_YOU, NeedsYouRow, dashboard.needs_you_item)
RECENT = ZoneView(Zone.RECENT, RecentRow, dashboard.recent_item)


@router.get("/active", response_model=DashboardActiveResponse)
async def dashboard_active(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> JSONBody:
    """Jobs running now in all my engagements, newest first, each with a truthful progress hint."""
    return await ACTIVE.page(conn, me, key, limit, cursor)


@router.get("/needs_you", response_model=DashboardNeedsYouResponse)
async def dashboard_needs_you(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> JSONBody:
    """What waits for my decision, newest first; never from engagements where I am a viewer."""
    return await NEEDS_YOU.page(conn, me, key, limit, cursor)


@router.get("/recent", response_model=DashboardRecentResponse)
async def dashboard_recent(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> JSONBody:
    """Produced renders in all my engagements, newest first, with download links."""
    return await RECENT.page(conn, me, key, limit, cursor)


@engagement_router.get("/active", response_model=DashboardActiveResponse)
async def engagement_active(
    membership: Member,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONBody:
    """Jobs running now in one of my engagements (404 unless I am a member)."""
    return await ACTIVE.page(conn, me, key, limit, cursor, membership.engagement_id)


@engagement_router.get("/needs_you", response_model=DashboardNeedsYouResponse)
async def engagement_needs_you(
    membership: Member,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONBody:
    """What waits for my decision in one of my engagements (empty where I am a viewer)."""
    return await NEEDS_YOU.page(conn, me, key, limit, cursor, membership.engagement_id)


@engagement_router.get("/recent", response_model=DashboardRecentResponse)
async def engagement_recent(
    membership: Member,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONBody:
    """Produced renders of one of my engagements, newest first, with download links."""
    return await RECENT.page(conn, me, key, limit, cursor, membership.engagement_id)
