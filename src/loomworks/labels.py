"""Plain-English labels for dashboard items: what a person reads, never a raw key or enum."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from loomworks.progress import Progress, progress_of

MAX_LABEL_LENGTH = 140


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


def job_label(kind: str, type_key: str | None) -> str:
    if kind == "shape_production":
        return f"Shaping: {humanise(type_key, 'shapes')}"
    return f"Rendering: {humanise(type_key, 'render')}"


def external_label(provider: str | None, description: str | None) -> str:
    source = clip(provider or "", 60) or "an external provider"
    if description and description.strip():
        return clip(f"{description.strip()} from {source}")
    return f"External production from {source}"


def waiting_on(provider: str | None) -> str:
    return f"Waiting on {clip(provider or '', 60) or 'an external provider'}"


def render_label(display_number: int | None, title: str | None) -> str:
    name = clip(title or "", 120) or "Untitled render"
    return f"Render #{display_number}: {name}" if display_number is not None else name


def pending_shape_detail(shape_type: str | None) -> str:
    return f"{humanise(shape_type, 'Shape')} waiting for you to confirm or reject it"


HELD_ASSERTION_DETAIL = "Held assertion: commit it or withdraw it"

REVIEW_DETAIL = "Render produced and waiting for your review"


_STATUS_LABELS = {
    "queued": "Queued",
    "dispatched": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "awaiting_external": "Waiting on the provider",
    "received": "Received from the provider",
}


def status_label(status: str | None) -> str:
    return _STATUS_LABELS.get(status or "", "Unknown status")


def activity_label(kind: str, status: str | None, provider: str | None) -> str:
    """What a running job with no finer progress is doing, in a few words."""
    if kind == "external_polling":
        return waiting_on(provider)
    return "Queued, waiting to start" if status == "queued" else "Running"


def job_progress_of(
    kind: str, status: str, type_key: str | None, fields: Sequence[object]
) -> Progress:
    """A job's progress under the one contract, with the activity wording for its kind, from
    the values a job read selects (db/jobs.progress_fields, in that order)."""
    activity = activity_label(kind, status, type_key)
    return progress_of(status, *fields, activity_label=activity)


def any_job_label(kind: str, type_key: str | None, description: str | None) -> str:
    if kind == "external_polling":
        return external_label(type_key, description)
    return job_label(kind, type_key)
