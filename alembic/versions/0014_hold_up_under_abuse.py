"""hold up under abuse: failed sign-ins counted per (email, client address), so that a few
wrong passwords from one address no longer lock a person out from every other address; a
person can be disabled (no sign-in, no session) while their decisions stay on record

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("persons", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_login_failures_email_client_address_failed_at",
        "login_failures",
        ["email", "client_address", "failed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_email_client_address_failed_at", "login_failures")
    op.drop_column("persons", "disabled_at")
