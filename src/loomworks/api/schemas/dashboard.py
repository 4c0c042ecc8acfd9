"""Response bodies of the three dashboard zones, including kinds with no data yet."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from loomworks.api.schemas.decisions import Action, NeedsYouItemBase, PersonRef
from loomworks.api.schemas.examples import Documented
from loomworks.api.schemas.progress import ActiveProgress
from loomworks.core.states import ActiveKind, ArtifactKind, Designation, Zone


class DashboardActiveItem(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: ActiveKind
    item_id: uuid.UUID
    item_label: str
    started_at: datetime
    progress_hint: str | None
    progress: ActiveProgress
    detail_url: str


class DashboardNeedsYouItem(NeedsYouItemBase):
    created_at: datetime
    detail_url: str
    actions: list[Action]
    claimed_by: PersonRef | None = Field(description="who said they are on it, if anyone")
    claimed_until: datetime | None = Field(description="until when their claim holds")
    overdue: bool = Field(
        description="its recency key is older than LOOMWORKS_OVERDUE_AFTER_SECONDS"
    )


class DashboardRecentItem(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    artifact_kind: ArtifactKind
    artifact_id: uuid.UUID
    artifact_label: str
    completed_at: datetime
    download_url: str | None


class DashboardActiveResponse(Documented):
    items: list[DashboardActiveItem]
    total_count: int
    next_cursor: str | None


class DashboardNeedsYouResponse(Documented):
    items: list[DashboardNeedsYouItem]
    total_count: int
    next_cursor: str | None


class DashboardRecentResponse(Documented):
    items: list[DashboardRecentItem]
    total_count: int
    next_cursor: str | None


class ZoneCounts(BaseModel):
    total: int
    kinds: dict[str, int] = Field(description="per item kind of the zone that has items")
    overdue: int = Field(
        description="needs_you: items I may decide waiting longer than "
        "LOOMWORKS_OVERDUE_AFTER_SECONDS (0 in other zones)"
    )


class EngagementCounts(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    designation: Designation
    zones: dict[Zone, ZoneCounts]


class DashboardCountsResponse(Documented):
    """What the zones hold for me, in total and per engagement: badges and filter chips."""

    zones: dict[Zone, ZoneCounts]
    engagements: list[EngagementCounts] = Field(description="every engagement of mine, by name")


# Each zone's page, as its routes declare it.
ZONE_RESPONSES: dict[Zone, type[BaseModel]] = {
    Zone.ACTIVE: DashboardActiveResponse,
    Zone.NEEDS_YOU: DashboardNeedsYouResponse,
    Zone.RECENT: DashboardRecentResponse,
}
