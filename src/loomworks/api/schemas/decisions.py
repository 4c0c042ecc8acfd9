"""Bodies of the decision routes: taking one, many at once, an item's detail, the history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from loomworks.api.http.limits import SafeText
from loomworks.api.schemas.examples import Documented
from loomworks.core.states import NeedsYouKind

MAX_NOTE_LENGTH = 2000


class DecisionCreate(Documented):
    model_config = ConfigDict(extra="forbid")

    note: SafeText | None = Field(
        default=None,
        max_length=MAX_NOTE_LENGTH,
        description="why, in a few words; kept in the history",
        examples=["Footprint matches the survey."],
    )
    # Strict: the schema says boolean, so 0 or "yes" is refused rather than read as one.
    override_claim: StrictBool = Field(
        default=False, description="decide even though a colleague has claimed the item"
    )


class PersonRef(BaseModel):
    id: uuid.UUID
    display_name: str


class DecisionRead(Documented):
    """A decision on record."""

    decision_id: uuid.UUID
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: NeedsYouKind
    item_id: uuid.UUID
    item_label: str = Field(description="the item's label when it was decided")
    decision: str = Field(examples=["confirm"])
    state: str = Field(
        description="what the item became: its new state, review outcome or resolution",
        examples=["confirmed"],
    )
    decided_by: PersonRef
    decided_at: datetime
    note: str | None
    follow_up_id: uuid.UUID | None = Field(
        description="retry: the new awaiting_external record that took the failed one's place"
    )
    undone_at: datetime | None = Field(description="when its decider undid it; null if standing")
    undo_url: str | None = Field(
        description="POST it to undo the decision: only for its decider, while still possible"
    )
    undo_until: datetime | None = Field(description="until when undo_url works; null with it")


class Action(BaseModel):
    """A decision the caller may take on an item now."""

    decision: str = Field(examples=["confirm"])
    label: str = Field(examples=["Confirm"])
    method: str = Field(examples=["POST"])
    url: str


class NeedsYouItemBase(Documented):
    """What a needs_you item says of itself, in its zone and in its detail alike."""

    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: NeedsYouKind
    item_id: uuid.UUID
    item_label: str
    detail: str


class ItemFact(BaseModel):
    """One thing to see about the item before deciding, worded for a person."""

    key: str = Field(examples=["shape_type"])
    label: str = Field(examples=["Type"])
    value: str = Field(examples=["Site plan"])


class RenderFileRead(BaseModel):
    """One file of a render; `url` shows it inline (sandboxed, never run as script)."""

    file_id: uuid.UUID
    filename: str
    media_type: str
    byte_size: int
    url: str


class ItemDetailResponse(NeedsYouItemBase):
    state: str = Field(description="the item's state (status) column")
    waiting: bool = Field(description="whether it still waits for a decision")
    created_at: datetime | None = Field(description="its recency key in needs_you")
    facts: list[ItemFact] = Field(description="what is decided on: type, title, statement, ...")
    content_kind: str | None = Field(description="renders: inline_dict, binary_blob, multi_file")
    inline_content: Any = Field(description="inline_dict renders: the content itself, else null")
    files: list[RenderFileRead] = Field(description="renders: their files (empty for the rest)")
    download_url: str | None
    actions: list[Action] = Field(description="what I may decide now; empty for a viewer")
    last_decision: DecisionRead | None
    claimed_by: PersonRef | None = Field(default=None, description="who is on it, if anyone")
    claimed_until: datetime | None = None


class BulkDecisionEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engagement_id: uuid.UUID
    item_kind: str = Field(examples=["pending_shape"])
    item_id: uuid.UUID
    decision: str = Field(examples=["confirm"])
    note: SafeText | None = Field(default=None, max_length=MAX_NOTE_LENGTH)
    override_claim: StrictBool = False


class BulkDecisionCreate(Documented):
    model_config = ConfigDict(extra="forbid")

    decisions: list[BulkDecisionEntry] = Field(min_length=1, max_length=100)


class BulkDecisionResult(BaseModel):
    item_id: uuid.UUID
    status: int = Field(description="what the single route would have answered", examples=[200])
    detail: str | None = None
    decision: DecisionRead | None = None


class BulkDecisionResponse(Documented):
    results: list[BulkDecisionResult] = Field(description="one per entry, in request order")


class DecisionHistoryResponse(Documented):
    """A page of decisions: an engagement's history, or my own (GET /me/decisions)."""

    items: list[DecisionRead]
    total_count: int
    next_cursor: str | None
