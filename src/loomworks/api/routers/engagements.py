"""Per-engagement views: only members learn that an engagement exists."""

from __future__ import annotations

from fastapi import APIRouter

from loomworks.api.deps import ReadConn, ReadMember
from loomworks.api.schemas.engagements import ActivitySummaryResponse
from loomworks.api.schemas.errors import errors
from loomworks.db.engagements import activity_summary

router = APIRouter(
    prefix="/engagements", tags=["engagements"], responses=errors(401, 404, 422, 503)
)


@router.get("/{engagement_id}/activity-summary")
async def read_activity_summary(membership: ReadMember, conn: ReadConn) -> ActivitySummaryResponse:
    """Counts of running jobs, waiting decisions and produced renders in one engagement."""
    summary = await activity_summary(conn, engagement_id=membership.engagement_id)
    return ActivitySummaryResponse(
        engagement_id=membership.engagement_id,
        engagement_name=membership.engagement_name,
        designation=membership.designation,
        active_jobs=summary.active_jobs,
        decisions_waiting=summary.decisions_waiting,
        produced_renders=summary.produced_renders,
    )
