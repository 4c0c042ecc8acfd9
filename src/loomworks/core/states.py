"""The service's vocabulary: every status, state, designation, content kind, zone and item kind,
spelled once. The CHECK constraints, the zone predicates, the demo and the API schemas read
these; a set of them that means something has one name here."""

from __future__ import annotations

from enum import StrEnum


class Designation(StrEnum):
    OWNER = "owner"
    OPERATOR = "operator"
    VIEWER = "viewer"  # read-only: sees the engagement's work, decides nothing


class TokenScope(StrEnum):
    """What a personal access token may do: `read` everything its person may read; `decide`
    also decide, undo, claim and snooze (always with `read`)."""

    READ = "read"
    DECIDE = "decide"


class JobStatus(StrEnum):
    """Shaping and render jobs."""

    QUEUED = "queued"
    DISPATCHED = "dispatched"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUNNING_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.DISPATCHED)


class ExternalStatus(StrEnum):
    """External production records."""

    AWAITING_EXTERNAL = "awaiting_external"
    RECEIVED = "received"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUNNING_EXTERNAL_STATUSES = (ExternalStatus.AWAITING_EXTERNAL,)


class ShapeState(StrEnum):
    PENDING_CONFIRMATION = "pending_confirmation"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class AssertionState(StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    WITHDRAWN = "withdrawn"


class RenderState(StrEnum):
    PRODUCING = "producing"
    PRODUCED = "produced"
    FAILED = "failed"


class ReviewOutcome(StrEnum):
    """What a reviewer decided on a produced render (renders.review_outcome)."""

    ACCEPTED = "accepted"
    CHANGES_REQUESTED = "changes_requested"


class Resolution(StrEnum):
    """How a failed external production was resolved (external_production_records.resolution)."""

    RETRIED = "retried"  # a new awaiting_external record took its place
    DISMISSED = "dismissed"


class ContentKind(StrEnum):
    INLINE_DICT = "inline_dict"  # the content is renders.inline_content
    BINARY_BLOB = "binary_blob"  # exactly one file
    MULTI_FILE = "multi_file"  # one or more files, downloaded as a zip


# Content kinds whose files can be downloaded (when the render has any).
FILE_CONTENT_KINDS = (ContentKind.BINARY_BLOB, ContentKind.MULTI_FILE)


class Zone(StrEnum):
    ACTIVE = "active"
    NEEDS_YOU = "needs_you"
    RECENT = "recent"


class ActiveKind(StrEnum):
    SHAPE_PRODUCTION = "shape_production"
    RENDER_PRODUCTION = "render_production"
    COMPOSITION = "composition"
    EXTERNAL_POLLING = "external_polling"


class NeedsYouKind(StrEnum):
    PENDING_SHAPE = "pending_shape"
    HELD_ASSERTION = "held_assertion"
    PRODUCED_RENDER_FOR_REVIEW = "produced_render_for_review"
    REVIEW_REPORT = "review_report"
    EXTERNAL_FAILURE = "external_failure"
    DOWNSTREAM_SPECIFICATION = "downstream_specification"


class ArtifactKind(StrEnum):
    RENDER = "render"
    REVIEW_REPORT = "review_report"
    TRANSFORMED_ARTIFACT = "transformed_artifact"


# Every kind a dashboard item can have. Kinds without a source in loomworks.core.kinds are part
# of the API's schema and return no items yet.
ItemKind = ActiveKind | NeedsYouKind | ArtifactKind
ZONE_KINDS: dict[Zone, type[StrEnum]] = {
    Zone.ACTIVE: ActiveKind,
    Zone.NEEDS_YOU: NeedsYouKind,
    Zone.RECENT: ArtifactKind,
}
