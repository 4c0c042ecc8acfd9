"""One job's detail and progress, whatever its kind; members only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from loomworks import labels
from loomworks.api.deps import Conn, CurrentPerson
from loomworks.api.errors import NotFound
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.jobs import JobDetailResponse
from loomworks.api.schemas.progress import progress_read
from loomworks.db.jobs import job_detail
from loomworks.progress import PROGRESS_FIELDS

router = APIRouter(prefix="/engagements", tags=["jobs"], responses=errors(401, 404, 422, 503))


@router.get("/{engagement_id}/jobs/{job_id}")
async def read_job(
    engagement_id: uuid.UUID, job_id: uuid.UUID, conn: Conn, me: CurrentPerson
) -> JobDetailResponse:
    """A shaping job, render job or external production: status, times and honest progress."""
    row = await job_detail(conn, person_id=me.id, engagement_id=engagement_id, job_id=job_id)
    if row is None:
        raise NotFound("Job not found.")
    fields = [row._mapping[key] for _, key in PROGRESS_FIELDS]
    progress = labels.job_progress_of(row.job_kind, row.status, row.label_text, fields)
    return JobDetailResponse(
        engagement_id=row.engagement_id,
        engagement_name=row.engagement_name,
        job_kind=row.job_kind,
        job_id=row.id,
        job_label=labels.any_job_label(row.job_kind, row.label_text, row.label_extra),
        status=row.status,
        status_label=labels.status_label(row.status),
        started_at=row.started_at,
        completed_at=row.completed_at,
        progress_hint=progress.hint,
        progress=progress_read(progress),
    )
