"""Per-engagement views: only members learn that an engagement exists."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from loomworks.api.deps import Conn, CurrentPerson
from loomworks.api.errors import NotFound
from loomworks.api.schemas.engagements import (
    ActiveJobCounts,
    ActivitySummaryResponse,
    DecisionCounts,
)
from loomworks.api.schemas.errors import errors
from loomworks.db.engagements import activity_summary
from loomworks.db.people import Membership, membership_in

router = APIRouter(
    prefix="/engagements", tags=["engagements"], responses=errors(401, 404, 422, 503)
)


async def require_membership(conn: Conn, me: CurrentPerson, engagement_id: uuid.UUID) -> Membership:
    membership = await membership_in(conn, person_id=me.id, engagement_id=engagement_id)
    if membership is None:
        raise NotFound("Engagement not found.")
    return membership


@router.get("/{engagement_id}/activity-summary")
async def read_activity_summary(
    engagement_id: uuid.UUID, conn: Conn, me: CurrentPerson
) -> ActivitySummaryResponse:
    """Counts of running jobs, waiting decisions and produced renders in one engagement."""
    membership = await require_membership(conn, me, engagement_id)
    summary = await activity_summary(conn, engagement_id=engagement_id)
    return ActivitySummaryResponse(
        engagement_id=membership.engagement_id,
        engagement_name=membership.engagement_name,
        designation=membership.designation,
        active_jobs=ActiveJobCounts(**summary.active_jobs),
        decisions_waiting=DecisionCounts(**summary.decisions_waiting),
        produced_renders=summary.produced_renders,
    )
