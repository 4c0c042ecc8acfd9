"""The registry of dashboard sources: per item kind, which rows of which table it shows, in
which zone, keyed by what, worded how, and what can be decided on it.

Everything per kind is derived from SOURCES: the zone statements (db/dashboard.py), their
partial indexes (db/tables.py), the dashboard_counts triggers (db/counters.py), the activity
summary, the job tables the progress writers accept (db/jobs.py), the item building
(core/items.py) and the decision routes. docs/architecture.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from loomworks.core import labels
from loomworks.core.labels import LabelParts
from loomworks.core.states import (
    RUNNING_EXTERNAL_STATUSES,
    RUNNING_JOB_STATUSES,
    ZONE_KINDS,
    ActiveKind,
    ArtifactKind,
    AssertionState,
    ExternalStatus,
    ItemKind,
    NeedsYouKind,
    RenderState,
    Resolution,
    ReviewOutcome,
    ShapeState,
    Zone,
)

Wording = Callable[[LabelParts], str]
ActivityWording = Callable[[str, LabelParts], str]


@dataclass(frozen=True)
class Decision:
    """One decision a needs_you source accepts: `POST .../{collection}/{id}/{name}` sets
    `column` to `outcome` and stamps `stamp`, only while the item still waits."""

    name: str  # the URL segment: "confirm", "request-changes"
    label: str  # the button: "Confirm", "Request changes"
    done: str  # how it reads once taken: "already <done> by Ada at 14:02 UTC"
    column: str
    outcome: str
    stamp: str
    restarts: bool = False  # retry: a new awaiting_external record takes the failed one's place


@dataclass(frozen=True)
class Fact:
    """What a person deciding on an item gets to see in its detail, beside its label: the
    value of `column` (or, with `json_key`, that key of the JSON column, when it holds a
    string), worded by `show` and named `label`. Blank values are left out."""

    key: str  # the fact's name in the API: "shape_type"
    label: str  # how the page names it: "Type"
    column: str
    json_key: str | None = None
    show: Callable[[str], str] = labels.clip


@dataclass(frozen=True)
class Source:
    """One table's rows in one zone: those whose `state_column` is one of `states` (and
    `also`, if set), newest `key` first."""

    zone: Zone
    kind: ItemKind
    table: str
    key: str  # the recency column: newest first, id breaks ties
    state_column: str
    states: tuple[str, ...]
    index: str  # name stem of its partial indexes (per engagement, `_newest`, `_search`)
    # Zone payload column -> this table's column (see the zone's row class in db/dashboard.py).
    payload: Mapping[str, str]
    label: Wording
    also: str | None = None  # a further condition, "{r}" standing for "table." or ""
    detail: Wording | None = None  # needs_you: what the decision is about
    activity: ActivityWording | None = None  # active: the hint when nothing finer is known
    downloadable: bool = False  # recent: offers download_url when it has files
    # needs_you: the URL collection of its items (/engagements/{eid}/{collection}/{id}) and
    # the decisions they accept.
    collection: str | None = None
    decisions: tuple[Decision, ...] = ()
    facts: tuple[Fact, ...] = ()  # needs_you: what its detail shows of the item

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ZONE_KINDS[self.zone]):
            raise ValueError(f"{self.kind} is not a kind of the {self.zone} zone")
        if self.zone == Zone.ACTIVE and self.activity is None:
            raise ValueError(f"{self.kind}: an active source needs its activity wording")
        if self.zone == Zone.NEEDS_YOU and not (self.detail and self.collection and self.decisions):
            raise ValueError(f"{self.kind}: a needs_you source needs detail, collection, decisions")

    def decision(self, name: str) -> Decision | None:
        return next((decision for decision in self.decisions if decision.name == name), None)

    def predicate(self, qualifier: str | None = None) -> str:
        """The rows of this source as literal SQL (PostgreSQL only matches a partial index
        against constants); `qualifier` prefixes the columns ("renders", "NEW")."""
        prefix = f"{qualifier}." if qualifier else ""
        listed = ", ".join(f"'{state}'" for state in self.states)
        condition = (
            f"{prefix}{self.state_column} = {listed}"
            if len(self.states) == 1
            else f"{prefix}{self.state_column} IN ({listed})"
        )
        if self.also:
            condition += f" AND {self.also.format(r=prefix)}"
        return condition


def _decide(name: str, label: str, done: str, column: str, outcome: str) -> Decision:
    return Decision(name, label, done, column, outcome, stamp="decided_at")


def _review(name: str, label: str, done: str, outcome: ReviewOutcome) -> Decision:
    return Decision(name, label, done, "review_outcome", outcome, stamp="reviewed_at")


def _resolve(
    name: str, label: str, done: str, outcome: Resolution, *, restarts: bool = False
) -> Decision:
    return Decision(name, label, done, "resolution", outcome, "resolved_at", restarts)


SOURCES: tuple[Source, ...] = (
    # --- active: jobs running now -------------------------------------------------------------
    Source(
        zone=Zone.ACTIVE,
        kind=ActiveKind.SHAPE_PRODUCTION,
        table="shaping_jobs",
        key="started_at",
        state_column="status",
        states=RUNNING_JOB_STATUSES,
        index="ix_shaping_jobs_active",
        payload={"label_text": "shape_type"},
        label=labels.shaping_label,
        activity=labels.job_activity,
    ),
    Source(
        zone=Zone.ACTIVE,
        kind=ActiveKind.RENDER_PRODUCTION,
        table="render_jobs",
        key="started_at",
        state_column="status",
        states=RUNNING_JOB_STATUSES,
        index="ix_render_jobs_active",
        payload={"label_text": "render_type"},
        label=labels.rendering_label,
        activity=labels.job_activity,
    ),
    Source(
        zone=Zone.ACTIVE,
        kind=ActiveKind.EXTERNAL_POLLING,
        table="external_production_records",
        key="started_at",
        state_column="status",
        states=RUNNING_EXTERNAL_STATUSES,
        index="ix_external_production_records_awaiting",
        payload={"label_text": "provider", "label_extra": "description"},
        label=labels.external_label,
        activity=labels.waiting_on_provider,
    ),
    # --- needs_you: waiting for a decision ------------------------------------------------------
    Source(
        zone=Zone.NEEDS_YOU,
        kind=NeedsYouKind.PENDING_SHAPE,
        table="shapes",
        key="created_at",
        state_column="state",
        states=(ShapeState.PENDING_CONFIRMATION,),
        index="ix_shapes_pending",
        payload={"label_text": "title", "label_extra": "shape_type"},
        label=labels.shape_label,
        detail=labels.pending_shape_detail,
        collection="shapes",
        facts=(
            Fact("title", "Title", "title"),
            Fact("shape_type", "Type", "shape_type", show=labels.type_words),
        ),
        decisions=(
            _decide("confirm", "Confirm", "confirmed", "state", ShapeState.CONFIRMED),
            _decide("reject", "Reject", "rejected", "state", ShapeState.REJECTED),
        ),
    ),
    Source(
        zone=Zone.NEEDS_YOU,
        kind=NeedsYouKind.HELD_ASSERTION,
        table="assertions",
        key="created_at",
        state_column="state",
        states=(AssertionState.HELD,),
        index="ix_assertions_held",
        payload={"label_text": "statement"},
        label=labels.assertion_label,
        detail=labels.held_assertion_detail,
        collection="assertions",
        facts=(Fact("statement", "Statement", "statement", show=labels.long_text),),
        decisions=(
            _decide("commit", "Commit", "committed", "state", AssertionState.COMMITTED),
            _decide("withdraw", "Withdraw", "withdrawn", "state", AssertionState.WITHDRAWN),
        ),
    ),
    Source(
        zone=Zone.NEEDS_YOU,
        kind=NeedsYouKind.PRODUCED_RENDER_FOR_REVIEW,
        table="renders",
        key="created_at",
        state_column="state",
        states=(RenderState.PRODUCED,),
        also="{r}reviewed_at IS NULL",
        index="ix_renders_awaiting_review",
        payload={"label_text": "title", "display_number": "display_number"},
        label=labels.render_label,
        detail=labels.review_detail,
        collection="renders",
        facts=(
            Fact("title", "Title", "title"),
            Fact("content_kind", "Content", "content_kind", show=labels.content_words),
        ),
        decisions=(
            _review("accept", "Accept", "accepted", ReviewOutcome.ACCEPTED),
            _review(
                "request-changes",
                "Request changes",
                "sent back for changes",
                ReviewOutcome.CHANGES_REQUESTED,
            ),
        ),
    ),
    Source(
        zone=Zone.NEEDS_YOU,
        kind=NeedsYouKind.EXTERNAL_FAILURE,
        table="external_production_records",
        key="completed_at",
        state_column="status",
        states=(ExternalStatus.FAILED,),
        also="{r}resolved_at IS NULL",
        index="ix_external_production_records_failed",
        payload={"label_text": "provider", "label_extra": "description"},
        label=labels.external_label,
        detail=labels.external_failure_detail,
        collection="external-productions",
        facts=(
            Fact("provider", "Provider", "provider"),
            Fact("description", "Description", "description", show=labels.long_text),
            Fact("failure_reason", "Why it failed", "context", "error", show=labels.long_text),
        ),
        decisions=(
            _resolve("retry", "Retry", "retried", Resolution.RETRIED, restarts=True),
            _resolve("dismiss", "Dismiss", "dismissed", Resolution.DISMISSED),
        ),
    ),
    # --- recent: finished artifacts ---------------------------------------------------------------
    Source(
        zone=Zone.RECENT,
        kind=ArtifactKind.RENDER,
        table="renders",
        key="completed_at",
        state_column="state",
        states=(RenderState.PRODUCED,),
        index="ix_renders_produced",
        payload={"label_text": "title", "display_number": "display_number"},
        label=labels.render_label,
        downloadable=True,
    ),
)

SOURCE_OF: dict[str, Source] = {source.kind: source for source in SOURCES}
if len(SOURCE_OF) != len(SOURCES):
    raise ValueError("two sources share an item kind; give each its own")


def sources_in(zone: Zone) -> tuple[Source, ...]:
    return tuple(source for source in SOURCES if source.zone == zone)


def sources_of_table(table: str) -> tuple[Source, ...]:
    return tuple(source for source in SOURCES if source.table == table)


# Every status an active source counts as running: the only ones with progress.
RUNNING_STATUSES: frozenset[str] = frozenset(
    state for source in sources_in(Zone.ACTIVE) for state in source.states
)
