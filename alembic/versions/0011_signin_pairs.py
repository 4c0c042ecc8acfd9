"""sign-in pairs: failed sign-ins counted per (email, client address), so that a few wrong
passwords from one address no longer lock a person out from every other address

Revision ID: 0011_signin_pairs
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_signin_pairs"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_login_failures_email_client_address_failed_at",
        "login_failures",
        ["email", "client_address", "failed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_email_client_address_failed_at", "login_failures")
