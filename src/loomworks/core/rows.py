"""The typed rows the zone statements and job queries return, and where a page ends.

They live in the core (not in db/) because items are built from them: db/ fills them, the
core reads them. db/dashboard.py checks at import that each zone row matches its statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, TypeVar

from loomworks.core.labels import LabelParts
from loomworks.core.states import Zone


@dataclass(frozen=True, order=True)
class Position:
    """Where a page ends: the recency key at full precision and the id that breaks ties."""

    key: datetime
    item_id: uuid.UUID


# One typed row per zone, in the zone statement's column order (after total_count): the
# item's place and names, then the zone's payload (db/dashboard.ZONE_PAYLOAD). Sources fill
# the payload columns their `payload` maps; the rest are NULL.


class ActiveRow(NamedTuple):
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: str
    item_id: uuid.UUID
    sort_key: datetime
    label_text: str | None
    label_extra: str | None
    status: str
    # The job's PROGRESS_FIELDS values as db/jobs.progress_fields reads them, in
    # progress_from's order: the phase's key (core.progress.phase_key), the composite's JSON,
    # the counts when they are integers (None where absent).
    phase: str | None
    composite: object
    processed: int | None
    total: int | None
    progress_updated_at: datetime

    @property
    def label_parts(self) -> LabelParts:
        return LabelParts(self.label_text, self.label_extra)


class NeedsYouRow(NamedTuple):
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: str
    item_id: uuid.UUID
    sort_key: datetime
    label_text: str | None
    label_extra: str | None
    display_number: int | None
    claimer_id: uuid.UUID | None  # who is on it (a claim), if anyone
    claimer_name: str | None
    claimed_until: datetime | None

    @property
    def label_parts(self) -> LabelParts:
        return LabelParts(self.label_text, self.label_extra, self.display_number)


class RecentRow(NamedTuple):
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: str
    item_id: uuid.UUID
    sort_key: datetime
    label_text: str | None
    display_number: int | None
    downloadable: bool  # the download route would serve a file (db/renders.has_download)

    @property
    def label_parts(self) -> LabelParts:
        return LabelParts(self.label_text, None, self.display_number)


ZoneRow = ActiveRow | NeedsYouRow | RecentRow
RowT = TypeVar("RowT", ActiveRow, NeedsYouRow, RecentRow)
ROW_CLASSES: dict[Zone, type[ZoneRow]] = {
    Zone.ACTIVE: ActiveRow,
    Zone.NEEDS_YOU: NeedsYouRow,
    Zone.RECENT: RecentRow,
}
ZONE_OF_ROW: dict[type[ZoneRow], Zone] = {row: zone for zone, row in ROW_CLASSES.items()}


class CountRow(NamedTuple):
    """One of the caller's engagements and one kind's count in it (kind None: no items)."""

    engagement_id: uuid.UUID
    engagement_name: str
    designation: str
    item_kind: str | None
    n: int  # less what the caller snoozed
    version: int
    overdue: int  # needs_you: of those, keyed before the overdue threshold


class JobRow(NamedTuple):
    """One job of any kind, with what its label and progress are written from."""

    job_kind: str
    id: uuid.UUID
    engagement_id: uuid.UUID
    status: str
    started_at: datetime
    completed_at: datetime | None
    label_text: str | None
    label_extra: str | None
    # Its PROGRESS_FIELDS values, as ActiveRow's.
    phase: str | None
    composite: object
    processed: int | None
    total: int | None
    progress_updated_at: datetime
    engagement_name: str

    @property
    def label_parts(self) -> LabelParts:
        return LabelParts(self.label_text, self.label_extra)
