"""Bodies of the triage routes: snoozes and claims (docs/triage.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loomworks.api.schemas.decisions import PersonRef
from loomworks.api.schemas.examples import Documented
from loomworks.core.states import NeedsYouKind
from loomworks.db.triage import MAX_SNOOZE


class SnoozeUpdate(Documented):
    model_config = ConfigDict(extra="forbid")

    until: datetime = Field(
        description="when the item comes back: in the future, at most 30 days ahead "
        "(an ISO timestamp; without a UTC offset it is read as UTC)",
    )

    @field_validator("until")
    @classmethod
    def _within_reach(cls, until: datetime) -> datetime:
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if until <= now:
            raise ValueError("until must be in the future")
        if until > now + MAX_SNOOZE:
            raise ValueError("until must be at most 30 days ahead")
        return until


class SnoozeRead(Documented):
    engagement_id: uuid.UUID
    item_kind: NeedsYouKind
    item_id: uuid.UUID
    until: datetime


class SnoozedItem(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: NeedsYouKind
    item_id: uuid.UUID
    item_label: str
    until: datetime


class SnoozesResponse(Documented):
    items: list[SnoozedItem] = Field(description="my snoozes still in force, soonest first")


class ClaimRead(Documented):
    claimed_by: PersonRef
    claimed_until: datetime
