"""triage: per-person snoozes and per-item claims ("on it"), each deleted when it lapses

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid(name: str, **kwargs: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, postgresql.UUID(as_uuid=True), nullable=False, **kwargs)  # type: ignore[arg-type]


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _foreign_keys(table: str) -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            [f"{target}_id"],
            [f"{target}s.id"],
            name=f"fk_{table}_{target}_id_{target}s",
            ondelete="CASCADE",
        )
        for target in ("person", "engagement")
    ]


def upgrade() -> None:
    op.create_table(
        "snoozes",
        _uuid("person_id"),
        sa.Column("item_kind", sa.Text(), nullable=False),
        _uuid("item_id"),
        _uuid("engagement_id"),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
        *_foreign_keys("snoozes"),
        sa.PrimaryKeyConstraint("person_id", "item_kind", "item_id", name="pk_snoozes"),
    )
    op.create_index("ix_snoozes_until", "snoozes", ["until"])
    op.create_index("ix_snoozes_item", "snoozes", ["item_kind", "item_id"])
    op.create_table(
        "claims",
        sa.Column("item_kind", sa.Text(), nullable=False),
        _uuid("item_id"),
        _uuid("engagement_id"),
        _uuid("person_id"),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
        *_foreign_keys("claims"),
        sa.PrimaryKeyConstraint("item_kind", "item_id", name="pk_claims"),
    )
    op.create_index("ix_claims_claimed_until", "claims", ["claimed_until"])
    op.create_index("ix_claims_person", "claims", ["person_id"])


def downgrade() -> None:
    op.drop_table("claims")
    op.drop_table("snoozes")
