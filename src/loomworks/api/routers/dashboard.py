"""The operator dashboard: one call per zone across all of the caller's engagements (or some,
or one), with conditional GET for pollers, and the per-zone counts behind badges."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Generic

from fastapi import APIRouter, Query, Request, Response

from loomworks import dashboard
from loomworks.api.conditional import entity_tag, matches, not_modified, poll_headers
from loomworks.api.cursor import decode_cursor, encode_cursor
from loomworks.api.deps import AppSettings, CurrentPerson, CursorKey, ReadConn, ReadMember
from loomworks.api.errors import NotFound
from loomworks.api.paging import Cursor, Limit
from loomworks.api.responses import JSONBody
from loomworks.api.schemas.dashboard import (
    DashboardActiveResponse,
    DashboardCountsResponse,
    DashboardNeedsYouResponse,
    DashboardRecentResponse,
)
from loomworks.api.schemas.errors import errors
from loomworks.db.dashboard import (
    ActiveRow,
    NeedsYouRow,
    NotAMember,
    RecentRow,
    RowT,
    ZoneFilter,
    counts_of,
    zone_page,
    zone_state,
)
from loomworks.states import ActiveKind, ArtifactKind, NeedsYouKind, Zone

router = APIRouter(
    prefix="/me/dashboard", tags=["dashboard"], responses=errors(400, 401, 404, 422, 503)
)
# The same zones for one engagement: what a per-engagement screen (and the benchmark's
# "one call per engagement" baseline) uses.
engagement_router = APIRouter(
    prefix="/engagements/{engagement_id}/dashboard",
    tags=["dashboard"],
    responses=errors(400, 401, 404, 422, 503),
)

Engagements = Annotated[
    list[uuid.UUID],
    Query(alias="engagement_id", description="only these of my engagements (repeatable)"),
]
ActiveKinds = Annotated[list[ActiveKind], Query(alias="kind", description="only these kinds")]
NeedsYouKinds = Annotated[list[NeedsYouKind], Query(alias="kind", description="only these kinds")]
ArtifactKinds = Annotated[list[ArtifactKind], Query(alias="kind", description="only these kinds")]
POLLED: dict[int | str, dict[str, Any]] = {
    200: {"description": "the page, with ETag, Cache-Control, Vary and X-Poll-Interval"},
    304: {"description": "If-None-Match matched: nothing changed since that page"},
}


class ZoneView(Generic[RowT]):
    """A zone as the API serves it: its rows and how each becomes an item."""

    def __init__(
        self,
        zone: Zone,
        row: type[RowT],
        item: Callable[[RowT, dashboard.Moment], dashboard.Item],
    ) -> None:
        self.zone: Zone = zone
        self.row: type[RowT] = row
        self.item: Callable[[RowT, dashboard.Moment], dashboard.Item] = item

    async def respond(
        self,
        request: Request,
        conn: ReadConn,
        me: CurrentPerson,
        key: bytes,
        settings: AppSettings,
        limit: int,
        cursor: str | None,
        where: ZoneFilter,
    ) -> Response:
        """304 if the caller's copy is current (from the counters alone), else the page."""
        filters = f"{where.engagement_ids}{where.kinds}"
        after = decode_cursor(key, self.zone, cursor, filters) if cursor else None
        moment = dashboard.Moment.now(settings.stall_after)
        # Only active items read the clock (stalled jobs): the others' pages ignore it.
        clock = moment.as_of if self.zone == Zone.ACTIVE else None

        def headers(state: str) -> dict[str, str]:
            etag = entity_tag(self.zone, filters, limit, cursor, clock, state)
            return poll_headers(etag, settings.poll_interval_seconds)

        try:
            if_none_match = request.headers.get("if-none-match")
            if if_none_match:
                state = await zone_state(conn, self.zone, person_id=me.id, where=where)
                if matches(if_none_match, headers(state)["ETag"]):
                    return not_modified(headers(state))
            page = await zone_page(
                conn, self.row, person_id=me.id, limit=limit, after=after, where=where
            )
        except NotAMember:
            raise NotFound() from None
        next_cursor = (
            encode_cursor(key, self.zone, page.next_after, filters) if page.next_after else None
        )
        body = {
            "items": [self.item(row, moment) for row in page.rows],
            "total_count": page.total_count,
            "next_cursor": next_cursor,
        }
        return JSONBody(body, headers=headers(page.state))


@router.get("/counts", response_model=DashboardCountsResponse, responses=POLLED)
async def dashboard_counts(
    request: Request, conn: ReadConn, me: CurrentPerson, settings: AppSettings
) -> Response:
    """How many items each zone holds for me, in total and per engagement and kind."""
    rows = await counts_of(conn, person_id=me.id)
    headers = poll_headers(entity_tag("counts", rows), settings.poll_interval_seconds)
    if matches(request.headers.get("if-none-match"), headers["ETag"]):
        return not_modified(headers)
    return JSONBody(dashboard.counts(rows), headers=headers)


ACTIVE = ZoneView(Zone.ACTIVE, ActiveRow, dashboard.active_item)
NEEDS_YOU = ZoneView(Zone.NEEDS_YOU, NeedsYouRow, dashboard.needs_you_item)
RECENT = ZoneView(Zone.RECENT, RecentRow, dashboard.recent_item)


@router.get("/active", response_model=DashboardActiveResponse, responses=POLLED)
async def dashboard_active(
    request: Request,
    conn: ReadConn,
    me: CurrentPerson,
    key: CursorKey,
    settings: AppSettings,
    limit: Limit = 50,
    cursor: Cursor = None,
    engagement_id: Engagements = [],  # noqa: B006 (FastAPI copies defaults)
    kind: ActiveKinds = [],  # noqa: B006
) -> Response:
    """Jobs running now in all my engagements, newest first, each with a truthful progress hint."""
    where = ZoneFilter.of(engagement_id, kind)
    return await ACTIVE.respond(request, conn, me, key, settings, limit, cursor, where)


@router.get("/needs_you", response_model=DashboardNeedsYouResponse, responses=POLLED)
async def dashboard_needs_you(
    request: Request,
    conn: ReadConn,
    me: CurrentPerson,
    key: CursorKey,
    settings: AppSettings,
    limit: Limit = 50,
    cursor: Cursor = None,
    engagement_id: Engagements = [],  # noqa: B006
    kind: NeedsYouKinds = [],  # noqa: B006
) -> Response:
    """What waits for my decision, newest first; never from engagements where I am a viewer."""
    where = ZoneFilter.of(engagement_id, kind)
    return await NEEDS_YOU.respond(request, conn, me, key, settings, limit, cursor, where)


@router.get("/recent", response_model=DashboardRecentResponse, responses=POLLED)
async def dashboard_recent(
    request: Request,
    conn: ReadConn,
    me: CurrentPerson,
    key: CursorKey,
    settings: AppSettings,
    limit: Limit = 50,
    cursor: Cursor = None,
    engagement_id: Engagements = [],  # noqa: B006
    kind: ArtifactKinds = [],  # noqa: B006
) -> Response:
    """Produced renders in all my engagements, newest first, with download links."""
    where = ZoneFilter.of(engagement_id, kind)
    return await RECENT.respond(request, conn, me, key, settings, limit, cursor, where)


@engagement_router.get("/active", response_model=DashboardActiveResponse, responses=POLLED)
async def engagement_active(
    request: Request,
    membership: ReadMember,
    conn: ReadConn,
    me: CurrentPerson,
    key: CursorKey,
    settings: AppSettings,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: ActiveKinds = [],  # noqa: B006
) -> Response:
    """Jobs running now in one of my engagements (404 unless I am a member)."""
    where = ZoneFilter.of([membership.engagement_id], kind)
    return await ACTIVE.respond(request, conn, me, key, settings, limit, cursor, where)


@engagement_router.get("/needs_you", response_model=DashboardNeedsYouResponse, responses=POLLED)
async def engagement_needs_you(
    request: Request,
    membership: ReadMember,
    conn: ReadConn,
    me: CurrentPerson,
    key: CursorKey,
    settings: AppSettings,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: NeedsYouKinds = [],  # noqa: B006
) -> Response:
    """What waits for my decision in one of my engagements (empty where I am a viewer)."""
    where = ZoneFilter.of([membership.engagement_id], kind)
    return await NEEDS_YOU.respond(request, conn, me, key, settings, limit, cursor, where)


@engagement_router.get("/recent", response_model=DashboardRecentResponse, responses=POLLED)
async def engagement_recent(
    request: Request,
    membership: ReadMember,
    conn: ReadConn,
    me: CurrentPerson,
    key: CursorKey,
    settings: AppSettings,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: ArtifactKinds = [],  # noqa: B006
) -> Response:
    """Produced renders of one of my engagements, newest first, with download links."""
    where = ZoneFilter.of([membership.engagement_id], kind)
    return await RECENT.respond(request, conn, me, key, settings, limit, cursor, where)
