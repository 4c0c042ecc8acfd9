"""disabled webhooks: disabling a person (any UPDATE of persons.disabled_at) switches their
webhooks off and ends their pending deliveries in the same transaction; webhooks of persons
disabled before this revision are switched off now

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: db/people.py DISABLED_WEBHOOKS_FUNCTION_SQL and _TRIGGER_SQL at this revision.
FUNCTION_SQL = """\
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
TRIGGER_SQL = (
    "CREATE TRIGGER person_disabled_webhooks_off AFTER UPDATE OF disabled_at ON persons "
    "FOR EACH ROW WHEN (NEW.disabled_at IS NOT NULL) "
    "EXECUTE FUNCTION person_disabled_webhooks_off()"
)

# Those already disabled: what the trigger would have done when they were.
CATCH_UP_SQL = [
    """
    UPDATE webhook_deliveries d
    SET state = 'failed', completed_at = now()
    FROM webhooks w JOIN persons p ON p.id = w.person_id
    WHERE w.id = d.webhook_id AND p.disabled_at IS NOT NULL AND d.state = 'pending'
    """,
    """
    UPDATE webhooks w
    SET active = false, deactivated_at = now(),
        deactivated_reason = 'Deactivated: its owner was disabled.'
    FROM persons p
    WHERE p.id = w.person_id AND p.disabled_at IS NOT NULL AND w.active
    """,
]


def upgrade() -> None:
    op.execute(FUNCTION_SQL)
    op.execute(TRIGGER_SQL)
    for statement in CATCH_UP_SQL:
        op.execute(statement)


def downgrade() -> None:
    # The webhooks it switched off stay off: their owners turn them back on with a ping.
    op.execute("DROP TRIGGER person_disabled_webhooks_off ON persons")
    op.execute("DROP FUNCTION person_disabled_webhooks_off()")
