"""Response bodies for per-engagement endpoints."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from loomworks.api.schemas.people import Designation


class ActiveJobCounts(BaseModel):
    shape_production: int
    render_production: int
    external_polling: int


class DecisionCounts(BaseModel):
    pending_shape: int
    held_assertion: int
    produced_render_for_review: int


class ActivitySummaryResponse(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    designation: Designation
    active_jobs: ActiveJobCounts
    decisions_waiting: DecisionCounts
    produced_renders: int
