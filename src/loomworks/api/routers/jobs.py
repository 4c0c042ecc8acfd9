"""One job's detail and progress, whatever its kind; members only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from loomworks.api.deps import AppSettings, CurrentPerson, ReadConn, ReadMember
from loomworks.api.http.conditional import NoStore
from loomworks.api.http.errors import NotFound
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.jobs import JobDetailResponse
from loomworks.api.schemas.progress import progress_read
from loomworks.core import labels
from loomworks.core.items import Moment, job_progress
from loomworks.core.kinds import SOURCE_OF
from loomworks.db.jobs import job_detail

router = APIRouter(prefix="/engagements", tags=["jobs"], responses=errors(401, 404, 422, 503))


@router.get("/{engagement_id}/jobs/{job_id}", dependencies=[NoStore])
async def read_job(
    job_id: uuid.UUID,
    membership: ReadMember,
    conn: ReadConn,
    me: CurrentPerson,
    settings: AppSettings,
) -> JobDetailResponse:
    """A shaping job, render job or external production: status, times and honest progress."""
    row = await job_detail(
        conn, person_id=me.id, engagement_id=membership.engagement_id, job_id=job_id
    )
    if row is None:
        raise NotFound()
    progress = job_progress(row, row.job_kind, Moment.now(settings.stall_after))
    return JobDetailResponse(
        engagement_id=row.engagement_id,
        engagement_name=row.engagement_name,
        job_kind=row.job_kind,
        job_id=row.id,
        job_label=SOURCE_OF[row.job_kind].label(row.label_parts),
        status=row.status,
        status_label=labels.status_label(row.status),
        started_at=row.started_at,
        completed_at=row.completed_at,
        progress_hint=progress.hint,
        progress=progress_read(progress),
    )
