"""Table metadata: the data contract (docs/concepts.md), mirrored by the Alembic migrations."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from loomworks.core import states
from loomworks.core.kinds import sources_of_table
from loomworks.core.webhooks import SUBSCRIBABLE, DeliveryState
from loomworks.db.search import label_text, trigrams

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def _id() -> Column[Any]:
    return Column(
        "id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def _now(name: str) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=text("now()"))


def _engagement_fk() -> Column[Any]:
    return Column(
        "engagement_id",
        UUID(as_uuid=True),
        ForeignKey("engagements.id", ondelete="CASCADE"),
        nullable=False,
    )


def _zone_indexes(table: str) -> list[Index]:
    """Two partial indexes per dashboard source on `table` (loomworks.core.kinds): its rows newest
    first per engagement (the statement's per-engagement path), and across all engagements
    with engagement_id riding along, so the fast path's walk never visits the table."""
    indexes = []
    for source in sources_of_table(table):
        newest_first = (text(f"{source.key} DESC"), text("id DESC"))
        where = text(source.predicate())
        indexes += [
            Index(source.index, "engagement_id", *newest_first, postgresql_where=where),
            Index(
                f"{source.index}_newest",
                *newest_first,
                postgresql_where=where,
                postgresql_include=["engagement_id"],
            ),
        ]
    return indexes


def _search_indexes(table: Table) -> None:
    """A GIN index per dashboard source on `table` (partial, like its zone indexes) of the
    trigrams of its label as `q` searches it (db/search.py): where a search looks first."""
    for source in sources_of_table(table.name):
        table.append_constraint(
            Index(
                f"{source.index}_search",
                trigrams(label_text(source, table)),
                postgresql_using="gin",
                postgresql_where=text(source.predicate()),
            )
        )


def _sha256_hex(column: str) -> CheckConstraint:
    """The column holds a lower-case hex SHA-256 (of a token, never the token itself)."""
    return CheckConstraint(f"{column} ~ '^[0-9a-f]{{64}}$'", name=f"{column}_sha256_hex")


def _ref(name: str, target: str, *, nullable: bool = False, index: bool = False) -> Column[Any]:
    """A UUID column referring to `target` ("table.id"), deleted with what it refers to."""
    return Column(
        name,
        UUID(as_uuid=True),
        ForeignKey(target, ondelete="CASCADE"),
        nullable=nullable,
        index=index,
    )


def _json(name: str, *, nullable: bool) -> Column[Any]:
    return Column(name, JSONB, nullable=nullable, server_default=text("'{}'::jsonb"))


def _json_object(name: str) -> CheckConstraint:
    """Job JSON is an object (migration 0008): merging a fragment into anything else with
    `||` would build an array. SQL NULL passes, where the column allows it."""
    return CheckConstraint(f"jsonb_typeof({name}) = 'object'", name=f"{name}_object")


# A person's written_lsn while a change to their memberships has committed but no replica probe
# has yet read the WAL position after it: no replica qualifies, so they read from the primary
# (loomworks.db.replicas).
UNRESOLVED_FENCE = 2**63 - 1

persons = Table(
    "persons",
    metadata,
    _id(),
    Column("email", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("password_hash", Text, nullable=True),
    _now("created_at"),
    # The WAL position (bytes) just after this person's last decision: their reads skip any
    # replica that has not replayed it (read-your-writes, loomworks.db.replicas).
    Column("written_lsn", BigInteger, nullable=True),
    # A disabled person cannot sign in and has no valid session; their history stays.
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("email = lower(email)", name="email_lower_case"),
    # What each replica probe looks for.
    Index(
        "ix_persons_unresolved_fence",
        "written_lsn",
        postgresql_where=text(f"written_lsn = {UNRESOLVED_FENCE}"),
    ),
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    _ref("person_id", "persons.id", index=True),
    Column("token_hash", Text, nullable=False, unique=True),
    _now("created_at"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    _sha256_hex("token_hash"),
)

engagements = Table(
    "engagements",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    _now("created_at"),
)

engagement_memberships = Table(
    "engagement_memberships",
    metadata,
    _id(),
    _ref("person_id", "persons.id"),
    _ref("engagement_id", "engagements.id", index=True),
    Column("designation", Text, nullable=False),
    _now("created_at"),
    UniqueConstraint(
        "person_id", "engagement_id", name="uq_engagement_memberships_person_engagement"
    ),
    CheckConstraint(_in("designation", states.Designation), name="designation_valid"),
)


def _job_table(name: str, type_column: str, *, json_nullable: bool) -> Table:
    return Table(
        name,
        metadata,
        _id(),
        _engagement_fk(),
        Column(type_column, Text, nullable=False),
        Column("status", Text, nullable=False),
        _now("started_at"),
        Column("completed_at", DateTime(timezone=True), nullable=True),
        _json("context", nullable=json_nullable),
        _json("summary_counts", nullable=json_nullable),
        _now("progress_updated_at"),  # see db/jobs: every progress write and dispatch
        CheckConstraint(_in("status", states.JobStatus), name="status_valid"),
        _json_object("context"),
        _json_object("summary_counts"),
        Index(f"ix_{name}_engagement", "engagement_id"),
        *_zone_indexes(name),
    )


shaping_jobs = _job_table("shaping_jobs", "shape_type", json_nullable=False)
render_jobs = _job_table("render_jobs", "render_type", json_nullable=True)

external_production_records = Table(
    "external_production_records",
    metadata,
    _id(),
    _engagement_fk(),
    Column("provider", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("status", Text, nullable=False),
    _now("started_at"),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    _json("context", nullable=True),
    _now("progress_updated_at"),
    # A failed record waits for a decision until someone resolves it (retry or dismiss).
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolution", Text, nullable=True),
    Column(
        "retry_of",
        UUID(as_uuid=True),
        ForeignKey("external_production_records.id", ondelete="SET NULL"),
        nullable=True,
    ),
    CheckConstraint(_in("status", states.ExternalStatus), name="status_valid"),
    CheckConstraint(
        f"resolution IS NULL OR {_in('resolution', states.Resolution)}", name="resolution_valid"
    ),
    _json_object("context"),
    Index("ix_external_production_records_engagement", "engagement_id"),
    *_zone_indexes("external_production_records"),
)

shapes = Table(
    "shapes",
    metadata,
    _id(),
    _engagement_fk(),
    Column("shape_type", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("state", Text, nullable=False),
    _now("created_at"),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(_in("state", states.ShapeState), name="state_valid"),
    Index("ix_shapes_engagement", "engagement_id"),
    *_zone_indexes("shapes"),
)

assertions = Table(
    "assertions",
    metadata,
    _id(),
    _engagement_fk(),
    Column("statement", Text, nullable=False),
    Column("state", Text, nullable=False),
    _now("created_at"),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(_in("state", states.AssertionState), name="state_valid"),
    Index("ix_assertions_engagement", "engagement_id"),
    *_zone_indexes("assertions"),
)

renders = Table(
    "renders",
    metadata,
    _id(),
    _engagement_fk(),
    Column(
        "render_job_id",
        UUID(as_uuid=True),
        ForeignKey("render_jobs.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    Column("title", Text, nullable=False),
    Column("display_number", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("content_kind", Text, nullable=False),
    Column("inline_content", JSONB, nullable=True),
    _now("created_at"),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("reviewed_at", DateTime(timezone=True), nullable=True),
    Column("review_outcome", Text, nullable=True),
    CheckConstraint(_in("state", states.RenderState), name="state_valid"),
    CheckConstraint(
        f"review_outcome IS NULL OR {_in('review_outcome', states.ReviewOutcome)}",
        name="review_outcome_valid",
    ),
    CheckConstraint(_in("content_kind", states.ContentKind), name="content_kind_valid"),
    CheckConstraint(
        f"state <> '{states.RenderState.PRODUCED}' OR completed_at IS NOT NULL",
        name="produced_has_completed_at",
    ),
    Index("ix_renders_engagement", "engagement_id"),
    *_zone_indexes("renders"),
)

render_files = Table(
    "render_files",
    metadata,
    _id(),
    Column(
        "render_id",
        UUID(as_uuid=True),
        ForeignKey("renders.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("filename", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("byte_size", BigInteger, nullable=False),
    _now("created_at"),
    CheckConstraint("byte_size >= 0", name="byte_size_non_negative"),
)

# Every decision taken on a needs_you item, appended in the transaction that made it.
decisions = Table(
    "decisions",
    metadata,
    _id(),
    _engagement_fk(),
    Column("item_kind", Text, nullable=False),
    Column("item_id", UUID(as_uuid=True), nullable=False),
    Column("item_label", Text, nullable=False),  # as it read when decided
    Column("decision", Text, nullable=False),
    Column("outcome", Text, nullable=False),  # the item's new state, outcome or resolution
    Column("person_id", UUID(as_uuid=True), ForeignKey("persons.id"), nullable=False),
    _now("decided_at"),
    Column("note", Text, nullable=True),
    # retry: the awaiting_external record that took the failed one's place
    Column("follow_up_id", UUID(as_uuid=True), nullable=True),
    # What the decided column and its stamp held just before the decision (migration 0012):
    # an undo puts exactly these back, and stamps undone_at. The row itself stays.
    Column("prior_outcome", Text, nullable=True),
    Column("prior_stamp", DateTime(timezone=True), nullable=True),
    Column("undone_at", DateTime(timezone=True), nullable=True),
    Index("ix_decisions_history", "engagement_id", text("decided_at DESC"), text("id DESC")),
    Index("ix_decisions_item", "item_id", text("decided_at DESC")),
    # GET /me/decisions: one person's decisions, newest first.
    Index("ix_decisions_person", "person_id", text("decided_at DESC"), text("id DESC")),
)

# Cursor signing key, generated by the database on first migration so that every worker
# and every restart of an installation agrees on it without configuration.
instance_secrets = Table(
    "instance_secrets",
    metadata,
    Column("name", Text, primary_key=True),
    Column("secret", LargeBinary, nullable=False),
    _now("created_at"),
)


# Items per engagement and dashboard item kind, kept exact by row triggers on the source
# tables (migration 0002), so a zone's total_count sums one row per engagement and kind
# instead of counting history.
def _owned_by(column: str, table: str) -> Column[Any]:
    """A key column naming the row it belongs to, deleted with it."""
    return Column(
        column, UUID(as_uuid=True), ForeignKey(f"{table}.id", ondelete="CASCADE"), primary_key=True
    )


def _count(name: str) -> Column[Any]:
    return Column(name, BigInteger, nullable=False, server_default=text("0"))


dashboard_counts = Table(
    "dashboard_counts",
    metadata,
    _owned_by("engagement_id", "engagements"),
    Column("item_kind", Text, primary_key=True),
    _count("n"),
    # Moves (from one sequence) whenever this kind's items of this engagement change:
    # what the event stream's ids are made of (db/counters.py).
    _count("version"),
    CheckConstraint("n >= 0", name="n_non_negative"),
)

# Per person and zone, a version that moves whenever anything the person sees in the zone
# changes (an item, a render's files, an engagement's name, a membership): kept by the
# counters' triggers (db/counters.py, migration 0015), read by every zone statement for its
# ETag, so a poll costs one index lookup whatever the size of the portfolio.
dashboard_person_versions = Table(
    "dashboard_person_versions",
    metadata,
    _owned_by("person_id", "persons"),
    Column("zone", Text, primary_key=True),
    _count("version"),
)

# Failed sign-ins, kept in the database so the throttle holds across worker processes. A row
# is written before the password is checked (and deleted again when it was right), so
# concurrent attempts can never check more passwords than the limit allows; see db/throttle.py.
login_failures = Table(
    "login_failures",
    metadata,
    _id(),
    Column("email", Text, nullable=False),
    Column("client_address", Text, nullable=False),
    _now("failed_at"),
    Index("ix_login_failures_email_failed_at", "email", "failed_at"),
    Index(
        "ix_login_failures_email_client_address_failed_at", "email", "client_address", "failed_at"
    ),
    Index("ix_login_failures_client_address_failed_at", "client_address", "failed_at"),
    Index("ix_login_failures_failed_at", "failed_at"),
)

# Personal access tokens: only the SHA-256 of the token is kept (a long random token needs no
# slow hash). last_used_at is written at most once a minute per token.
access_tokens = Table(
    "access_tokens",
    metadata,
    _id(),
    _ref("person_id", "persons.id", index=True),
    Column("name", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("scopes", ARRAY(Text), nullable=False),
    _now("created_at"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    _sha256_hex("token_hash"),
    CheckConstraint(
        f"scopes <@ ARRAY[{', '.join(repr(str(s)) for s in states.TokenScope)}]::text[]"
        " AND 'read' = ANY(scopes)",
        name="scopes_valid",
    ),
)


# A person's webhooks (docs/integrations.md). The secret signs deliveries, so it is kept as
# it was issued; it is shown once, when the webhook is created.
webhooks = Table(
    "webhooks",
    metadata,
    _id(),
    _ref("person_id", "persons.id", index=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", ARRAY(Text), nullable=False),
    Column("engagement_ids", ARRAY(UUID(as_uuid=True)), nullable=True),  # NULL: all of mine
    _now("created_at"),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # Since when every attempt has failed (NULL after a success): past a day, deactivated.
    Column("failing_since", DateTime(timezone=True), nullable=True),
    Column("deactivated_at", DateTime(timezone=True), nullable=True),
    Column("deactivated_reason", Text, nullable=True),
    CheckConstraint(
        "cardinality(events) > 0 AND events <@ ARRAY["
        + ", ".join(f"'{event}'" for event in SUBSCRIBABLE)
        + "]::text[]",
        name="events_valid",
    ),
)

# The outbox: what happened, written by triggers on the source tables in the transaction
# that made the change (db/outbox.py), and fanned out to the subscribed webhooks' deliveries
# by the sender (live/webhooks.py), which deletes it in the same transaction.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event", Text, nullable=False),
    Column("engagement_id", UUID(as_uuid=True), nullable=False),
    Column("item_kind", Text, nullable=False),
    Column("item_id", UUID(as_uuid=True), nullable=False),
    _now("occurred_at"),
)

# One delivery per webhook and event; its id is the X-Loomworks-Delivery of every attempt.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    _ref("webhook_id", "webhooks.id", index=True),
    Column("event", Text, nullable=False),
    _ref("engagement_id", "engagements.id", nullable=True),  # NULL: a ping
    Column("payload", JSONB, nullable=False),  # {"engagement": ..., "item": ...}
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    _now("created_at"),
    Column("state", Text, nullable=False, server_default=text(f"'{DeliveryState.PENDING}'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # Due then; while an attempt is under way, when it counts as lost and is tried again.
    Column(
        "next_attempt_at", DateTime(timezone=True), nullable=False, server_default=text("now()")
    ),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(_in("state", DeliveryState), name="state_valid"),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text(f"state = '{DeliveryState.PENDING}'"),
    ),
    Index("ix_webhook_deliveries_completed_at", "completed_at"),
)

# One row per attempt: what GET /me/webhooks/{id}/deliveries lists.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _id(),
    _ref("delivery_id", "webhook_deliveries.id", index=True),
    _ref("webhook_id", "webhooks.id"),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    _now("at"),
    Index("ix_webhook_attempts_webhook", "webhook_id", text("at DESC"), text("id DESC")),
)

# The stalls already announced (job.stalled): one per job and its last progress write, so a
# job is announced once per silence, by one process.
webhook_stalls = Table(
    "webhook_stalls",
    metadata,
    Column("job_id", UUID(as_uuid=True), primary_key=True),
    Column("progress_updated_at", DateTime(timezone=True), primary_key=True),
    _now("noted_at"),
)


# Triage (docs/triage.md): a person's snoozes hide an item from their own needs_you until
# `until`; a claim tells colleagues who is on an item until `claimed_until`. Both rows live
# only while they hold: the waker (db/triage.py) deletes them when they lapse, and a decision
# deletes them, so "the row exists" is what the zone statements test.
snoozes = Table(
    "snoozes",
    metadata,
    Column(
        "person_id",
        UUID(as_uuid=True),
        ForeignKey("persons.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item_kind", Text, primary_key=True),
    Column("item_id", UUID(as_uuid=True), primary_key=True),
    _engagement_fk(),
    Column("until", DateTime(timezone=True), nullable=False),
    _now("created_at"),
    Index("ix_snoozes_until", "until"),
    Index("ix_snoozes_item", "item_kind", "item_id"),
)

claims = Table(
    "claims",
    metadata,
    Column("item_kind", Text, primary_key=True),
    Column("item_id", UUID(as_uuid=True), primary_key=True),
    _engagement_fk(),
    Column(
        "person_id",
        UUID(as_uuid=True),
        ForeignKey("persons.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("claimed_until", DateTime(timezone=True), nullable=False),
    _now("created_at"),
    Index("ix_claims_claimed_until", "claimed_until"),
    Index("ix_claims_person", "person_id"),
)

# After the tables: an index on an expression needs the table's columns to build it from.
for _table in list(metadata.tables.values()):
    _search_indexes(_table)


DATA_TABLES = (
    claims,
    snoozes,
    webhook_stalls,
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
    webhooks,
    access_tokens,
    login_failures,
    dashboard_person_versions,
    dashboard_counts,
    decisions,
    render_files,
    renders,
    assertions,
    shapes,
    external_production_records,
    render_jobs,
    shaping_jobs,
    engagement_memberships,
    engagements,
    sessions,
    persons,
)
