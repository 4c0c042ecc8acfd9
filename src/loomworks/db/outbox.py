"""The webhook outbox: what the triggers on the source tables record in the transaction that
made a change (an item entering needs_you, a job ending failed), the periodic scan that
records stalled jobs, and how the sender takes what was recorded.

As with db/counters.py, migrations install the trigger functions with their own frozen
lists (`Recorded`) and the drift test checks them against the registry; to change the SQL,
add new functions beside these and a migration that installs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import SOURCE_OF, sources_in
from loomworks.core.rows import ROW_CLASSES, ZoneRow
from loomworks.core.states import Zone
from loomworks.core.webhooks import WebhookEvent
from loomworks.db.counters import _per_operation
from loomworks.db.dashboard import source_rows
from loomworks.db.tables import metadata, webhook_events

# (event, item kind, predicate with "{r}" standing for the row's table alias)
Recorded = Sequence[tuple[str, str, str]]

# Nothing is recorded while no webhook is active: the outbox costs a write nothing then.
_ANY_ACTIVE = "IF NOT EXISTS (SELECT 1 FROM webhooks WHERE active) THEN RETURN NULL; END IF;"
_COLUMNS = "INSERT INTO webhook_events (event, engagement_id, item_kind, item_id) "


def _entered(recorded: Recorded, *, update: bool) -> str:
    """The rows the statement moved into a predicate, one outbox row each."""
    arms = []
    for event, kind, predicate in recorded:
        select_ = f"SELECT '{event}', n.engagement_id, '{kind}', n.id FROM new_rows n"
        if update:  # only a row that was not already in it
            select_ += (
                f" JOIN old_rows o ON o.id = n.id WHERE ({predicate.format(r='n')})"
                f" AND ({predicate.format(r='o')}) IS NOT TRUE"
            )
        else:
            select_ += f" WHERE {predicate.format(r='n')}"
        arms.append(select_)
    return f"{_ANY_ACTIVE}\n        {_COLUMNS}{' UNION ALL '.join(arms)};"


def function_sql(table: str, recorded: Recorded) -> str:
    """CREATE OR REPLACE the statement-level outbox function of `table`."""
    return _per_operation(
        f"webhook_outbox_{table}",
        {
            "INSERT": _entered(recorded, update=False),
            "UPDATE": _entered(recorded, update=True),
        },
    )


_TRIGGERS = {
    "insert": "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def create_triggers_sql(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER webhook_outbox_{event} {clause.format(table=table)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox_{table}()"
        for event, clause in _TRIGGERS.items()
    ]


def drop_sql(table: str) -> list[str]:
    return [
        *(f"DROP TRIGGER webhook_outbox_{event} ON {table}" for event in _TRIGGERS),
        f"DROP FUNCTION webhook_outbox_{table}()",
    ]


# --- taking what was recorded ----------------------------------------------------------------


class OutboxEvent(NamedTuple):
    id: int
    event: str
    engagement_id: uuid.UUID
    item_kind: str
    item_id: uuid.UUID
    occurred_at: datetime


async def take_events(conn: AsyncConnection, *, limit: int) -> list[OutboxEvent]:
    """The oldest recorded events no other sender holds, locked until this transaction ends
    (the caller fans them out and deletes them in it)."""
    rows = await conn.execute(
        select(*(webhook_events.c[name] for name in OutboxEvent._fields))
        .order_by(webhook_events.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [OutboxEvent._make(row) for row in rows]


async def forget_events(conn: AsyncConnection, ids: Sequence[int]) -> None:
    await conn.execute(
        delete(webhook_events).where(
            webhook_events.c.id == bindparam("ids", type_=ARRAY(BIGINT)).any_()
        ),
        {"ids": list(ids)},
    )


# --- stalled jobs ----------------------------------------------------------------------------


def _stalled_jobs() -> str:
    """Every running job silent since before :silent_since, as (engagement, kind, id, mark)."""
    return " UNION ALL ".join(
        f"SELECT engagement_id, '{source.kind}' AS item_kind, id, progress_updated_at "
        f"FROM {source.table} WHERE {source.predicate()} AND progress_updated_at <= :silent_since"
        for source in sources_in(Zone.ACTIVE)
    )


# A stall is announced once: its mark (the job and its last progress write) is inserted by one
# process, whichever commits first; a job that writes progress again can stall again.
_RECORD_STALLS = text(
    f"""WITH stalled AS ({_stalled_jobs()}),
subscribed AS (
    SELECT 1 FROM webhooks WHERE active AND '{WebhookEvent.JOB_STALLED}' = ANY(events) LIMIT 1
),
noted AS (
    INSERT INTO webhook_stalls (job_id, progress_updated_at)
    SELECT id, progress_updated_at FROM stalled WHERE EXISTS (SELECT 1 FROM subscribed)
    ON CONFLICT DO NOTHING RETURNING job_id
)
{_COLUMNS}SELECT '{WebhookEvent.JOB_STALLED}', s.engagement_id, s.item_kind, s.id
FROM stalled s JOIN noted n ON n.job_id = s.id"""
)

# Marks of jobs that have since written progress or stopped running are no longer needed.
_FORGET_STALLS = text(
    "DELETE FROM webhook_stalls s WHERE "
    + " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {source.table} j WHERE j.id = s.job_id "
        f"AND j.progress_updated_at = s.progress_updated_at AND {source.predicate('j')})"
        for source in sources_in(Zone.ACTIVE)
    )
)


async def record_stalls(conn: AsyncConnection, *, stall_after: timedelta, now: datetime) -> int:
    """Record job.stalled for each running job that went silent and was not yet announced;
    how many were."""
    result = await conn.execute(_RECORD_STALLS, {"silent_since": now - stall_after})
    await conn.execute(_FORGET_STALLS)
    return int(result.rowcount or 0)


async def item_rows(conn: AsyncConnection, *, kind: str, ids: Sequence[uuid.UUID]) -> list[ZoneRow]:
    """The items of `kind` with those ids as their zone's rows, as they are now (gone ones
    are absent)."""
    source = SOURCE_OF[kind]
    table = metadata.tables[source.table]
    rows = await conn.execute(source_rows(source).where(table.c.id.in_(list(ids))))
    row_class = ROW_CLASSES[source.zone]
    return [row_class._make(row) for row in rows]
