"""Response bodies of the three dashboard zones (SPEC 3), including kinds with no data yet."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from loomworks.api.schemas.progress import ActiveProgress

ActiveItemKind = Literal["shape_production", "render_production", "composition", "external_polling"]
NeedsYouItemKind = Literal[
    "pending_shape",
    "held_assertion",
    "produced_render_for_review",
    "review_report",
    "external_failure",
    "downstream_specification",
]
RecentArtifactKind = Literal["render", "review_report", "transformed_artifact"]


class DashboardActiveItem(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: ActiveItemKind
    item_id: uuid.UUID
    item_label: str
    started_at: datetime
    progress_hint: str | None
    progress: ActiveProgress
    detail_url: str


class DashboardNeedsYouItem(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: NeedsYouItemKind
    item_id: uuid.UUID
    item_label: str
    detail: str
    created_at: datetime


class DashboardRecentItem(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    artifact_kind: RecentArtifactKind
    artifact_id: uuid.UUID
    artifact_label: str
    completed_at: datetime
    download_url: str | None


class DashboardActiveResponse(BaseModel):
    items: list[DashboardActiveItem]
    total_count: int
    next_cursor: str | None


class DashboardNeedsYouResponse(BaseModel):
    items: list[DashboardNeedsYouItem]
    total_count: int
    next_cursor: str | None


class DashboardRecentResponse(BaseModel):
    items: list[DashboardRecentItem]
    total_count: int
    next_cursor: str | None
