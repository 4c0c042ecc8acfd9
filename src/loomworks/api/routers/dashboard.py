"""The operator dashboard: one call per zone across all of the caller's engagements."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Response

from loomworks import labels
from loomworks.api.cursor import decode_cursor, encode_cursor
from loomworks.api.deps import Conn, CurrentPerson, CursorKey
from loomworks.api.paging import Cursor, Limit
from loomworks.api.routers.engagements import require_membership
from loomworks.api.schemas.dashboard import (
    DashboardActiveResponse,
    DashboardNeedsYouResponse,
    DashboardRecentResponse,
)
from loomworks.api.schemas.errors import errors
from loomworks.db.dashboard import Zone, zone_page

router = APIRouter(prefix="/me/dashboard", tags=["dashboard"], responses=errors(400, 401, 422, 503))
# The same zones for one engagement: what a per-engagement screen (and the benchmark's
# "one call per engagement" baseline) uses.
engagement_router = APIRouter(
    prefix="/engagements/{engagement_id}/dashboard",
    tags=["dashboard"],
    responses=errors(400, 401, 404, 422, 503),
)


# Items are built as plain dicts from the rows' tuples, in the response models' field order,
# and the page is written as JSON by orjson, as the models would write it (UUIDs as strings,
# UTC times with "Z"). This is the hottest path of the service: a pydantic model per item
# cost more than the query, and validating then serializing the page through the models
# another 0.3-0.6 ms. The models document the body in OpenAPI, and the tests hold every
# page to them byte for byte (tests/api/test_dashboard.py::test_pages_are_what_the_models_write).
Item = dict[str, Any]


def _json(body: dict[str, Any]) -> Response:
    content = orjson.dumps(body, default=_uuid_text, option=orjson.OPT_UTC_Z)
    return Response(content, media_type="application/json")


def _uuid_text(value: object) -> str:
    # asyncpg's UUID subclasses uuid.UUID; orjson only writes the exact class itself.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


async def _zone(
    zone: Zone,
    items: Callable[[list[tuple[Any, ...]]], list[Item]],
    conn: Conn,
    me: CurrentPerson,
    key: bytes,
    limit: int,
    cursor: str | None,
    engagement_id: uuid.UUID | None = None,
) -> Response:
    """Decode the cursor, run the zone's one statement, shape the page."""
    after = decode_cursor(key, zone, cursor) if cursor is not None else None
    page = await zone_page(
        conn, zone, person_id=me.id, limit=limit, after=after, engagement_id=engagement_id
    )
    return _json(
        {
            "items": items(page.rows),
            "total_count": page.total_count,
            "next_cursor": (
                encode_cursor(key, zone, page.next_after) if page.next_after is not None else None
            ),
        }
    )


@router.get("/active", response_model=DashboardActiveResponse)
async def dashboard_active(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """Jobs running now in all my engagements, newest first, each with a truthful progress hint."""
    return await _zone("active", _active_items, conn, me, key, limit, cursor)


@router.get("/needs_you", response_model=DashboardNeedsYouResponse)
async def dashboard_needs_you(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """What waits for my decision, newest first; never from engagements where I am a viewer."""
    return await _zone("needs_you", _needs_you_items, conn, me, key, limit, cursor)


@router.get("/recent", response_model=DashboardRecentResponse)
async def dashboard_recent(
    conn: Conn, me: CurrentPerson, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """Produced renders in all my engagements, newest first, with download links."""
    return await _zone("recent", _recent_items, conn, me, key, limit, cursor)


# Each unpacks the columns of db.dashboard.item_columns(zone), in that order.


def _active_items(rows: list[tuple[Any, ...]]) -> list[Item]:
    items = []
    for engagement_id, engagement_name, kind, item_id, started_at, *payload in rows:
        label_text, label_extra, status, *fields = payload
        progress = labels.job_progress_of(kind, status, label_text, fields)
        items.append(
            {
                "engagement_id": engagement_id,
                "engagement_name": engagement_name,
                "item_kind": kind,
                "item_id": item_id,
                "item_label": labels.any_job_label(kind, label_text, label_extra),
                "started_at": started_at,
                "progress_hint": progress.hint,
                "progress": progress.as_dict(),
                "detail_url": f"/engagements/{engagement_id}/jobs/{item_id}",
            }
        )
    return items


def _needs_you_items(rows: list[tuple[Any, ...]]) -> list[Item]:
    items = []
    for engagement_id, engagement_name, kind, item_id, created_at, *payload in rows:
        label_text, label_extra, display_number = payload
        if kind == "pending_shape":
            label = labels.clip(label_text or "") or "Untitled shape"
            detail = labels.pending_shape_detail(label_extra)
        elif kind == "held_assertion":
            label = labels.clip(label_text or "") or "Untitled assertion"
            detail = labels.HELD_ASSERTION_DETAIL
        else:
            label = labels.render_label(display_number, label_text)
            detail = labels.REVIEW_DETAIL
        items.append(
            {
                "engagement_id": engagement_id,
                "engagement_name": engagement_name,
                "item_kind": kind,
                "item_id": item_id,
                "item_label": label,
                "detail": detail,
                "created_at": created_at,
            }
        )
    return items


def _recent_items(rows: list[tuple[Any, ...]]) -> list[Item]:
    items = []
    for engagement_id, engagement_name, kind, item_id, completed_at, *payload in rows:
        label_text, display_number, content_kind = payload
        downloadable = content_kind in ("binary_blob", "multi_file")
        items.append(
            {
                "engagement_id": engagement_id,
                "engagement_name": engagement_name,
                "artifact_kind": kind,
                "artifact_id": item_id,
                "artifact_label": labels.render_label(display_number, label_text),
                "completed_at": completed_at,
                "download_url": (
                    f"/engagements/{engagement_id}/renders/{item_id}/content"
                    if downloadable
                    else None
                ),
            }
        )
    return items


@engagement_router.get("/active", response_model=DashboardActiveResponse)
async def engagement_active(
    engagement_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Jobs running now in one of my engagements (404 unless I am a member)."""
    await require_membership(conn, me, engagement_id)
    return await _zone("active", _active_items, conn, me, key, limit, cursor, engagement_id)


@engagement_router.get("/needs_you", response_model=DashboardNeedsYouResponse)
async def engagement_needs_you(
    engagement_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """What waits for my decision in one of my engagements (empty where I am a viewer)."""
    await require_membership(conn, me, engagement_id)
    return await _zone("needs_you", _needs_you_items, conn, me, key, limit, cursor, engagement_id)


@engagement_router.get("/recent", response_model=DashboardRecentResponse)
async def engagement_recent(
    engagement_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    key: CursorKey,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Produced renders of one of my engagements, newest first, with download links."""
    await require_membership(conn, me, engagement_id)
    return await _zone("recent", _recent_items, conn, me, key, limit, cursor, engagement_id)
