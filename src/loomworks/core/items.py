"""Dashboard items from zone rows: labels, details, progress and links, per the registry.

Items are plain dicts in the response models' field order (api/schemas/dashboard.py), written
by api/http/responses.JSONBody: this is the service's hottest path, and a model per item cost more
than the query (docs/benchmarks.md, steps 10 and 12). The tests hold every page to the models.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from loomworks.core.kinds import SOURCE_OF, Source, sources_in
from loomworks.core.labels import LabelParts
from loomworks.core.progress import DEFAULT_ACTIVITY_LABEL, Progress, progress_from, stalled
from loomworks.core.rows import ActiveRow, CountRow, JobRow, NeedsYouRow, RecentRow
from loomworks.core.states import Zone

Item = dict[str, Any]


def _uuid_text(value: object) -> str:
    # asyncpg's UUID subclasses uuid.UUID; orjson only writes the exact class itself.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_bytes(content: Any) -> bytes:
    """Items (and anything else) as JSON, byte for byte what the response models would
    write: UUIDs as strings, UTC times with "Z"."""
    return orjson.dumps(content, default=_uuid_text, option=orjson.OPT_UTC_Z)


@dataclass(frozen=True)
class Moment:
    """When a page is written, as far as its items are concerned: a running job is stalled
    once it has written no progress for `stall_after` before `as_of`. `as_of` is the start of
    the minute, so a page (and its ETag) only changes with the minute, not the second."""

    as_of: datetime
    stall_after: timedelta
    # A needs_you item is overdue once its recency key is this much older than `as_of`.
    overdue_after: timedelta = timedelta(days=1)

    @classmethod
    def now(cls, stall_after: timedelta, overdue_after: timedelta = timedelta(days=1)) -> Moment:
        return cls(datetime.now(UTC).replace(second=0, microsecond=0), stall_after, overdue_after)

    @property
    def overdue_before(self) -> datetime:
        """Items keyed before this are overdue."""
        return self.as_of - self.overdue_after


def job_progress(
    row: ActiveRow | JobRow, kind: str, moment: Moment, parts: LabelParts | None = None
) -> Progress:
    """A job's progress under the one contract, with its source's activity wording, and
    whether it has stalled. `parts`: the row's label_parts, when the caller has them."""
    source = SOURCE_OF[kind]
    activity = (
        source.activity(row.status, parts or row.label_parts)
        if source.activity
        else DEFAULT_ACTIVITY_LABEL
    )
    progress = progress_from(
        row.status, row.phase, row.composite, row.processed, row.total, activity_label=activity
    )
    silent = moment.as_of - row.progress_updated_at
    return stalled(progress, silent) if silent >= moment.stall_after else progress


def job_url(engagement_id: uuid.UUID, job_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/jobs/{job_id}"


def download_url(engagement_id: uuid.UUID, render_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/renders/{render_id}/content"


def file_url(engagement_id: uuid.UUID, render_id: uuid.UUID, file_id: uuid.UUID) -> str:
    """One file of a render, to show in the page (inline, sandboxed)."""
    return f"/engagements/{engagement_id}/renders/{render_id}/files/{file_id}"


def undo_url(engagement_id: uuid.UUID, decision_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/decisions/{decision_id}/undo"


def item_url(source: Source, engagement_id: uuid.UUID, item_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/{source.collection}/{item_id}"


def actions(source: Source, engagement_id: uuid.UUID, item_id: uuid.UUID) -> list[Item]:
    """The decisions an item offers, as links a client can follow (`Action` in the API)."""
    url = item_url(source, engagement_id, item_id)
    return [
        {"decision": d.name, "label": d.label, "method": "POST", "url": f"{url}/{d.name}"}
        for d in source.decisions
    ]


def active_item(row: ActiveRow, moment: Moment) -> Item:
    parts = row.label_parts
    progress = job_progress(row, row.item_kind, moment, parts)
    return {
        "engagement_id": row.engagement_id,
        "engagement_name": row.engagement_name,
        "item_kind": row.item_kind,
        "item_id": row.item_id,
        "item_label": SOURCE_OF[row.item_kind].label(parts),
        "started_at": row.sort_key,
        "progress_hint": progress.hint,
        "progress": progress.as_dict(),
        "detail_url": job_url(row.engagement_id, row.item_id),
    }


def needs_you_item(row: NeedsYouRow, moment: Moment) -> Item:
    source = SOURCE_OF[row.item_kind]
    parts = row.label_parts
    return {
        "engagement_id": row.engagement_id,
        "engagement_name": row.engagement_name,
        "item_kind": row.item_kind,
        "item_id": row.item_id,
        "item_label": source.label(parts),
        "detail": source.detail(parts) if source.detail else "",
        "created_at": row.sort_key,
        "detail_url": item_url(source, row.engagement_id, row.item_id),
        # needs_you never shows a viewer's engagements: every item's decisions are the caller's.
        "actions": actions(source, row.engagement_id, row.item_id),
        **claim_fields(row.claimer_id, row.claimer_name, row.claimed_until),
        "overdue": row.sort_key < moment.overdue_before,
    }


def claim_fields(
    claimer_id: uuid.UUID | None, claimer_name: str | None, claimed_until: datetime | None
) -> Item:
    """`claimed_by` ({id, display_name} or None) and `claimed_until` of an item."""
    claimed_by = {"id": claimer_id, "display_name": claimer_name} if claimer_id else None
    return {"claimed_by": claimed_by, "claimed_until": claimed_until if claimer_id else None}


def recent_item(row: RecentRow, moment: Moment) -> Item:
    return {
        "engagement_id": row.engagement_id,
        "engagement_name": row.engagement_name,
        "artifact_kind": row.item_kind,
        "artifact_id": row.item_id,
        "artifact_label": SOURCE_OF[row.item_kind].label(row.label_parts),
        "completed_at": row.sort_key,
        "download_url": download_url(row.engagement_id, row.item_id) if row.downloadable else None,
    }


def counts(rows: Sequence[CountRow]) -> Item:
    """The counts body: per zone, in total and per kind, overall and per engagement (every
    kind with a source is listed, at 0 when it has nothing)."""

    def empty() -> dict[str, Item]:
        # Plain str keys: orjson writes no StrEnum keys.
        return {
            str(zone): {
                "total": 0,
                "kinds": {str(source.kind): 0 for source in sources_in(zone)},
                "overdue": 0,
            }
            for zone in Zone
        }

    overall = empty()
    engagements: dict[uuid.UUID, Item] = {}
    for row in rows:
        engagement = engagements.setdefault(
            row.engagement_id,
            {
                "engagement_id": row.engagement_id,
                "engagement_name": row.engagement_name,
                "designation": row.designation,
                "zones": empty(),
            },
        )
        if row.item_kind is None or row.item_kind not in SOURCE_OF:
            continue
        zone = str(SOURCE_OF[row.item_kind].zone)
        for counted in (overall[zone], engagement["zones"][zone]):
            counted["total"] += row.n
            counted["kinds"][row.item_kind] += row.n
            counted["overdue"] += row.overdue
    return {"zones": overall, "engagements": list(engagements.values())}
