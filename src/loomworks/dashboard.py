"""Dashboard items from zone rows: labels, details, progress and links, per the registry.

Items are plain dicts in the response models' field order (api/schemas/dashboard.py), written
by api/responses.JSONBody: this is the service's hottest path, and a model per item cost more
than the query (docs/benchmarks.md, steps 10 and 12). The tests hold every page to the models.
"""

from __future__ import annotations

import uuid
from typing import Any

from loomworks.db.dashboard import ActiveRow, NeedsYouRow, RecentRow
from loomworks.db.jobs import JobRow
from loomworks.kinds import SOURCE_OF, Source
from loomworks.progress import DEFAULT_ACTIVITY_LABEL, Progress, progress_of

Item = dict[str, Any]


def job_progress(row: ActiveRow | JobRow, kind: str) -> Progress:
    """A job's progress under the one contract, with its source's activity wording."""
    source = SOURCE_OF[kind]
    activity = (
        source.activity(row.status, row.label_parts) if source.activity else DEFAULT_ACTIVITY_LABEL
    )
    return progress_of(
        row.status, row.phase, row.composite, row.processed, row.total, activity_label=activity
    )


def job_url(engagement_id: uuid.UUID, job_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/jobs/{job_id}"


def download_url(engagement_id: uuid.UUID, render_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/renders/{render_id}/content"


def item_url(source: Source, engagement_id: uuid.UUID, item_id: uuid.UUID) -> str:
    return f"/engagements/{engagement_id}/{source.collection}/{item_id}"


def actions(source: Source, engagement_id: uuid.UUID, item_id: uuid.UUID) -> list[Item]:
    """The decisions an item offers, as links a client can follow (`Action` in the API)."""
    url = item_url(source, engagement_id, item_id)
    return [
        {"decision": d.name, "label": d.label, "method": "POST", "url": f"{url}/{d.name}"}
        for d in source.decisions
    ]


def active_item(row: ActiveRow) -> Item:
    progress = job_progress(row, row.item_kind)
    return {
        "engagement_id": row.engagement_id,
        "engagement_name": row.engagement_name,
        "item_kind": row.item_kind,
        "item_id": row.item_id,
        "item_label": SOURCE_OF[row.item_kind].label(row.label_parts),
        "started_at": row.sort_key,
        "progress_hint": progress.hint,
        "progress": progress.as_dict(),
        "detail_url": job_url(row.engagement_id, row.item_id),
    }


def needs_you_item(row: NeedsYouRow) -> Item:
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
    }


def recent_item(row: RecentRow) -> Item:
    return {
        "engagement_id": row.engagement_id,
        "engagement_name": row.engagement_name,
        "artifact_kind": row.item_kind,
        "artifact_id": row.item_id,
        "artifact_label": SOURCE_OF[row.item_kind].label(row.label_parts),
        "completed_at": row.sort_key,
        "download_url": download_url(row.engagement_id, row.item_id) if row.downloadable else None,
    }
