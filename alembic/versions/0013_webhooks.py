"""webhooks: a person's webhooks, the outbox the source tables' triggers write in the
transaction of each change, deliveries with their attempts, and the stalls announced

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from loomworks.db import outbox

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: what each table's outbox trigger records at this revision.
RECORDED = {
    "shaping_jobs": [("job.failed", "shape_production", "{r}.status = 'failed'")],
    "render_jobs": [("job.failed", "render_production", "{r}.status = 'failed'")],
    "external_production_records": [
        ("job.failed", "external_polling", "{r}.status = 'failed'"),
        (
            "needs_you.arrived",
            "external_failure",
            "{r}.status = 'failed' AND {r}.resolved_at IS NULL",
        ),
    ],
    "shapes": [("needs_you.arrived", "pending_shape", "{r}.state = 'pending_confirmation'")],
    "assertions": [("needs_you.arrived", "held_assertion", "{r}.state = 'held'")],
    "renders": [
        (
            "needs_you.arrived",
            "produced_render_for_review",
            "{r}.state = 'produced' AND {r}.reviewed_at IS NULL",
        )
    ],
}


def _uuid() -> postgresql.UUID:  # type: ignore[type-arg]
    return postgresql.UUID(as_uuid=True)


def _now(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", _uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        _id(),
        sa.Column("person_id", _uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("engagement_ids", postgresql.ARRAY(_uuid()), nullable=True),
        _now("created_at"),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "cardinality(events) > 0 AND "
            "events <@ ARRAY['needs_you.arrived', 'job.failed', 'job.stalled']::text[]",
            name=op.f("ck_webhooks_events_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_webhooks_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_person_id"), "webhooks", ["person_id"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("engagement_id", _uuid(), nullable=False),
        sa.Column("item_kind", sa.Text(), nullable=False),
        sa.Column("item_id", _uuid(), nullable=False),
        _now("occurred_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    _deliveries()
    op.create_table(
        "webhook_stalls",
        sa.Column("job_id", _uuid(), nullable=False),
        sa.Column("progress_updated_at", sa.DateTime(timezone=True), nullable=False),
        _now("noted_at"),
        sa.PrimaryKeyConstraint("job_id", "progress_updated_at", name=op.f("pk_webhook_stalls")),
    )
    for table, recorded in RECORDED.items():
        op.execute(outbox.function_sql(table, recorded))
        for statement in outbox.create_triggers_sql(table):
            op.execute(statement)


def _deliveries() -> None:
    op.create_table(
        "webhook_deliveries",
        _id(),
        sa.Column("webhook_id", _uuid(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("engagement_id", _uuid(), nullable=True),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        _now("created_at"),
        sa.Column("state", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _now("next_attempt_at"),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed', 'dropped')",
            name=op.f("ck_webhook_deliveries_state_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_webhook_deliveries_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_completed_at", "webhook_deliveries", ["completed_at"])
    op.create_index(op.f("ix_webhook_deliveries_webhook_id"), "webhook_deliveries", ["webhook_id"])
    op.create_table(
        "webhook_attempts",
        _id(),
        sa.Column("delivery_id", _uuid(), nullable=False),
        sa.Column("webhook_id", _uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _now("at"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_attempts_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"])
    op.create_index(
        "ix_webhook_attempts_webhook",
        "webhook_attempts",
        ["webhook_id", sa.text("at DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    for table in RECORDED:
        for statement in outbox.drop_sql(table):
            op.execute(statement)
    for table in (
        "webhook_stalls",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_events",
        "webhooks",
    ):
        op.drop_table(table)
