"""One job's detail, for any job kind."""

from __future__ import annotations

import uuid
from datetime import datetime

from loomworks.api.schemas.examples import Documented
from loomworks.api.schemas.progress import JobProgress
from loomworks.core.states import ActiveKind


class JobDetailResponse(Documented):
    engagement_id: uuid.UUID
    engagement_name: str
    job_kind: ActiveKind
    job_id: uuid.UUID
    job_label: str
    status: str
    status_label: str
    started_at: datetime
    completed_at: datetime | None
    progress_hint: str | None
    progress: JobProgress
