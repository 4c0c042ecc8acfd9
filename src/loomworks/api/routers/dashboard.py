"""The operator dashboard: one call per zone across all of the caller's engagements."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query
from sqlalchemy import Row

from loomworks import labels
from loomworks.api.cursor import decode_cursor, encode_cursor
from loomworks.api.deps import Conn, CurrentPerson, CursorKey
from loomworks.api.routers.engagements import require_membership
from loomworks.api.schemas.dashboard import (
    DashboardActiveItem,
    DashboardActiveResponse,
    DashboardNeedsYouItem,
    DashboardNeedsYouResponse,
    DashboardRecentItem,
    DashboardRecentResponse,
)
from loomworks.api.schemas.progress import progress_read
from loomworks.db.dashboard import Position, Zone, zone_page

router = APIRouter(prefix="/me/dashboard", tags=["dashboard"])
# The same zones for one engagement: what a per-engagement screen (and the benchmark's
# "one call per engagement" baseline) uses.
engagement_router = APIRouter(prefix="/engagements/{engagement_id}/dashboard", tags=["dashboard"])

Limit = Annotated[int, Query(ge=1, le=100, description="page size, 1-100")]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page of this zone")]


ZoneResponse = TypeVar(
    "ZoneResponse", DashboardActiveResponse, DashboardNeedsYouResponse, DashboardRecentResponse
)


async def _zone(
    zone: Zone,
    response: type[ZoneResponse],
    item: Callable[[Row[Any]], Any],
    conn: Conn,
    me: CurrentPerson,
    key: bytes,
    limit: int,
    cursor: str | None,
    engagement_id: uuid.UUID | None = None,
) -> ZoneResponse:
    """Decode the cursor, run the zone's one statement, shape the page."""
    after = decode_cursor(key, zone, cursor) if cursor is not None else None
    page = await zone_page(
        conn, zone, person_id=me.id, limit=limit, after=after, engagement_id=engagement_id
    )
    next_cursor = None
    if page.has_more:
        last = page.rows[-1]
        next_cursor = encode_cursor(key, zone, Position(last.sort_key, last.item_id))
    return response(
        items=[item(row) for row in page.rows],
        total_count=page.total_count,
        next_cursor=next_cursor,
    )


@router.get("/active")
async def dashboard_active(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> DashboardActiveResponse:
    """Jobs running now in all my engagements, newest first, each with a truthful progress hint."""
    return await _zone(
        "active", DashboardActiveResponse, _active_item, conn, me, key, limit, cursor
    )


@router.get("/needs_you")
async def dashboard_needs_you(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> DashboardNeedsYouResponse:
    """What waits for my decision, newest first; never from engagements where I am a viewer."""
    return await _zone(
        "needs_you", DashboardNeedsYouResponse, _needs_you_item, conn, me, key, limit, cursor
    )


@router.get("/recent")
async def dashboard_recent(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> DashboardRecentResponse:
    """Produced renders in all my engagements, newest first, with download links."""
    return await _zone(
        "recent", DashboardRecentResponse, _recent_item, conn, me, key, limit, cursor
    )


def _active_item(row: Row[Any]) -> DashboardActiveItem:
    progress = labels.job_progress_of(
        row.item_kind, row.status, row.label_text, row.context, row.summary_counts
    )
    return DashboardActiveItem(
        engagement_id=row.engagement_id,
        engagement_name=row.engagement_name,
        item_kind=row.item_kind,
        item_id=row.item_id,
        item_label=labels.any_job_label(row.item_kind, row.label_text, row.label_extra),
        started_at=row.sort_key,
        progress_hint=progress.hint,
        progress=progress_read(progress),
        detail_url=f"/engagements/{row.engagement_id}/jobs/{row.item_id}",
    )


def _needs_you_item(row: Row[Any]) -> DashboardNeedsYouItem:
    if row.item_kind == "pending_shape":
        label = labels.clip(row.label_text or "") or "Untitled shape"
        detail = labels.pending_shape_detail(row.label_extra)
    elif row.item_kind == "held_assertion":
        label = labels.clip(row.label_text or "") or "Untitled assertion"
        detail = labels.HELD_ASSERTION_DETAIL
    else:
        label = labels.render_label(row.display_number, row.label_text)
        detail = labels.REVIEW_DETAIL
    return DashboardNeedsYouItem(
        engagement_id=row.engagement_id,
        engagement_name=row.engagement_name,
        item_kind=row.item_kind,
        item_id=row.item_id,
        item_label=label,
        detail=detail,
        created_at=row.sort_key,
    )


def _recent_item(row: Row[Any]) -> DashboardRecentItem:
    downloadable = row.content_kind in ("binary_blob", "multi_file")
    return DashboardRecentItem(
        engagement_id=row.engagement_id,
        engagement_name=row.engagement_name,
        artifact_kind=row.item_kind,
        artifact_id=row.item_id,
        artifact_label=labels.render_label(row.display_number, row.label_text),
        completed_at=row.sort_key,
        download_url=(
            f"/engagements/{row.engagement_id}/renders/{row.item_id}/content"
            if downloadable
            else None
        ),
    )


@engagement_router.get("/active")
async def engagement_active(
    engagement_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DashboardActiveResponse:
    """Jobs running now in one of my engagements (404 unless I am a member)."""
    await require_membership(conn, me, engagement_id)
    return await _zone(
        "active", DashboardActiveResponse, _active_item, conn, me, key, limit, cursor,
        engagement_id,
    )  # fmt: skip


@engagement_router.get("/needs_you")
async def engagement_needs_you(
    engagement_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DashboardNeedsYouResponse:
    """What waits for my decision in one of my engagements (empty where I am a viewer)."""
    await require_membership(conn, me, engagement_id)
    return await _zone(
        "needs_you", DashboardNeedsYouResponse, _needs_you_item, conn, me, key, limit, cursor,
        engagement_id,
    )  # fmt: skip


@engagement_router.get("/recent")
async def engagement_recent(
    engagement_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DashboardRecentResponse:
    """Produced renders of one of my engagements, newest first, with download links."""
    await require_membership(conn, me, engagement_id)
    return await _zone(
        "recent", DashboardRecentResponse, _recent_item, conn, me, key, limit, cursor,
        engagement_id,
    )  # fmt: skip
