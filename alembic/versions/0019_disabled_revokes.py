"""disabled revokes: disabling a person (any UPDATE of persons.disabled_at) also ends their
live sessions and personal access tokens in the same transaction, so clearing disabled_at
again revives none of them; those of persons disabled before this revision are ended now.
The trigger and its function are renamed person_disabled (they no longer only switch
webhooks off)

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: db/people.py DISABLED_FUNCTION_SQL and DISABLED_TRIGGER_SQL at this revision.
FUNCTION_SQL = """\
CREATE OR REPLACE FUNCTION person_disabled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_deliveries d
    SET state = 'failed', completed_at = now()
    FROM webhooks w
    WHERE w.id = d.webhook_id AND w.person_id = NEW.id AND d.state = 'pending';
    UPDATE webhooks
    SET active = false, deactivated_at = now(), deactivated_reason = 'Deactivated: its owner was disabled.'
    WHERE person_id = NEW.id AND active;
    UPDATE sessions SET revoked_at = now()
    WHERE person_id = NEW.id AND revoked_at IS NULL AND expires_at > now();
    UPDATE access_tokens SET revoked_at = now()
    WHERE person_id = NEW.id AND revoked_at IS NULL AND expires_at > now();
    RETURN NULL;
END
$$"""
TRIGGER_SQL = (
    "CREATE TRIGGER person_disabled AFTER UPDATE OF disabled_at ON persons "
    "FOR EACH ROW WHEN (NEW.disabled_at IS NOT NULL) "
    "EXECUTE FUNCTION person_disabled()"
)

# Those already disabled (by SQL, which refused but did not revoke): what the trigger would
# have done when they were.
CATCH_UP_SQL = [
    f"""
    UPDATE {table} c SET revoked_at = now()
    FROM persons p
    WHERE p.id = c.person_id AND p.disabled_at IS NOT NULL
      AND c.revoked_at IS NULL AND c.expires_at > now()
    """
    for table in ("sessions", "access_tokens")
]

# 0018's, restored by downgrade.
PREVIOUS_FUNCTION_SQL = """\
CREATE OR REPLACE FUNCTION person_disabled_webhooks_off() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_deliveries d
    SET state = 'failed', completed_at = now()
    FROM webhooks w
    WHERE w.id = d.webhook_id AND w.person_id = NEW.id AND d.state = 'pending';
    UPDATE webhooks
    SET active = false, deactivated_at = now(), deactivated_reason = 'Deactivated: its owner was disabled.'
    WHERE person_id = NEW.id AND active;
    RETURN NULL;
END
$$"""
PREVIOUS_TRIGGER_SQL = (
    "CREATE TRIGGER person_disabled_webhooks_off AFTER UPDATE OF disabled_at ON persons "
    "FOR EACH ROW WHEN (NEW.disabled_at IS NOT NULL) "
    "EXECUTE FUNCTION person_disabled_webhooks_off()"
)


def upgrade() -> None:
    op.execute("DROP TRIGGER person_disabled_webhooks_off ON persons")
    op.execute("DROP FUNCTION person_disabled_webhooks_off()")
    op.execute(FUNCTION_SQL)
    op.execute(TRIGGER_SQL)
    for statement in CATCH_UP_SQL:
        op.execute(statement)


def downgrade() -> None:
    # What it revoked stays revoked: the person signs in again and makes new tokens.
    op.execute("DROP TRIGGER person_disabled ON persons")
    op.execute("DROP FUNCTION person_disabled()")
    op.execute(PREVIOUS_FUNCTION_SQL)
    op.execute(PREVIOUS_TRIGGER_SQL)
