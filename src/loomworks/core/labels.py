"""Plain-English labels for dashboard items: what a person reads, never a raw key or enum.

Each source in loomworks.core.kinds names its writers here; every writer reads the same three
values of a row (LabelParts), so a new kind's wording is one small function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from loomworks.core.states import ContentKind, ExternalStatus, JobStatus

MAX_LABEL_LENGTH = 140

# What the page calls each kind in its filters (every kind of every zone, backed or not).
KIND_NAMES: dict[str, str] = {
    "shape_production": "Shape production",
    "render_production": "Render production",
    "composition": "Composition",
    "external_polling": "External production",
    "pending_shape": "Shapes to confirm",
    "held_assertion": "Held assertions",
    "produced_render_for_review": "Renders to review",
    "review_report": "Review reports",
    "external_failure": "External failures",
    "downstream_specification": "Downstream specifications",
    "render": "Renders",
    "transformed_artifact": "Transformed artifacts",
}


class LabelParts(NamedTuple):
    """What a row offers its label and detail writers: its source's text columns (see each
    source's payload in loomworks.core.kinds) and a display number."""

    text: str | None
    extra: str | None = None
    number: int | None = None


@lru_cache(maxsize=4096)  # type keys repeat on every poll; a page has 50 of them
def humanise(key: str | None, fallback: str) -> str:
    """'deck_section' -> 'Deck section'; a blank or odd key falls back to a generic word."""
    words = " ".join((key or "").replace("_", " ").replace("-", " ").split())
    if not words or not any(ch.isalpha() for ch in words):
        return fallback
    return clip(words[0].upper() + words[1:])


def clip(text: str, limit: int = MAX_LABEL_LENGTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _provider(name: str | None) -> str:
    return clip(name or "", 60) or "an external provider"


# --- item labels (LabelParts -> str) ------------------------------------------------------------


def shaping_label(parts: LabelParts) -> str:
    return f"Shaping: {humanise(parts.text, 'shapes')}"


def rendering_label(parts: LabelParts) -> str:
    return f"Rendering: {humanise(parts.text, 'render')}"


def external_label(parts: LabelParts) -> str:
    """parts: provider, description."""
    source = _provider(parts.text)
    if parts.extra and parts.extra.strip():
        return clip(f"{parts.extra.strip()} from {source}")
    return f"External production from {source}"


def shape_label(parts: LabelParts) -> str:
    return clip(parts.text or "") or "Untitled shape"


def assertion_label(parts: LabelParts) -> str:
    return clip(parts.text or "") or "Untitled assertion"


def render_label(parts: LabelParts) -> str:
    """parts: title, -, display number."""
    name = clip(parts.text or "", 120) or "Untitled render"
    return f"Render #{parts.number}: {name}" if parts.number is not None else name


# --- needs_you details (LabelParts -> str) ------------------------------------------------------


def pending_shape_detail(parts: LabelParts) -> str:
    """parts: title, shape type."""
    return f"{humanise(parts.extra, 'Shape')} waiting for you to confirm or reject it"


def held_assertion_detail(parts: LabelParts) -> str:
    return "Held assertion: commit it or withdraw it"


def review_detail(parts: LabelParts) -> str:
    return "Render produced and waiting for your review"


def external_failure_detail(parts: LabelParts) -> str:
    """parts: provider, description."""
    return f"Production from {_provider(parts.text)} failed: retry it or dismiss it"


# --- facts in an item's detail (str -> str) ----------------------------------------------------

MAX_FACT_LENGTH = 1000

_CONTENT_WORDS: dict[str, str] = {
    ContentKind.INLINE_DICT: "Structured content, shown below",
    ContentKind.BINARY_BLOB: "One file",
    ContentKind.MULTI_FILE: "Several files",
}


def type_words(key: str) -> str:
    return humanise(key, "Unknown type")


def long_text(text: str) -> str:
    return clip(text, MAX_FACT_LENGTH)


def content_words(content_kind: str) -> str:
    return _CONTENT_WORDS.get(content_kind, "Content of an unknown kind")


# --- what a running job with no finer progress is doing (status, LabelParts -> str) ------------


def job_activity(status: str, parts: LabelParts) -> str:
    return "Queued, waiting to start" if status == JobStatus.QUEUED else "Running"


def waiting_on_provider(status: str, parts: LabelParts) -> str:
    return f"Waiting on {_provider(parts.text)}"


# --- decisions ------------------------------------------------------------------------------------


def already_decided(done: str, by: str, at: datetime) -> str:
    """The 409 answer when someone was quicker: 'Already confirmed by Ada at 14:02 UTC ...'."""
    moment = at.astimezone(UTC)
    return f"Already {done} by {by} at {moment:%H:%M} UTC on {moment:%Y-%m-%d}."


def claimed_by_other(by: str, until: datetime) -> str:
    """The 409 answer when a colleague's claim holds the item."""
    moment = until.astimezone(UTC)
    return f"{by} is on this item (claimed until {moment:%H:%M} UTC on {moment:%Y-%m-%d})."


def no_longer_waiting(state: str) -> str:
    return f"This item no longer waits for a decision (it is {humanise(state, 'changed').lower()})."


def undo_too_late(window: timedelta) -> str:
    return (
        "This decision can no longer be undone: undo is open for "
        f"{_duration(window)} after deciding. Decide the item again instead, if it waits."
    )


def undo_moved_on(state: str | None) -> str:
    now = f" (it is {humanise(state, 'changed').lower()})" if state else ""
    return f"This decision can no longer be undone: the item has changed since{now}."


def retry_moved_on(status: str | None) -> str:
    now = f" (it is {status_label(status).lower()})" if status else ""
    return f"This retry can no longer be undone: the new production has moved on{now}."


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


_STATUS_LABELS: dict[str, str] = {
    JobStatus.QUEUED: "Queued",
    JobStatus.DISPATCHED: "Running",
    JobStatus.COMPLETED: "Completed",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
    ExternalStatus.AWAITING_EXTERNAL: "Waiting on the provider",
    ExternalStatus.RECEIVED: "Received from the provider",
}


def status_label(status: str | None) -> str:
    return _STATUS_LABELS.get(status or "", "Unknown status")
