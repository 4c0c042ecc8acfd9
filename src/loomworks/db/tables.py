"""Table metadata: the data contract of SPEC section 2, mirrored by the Alembic migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DESIGNATIONS = ("owner", "operator", "viewer")
JOB_STATUSES = ("queued", "dispatched", "completed", "failed", "cancelled")
ACTIVE_JOB_STATUSES = ("queued", "dispatched")
EXTERNAL_STATUSES = ("awaiting_external", "received", "failed", "cancelled")
SHAPE_STATES = ("pending_confirmation", "confirmed", "rejected")
ASSERTION_STATES = ("held", "committed", "withdrawn")
RENDER_STATES = ("producing", "produced", "failed")
CONTENT_KINDS = ("inline_dict", "binary_blob", "multi_file")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


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


def _newest_first(name: str, key: str, where: str) -> Index:
    """A zone's newest rows across all engagements (the dashboard's fast path, migration 0003);
    engagement_id rides along so the walk never visits the table."""
    return Index(
        name,
        text(f"{key} DESC"),
        text("id DESC"),
        postgresql_where=text(where),
        postgresql_include=["engagement_id"],
    )


def _json(name: str, *, nullable: bool) -> Column[Any]:
    return Column(name, JSONB, nullable=nullable, server_default=text("'{}'::jsonb"))


persons = Table(
    "persons",
    metadata,
    _id(),
    Column("email", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("password_hash", Text, nullable=True),
    _now("created_at"),
    CheckConstraint("email = lower(email)", name="email_lower_case"),
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    Column(
        "person_id",
        UUID(as_uuid=True),
        ForeignKey("persons.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("token_hash", Text, nullable=False, unique=True),
    _now("created_at"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("token_hash ~ '^[0-9a-f]{64}$'", name="token_hash_sha256_hex"),
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
    Column(
        "person_id",
        UUID(as_uuid=True),
        ForeignKey("persons.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "engagement_id",
        UUID(as_uuid=True),
        ForeignKey("engagements.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("designation", Text, nullable=False),
    _now("created_at"),
    UniqueConstraint(
        "person_id", "engagement_id", name="uq_engagement_memberships_person_engagement"
    ),
    CheckConstraint(_in("designation", DESIGNATIONS), name="designation_valid"),
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
        CheckConstraint(_in("status", JOB_STATUSES), name="status_valid"),
        Index(f"ix_{name}_engagement", "engagement_id"),
        # The active dashboard zone walks running jobs newest first per engagement.
        Index(
            f"ix_{name}_active",
            "engagement_id",
            text("started_at DESC"),
            text("id DESC"),
            postgresql_where=text(_in("status", ACTIVE_JOB_STATUSES)),
        ),
        _newest_first(f"ix_{name}_active_newest", "started_at", _in("status", ACTIVE_JOB_STATUSES)),
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
    CheckConstraint(_in("status", EXTERNAL_STATUSES), name="status_valid"),
    Index("ix_external_production_records_engagement", "engagement_id"),
    Index(
        "ix_external_production_records_awaiting",
        "engagement_id",
        text("started_at DESC"),
        text("id DESC"),
        postgresql_where=text("status = 'awaiting_external'"),
    ),
    _newest_first(
        "ix_external_production_records_awaiting_newest",
        "started_at",
        "status = 'awaiting_external'",
    ),
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
    CheckConstraint(_in("state", SHAPE_STATES), name="state_valid"),
    Index("ix_shapes_engagement", "engagement_id"),
    Index(
        "ix_shapes_pending",
        "engagement_id",
        text("created_at DESC"),
        text("id DESC"),
        postgresql_where=text("state = 'pending_confirmation'"),
    ),
    _newest_first("ix_shapes_pending_newest", "created_at", "state = 'pending_confirmation'"),
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
    CheckConstraint(_in("state", ASSERTION_STATES), name="state_valid"),
    Index("ix_assertions_engagement", "engagement_id"),
    Index(
        "ix_assertions_held",
        "engagement_id",
        text("created_at DESC"),
        text("id DESC"),
        postgresql_where=text("state = 'held'"),
    ),
    _newest_first("ix_assertions_held_newest", "created_at", "state = 'held'"),
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
    CheckConstraint(_in("state", RENDER_STATES), name="state_valid"),
    CheckConstraint(_in("content_kind", CONTENT_KINDS), name="content_kind_valid"),
    CheckConstraint(
        "state <> 'produced' OR completed_at IS NOT NULL", name="produced_has_completed_at"
    ),
    Index("ix_renders_engagement", "engagement_id"),
    Index(
        "ix_renders_produced",
        "engagement_id",
        text("completed_at DESC"),
        text("id DESC"),
        postgresql_where=text("state = 'produced'"),
    ),
    Index(
        "ix_renders_awaiting_review",
        "engagement_id",
        text("created_at DESC"),
        text("id DESC"),
        postgresql_where=text("state = 'produced' AND reviewed_at IS NULL"),
    ),
    _newest_first("ix_renders_produced_newest", "completed_at", "state = 'produced'"),
    _newest_first(
        "ix_renders_awaiting_review_newest",
        "created_at",
        "state = 'produced' AND reviewed_at IS NULL",
    ),
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
dashboard_counts = Table(
    "dashboard_counts",
    metadata,
    Column(
        "engagement_id",
        UUID(as_uuid=True),
        ForeignKey("engagements.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item_kind", Text, primary_key=True),
    Column("n", BigInteger, nullable=False, server_default=text("0")),
    CheckConstraint("n >= 0", name="n_non_negative"),
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
    Index("ix_login_failures_client_address_failed_at", "client_address", "failed_at"),
    Index("ix_login_failures_failed_at", "failed_at"),
)


DATA_TABLES = (
    login_failures,
    dashboard_counts,
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
