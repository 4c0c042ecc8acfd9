"""Response bodies for per-engagement endpoints."""

from __future__ import annotations

import uuid

from pydantic import Field

from loomworks.api.schemas.examples import Documented
from loomworks.core.states import Designation


class ActivitySummaryResponse(Documented):
    engagement_id: uuid.UUID
    engagement_name: str
    designation: Designation
    active_jobs: dict[str, int] = Field(description="running jobs per active item kind")
    decisions_waiting: dict[str, int] = Field(
        description="items waiting for a decision per needs_you item kind"
    )
    produced_renders: int
