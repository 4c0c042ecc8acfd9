"""substrate schema: every table of the data contract (docs/concepts.md), plus the cursor signing key

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:56:22.689011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagements",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagements")),
    )
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_persons_email_lower_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("email", name=op.f("uq_persons_email")),
    )
    op.create_table(
        "assertions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('held', 'committed', 'withdrawn')", name=op.f("ck_assertions_state_valid")
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_assertions_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assertions")),
    )
    op.create_index("ix_assertions_engagement", "assertions", ["engagement_id"], unique=False)
    op.create_index(
        "ix_assertions_held",
        "assertions",
        ["engagement_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("state = 'held'"),
    )
    op.create_table(
        "engagement_memberships",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("designation", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "designation IN ('owner', 'operator', 'viewer')",
            name=op.f("ck_engagement_memberships_designation_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_engagement_memberships_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_engagement_memberships_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_memberships")),
        sa.UniqueConstraint(
            "person_id", "engagement_id", name="uq_engagement_memberships_person_engagement"
        ),
    )
    op.create_index(
        op.f("ix_engagement_memberships_engagement_id"),
        "engagement_memberships",
        ["engagement_id"],
        unique=False,
    )
    op.create_table(
        "external_production_records",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "status IN ('awaiting_external', 'received', 'failed', 'cancelled')",
            name=op.f("ck_external_production_records_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_external_production_records_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_production_records")),
    )
    op.create_index(
        "ix_external_production_records_awaiting",
        "external_production_records",
        ["engagement_id", sa.literal_column("started_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("status = 'awaiting_external'"),
    )
    op.create_index(
        "ix_external_production_records_engagement",
        "external_production_records",
        ["engagement_id"],
        unique=False,
    )
    op.create_table(
        "render_jobs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("render_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.Column(
            "summary_counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'dispatched', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_render_jobs_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_render_jobs_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_render_jobs")),
    )
    op.create_index(
        "ix_render_jobs_active",
        "render_jobs",
        ["engagement_id", sa.literal_column("started_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'dispatched')"),
    )
    op.create_index("ix_render_jobs_engagement", "render_jobs", ["engagement_id"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "token_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_sessions_token_hash_sha256_hex")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_sessions_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index(op.f("ix_sessions_person_id"), "sessions", ["person_id"], unique=False)
    op.create_table(
        "shapes",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("shape_type", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending_confirmation', 'confirmed', 'rejected')",
            name=op.f("ck_shapes_state_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_shapes_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shapes")),
    )
    op.create_index("ix_shapes_engagement", "shapes", ["engagement_id"], unique=False)
    op.create_index(
        "ix_shapes_pending",
        "shapes",
        ["engagement_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("state = 'pending_confirmation'"),
    )
    op.create_table(
        "shaping_jobs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("shape_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "summary_counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'dispatched', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_shaping_jobs_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_shaping_jobs_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shaping_jobs")),
    )
    op.create_index(
        "ix_shaping_jobs_active",
        "shaping_jobs",
        ["engagement_id", sa.literal_column("started_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'dispatched')"),
    )
    op.create_index("ix_shaping_jobs_engagement", "shaping_jobs", ["engagement_id"], unique=False)
    op.create_table(
        "renders",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("engagement_id", sa.UUID(), nullable=False),
        sa.Column("render_job_id", sa.UUID(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("display_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("content_kind", sa.Text(), nullable=False),
        sa.Column("inline_content", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "content_kind IN ('inline_dict', 'binary_blob', 'multi_file')",
            name=op.f("ck_renders_content_kind_valid"),
        ),
        sa.CheckConstraint(
            "state <> 'produced' OR completed_at IS NOT NULL",
            name=op.f("ck_renders_produced_has_completed_at"),
        ),
        sa.CheckConstraint(
            "state IN ('producing', 'produced', 'failed')", name=op.f("ck_renders_state_valid")
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_renders_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["render_job_id"],
            ["render_jobs.id"],
            name=op.f("fk_renders_render_job_id_render_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renders")),
    )
    op.create_index(
        "ix_renders_awaiting_review",
        "renders",
        ["engagement_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("state = 'produced' AND reviewed_at IS NULL"),
    )
    op.create_index("ix_renders_engagement", "renders", ["engagement_id"], unique=False)
    op.create_index(
        "ix_renders_produced",
        "renders",
        ["engagement_id", sa.literal_column("completed_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("state = 'produced'"),
    )
    op.create_index(op.f("ix_renders_render_job_id"), "renders", ["render_job_id"], unique=False)
    op.create_table(
        "render_files",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("render_id", sa.UUID(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("byte_size >= 0", name=op.f("ck_render_files_byte_size_non_negative")),
        sa.ForeignKeyConstraint(
            ["render_id"],
            ["renders.id"],
            name=op.f("fk_render_files_render_id_renders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_render_files")),
    )
    op.create_index(op.f("ix_render_files_render_id"), "render_files", ["render_id"], unique=False)
    # Uncompressed out-of-line storage lets downloads read a file slice by slice.
    op.execute("ALTER TABLE render_files ALTER COLUMN content SET STORAGE EXTERNAL")
    # 32 random bytes from two v4 UUIDs (244 random bits), made once per installation.
    op.execute(
        "INSERT INTO instance_secrets (name, secret) VALUES ('cursor', "
        "uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_render_files_render_id"), table_name="render_files")
    op.drop_table("render_files")
    op.drop_index(op.f("ix_renders_render_job_id"), table_name="renders")
    op.drop_index(
        "ix_renders_produced", table_name="renders", postgresql_where=sa.text("state = 'produced'")
    )
    op.drop_index("ix_renders_engagement", table_name="renders")
    op.drop_index(
        "ix_renders_awaiting_review",
        table_name="renders",
        postgresql_where=sa.text("state = 'produced' AND reviewed_at IS NULL"),
    )
    op.drop_table("renders")
    op.drop_index("ix_shaping_jobs_engagement", table_name="shaping_jobs")
    op.drop_index(
        "ix_shaping_jobs_active",
        table_name="shaping_jobs",
        postgresql_where=sa.text("status IN ('queued', 'dispatched')"),
    )
    op.drop_table("shaping_jobs")
    op.drop_index(
        "ix_shapes_pending",
        table_name="shapes",
        postgresql_where=sa.text("state = 'pending_confirmation'"),
    )
    op.drop_index("ix_shapes_engagement", table_name="shapes")
    op.drop_table("shapes")
    op.drop_index(op.f("ix_sessions_person_id"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("ix_render_jobs_engagement", table_name="render_jobs")
    op.drop_index(
        "ix_render_jobs_active",
        table_name="render_jobs",
        postgresql_where=sa.text("status IN ('queued', 'dispatched')"),
    )
    op.drop_table("render_jobs")
    op.drop_index(
        "ix_external_production_records_engagement", table_name="external_production_records"
    )
    op.drop_index(
        "ix_external_production_records_awaiting",
        table_name="external_production_records",
        postgresql_where=sa.text("status = 'awaiting_external'"),
    )
    op.drop_table("external_production_records")
    op.drop_index(
        op.f("ix_engagement_memberships_engagement_id"), table_name="engagement_memberships"
    )
    op.drop_table("engagement_memberships")
    op.drop_index(
        "ix_assertions_held", table_name="assertions", postgresql_where=sa.text("state = 'held'")
    )
    op.drop_index("ix_assertions_engagement", table_name="assertions")
    op.drop_table("assertions")
    op.drop_table("persons")
    op.drop_table("instance_secrets")
    op.drop_table("engagements")
