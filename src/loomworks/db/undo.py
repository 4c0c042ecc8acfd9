"""Undoing a decision: the decider, soon after, puts the item back exactly as it was.

Three guarded statements in one transaction: the decision is marked undone (only by its
decider, once, within the window), the item gets back what the decision replaced (only while
it is still as the decision left it), and a retry's new record is cancelled (only while it
still waits on the provider). Any of them matching nothing means the undo is refused and,
rolled back, changes nothing. docs/decisions.md has the rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core import labels
from loomworks.core.kinds import SOURCE_OF
from loomworks.core.states import ExternalStatus
from loomworks.db.decisions import RecordedDecision, recorded
from loomworks.db.tables import decisions, external_production_records, metadata


@dataclass(frozen=True)
class Undone:
    """The decision, now undone; `changed` is False when it had been undone already."""

    recorded: RecordedDecision
    changed: bool


class DecisionUnknown(Exception):
    """No such decision in that engagement."""


class NotTheDecider(Exception):
    """Someone else took the decision: only they may undo it."""


class CannotUndo(Exception):
    """The decision stands and can no longer be undone; the message says why."""


async def undo(
    conn: AsyncConnection,
    *,
    engagement_id: uuid.UUID,
    decision_id: uuid.UUID,
    person_id: uuid.UUID,
    window: timedelta,
) -> Undone:
    """Undo the decision in the caller's transaction (commit it to make it count; roll back
    on any of the exceptions above)."""
    marked = (
        await conn.execute(
            update(decisions)
            .where(
                decisions.c.id == decision_id,
                decisions.c.engagement_id == engagement_id,
                decisions.c.person_id == person_id,
                decisions.c.undone_at.is_(None),
                decisions.c.decided_at > func.now() - window,
            )
            .values(undone_at=func.now())
            .returning(
                decisions.c.item_kind,
                decisions.c.item_id,
                decisions.c.decision,
                decisions.c.outcome,
                decisions.c.prior_outcome,
                decisions.c.prior_stamp,
                decisions.c.decided_at,
                decisions.c.follow_up_id,
            )
        )
    ).one_or_none()
    if marked is None:
        return await _not_marked(conn, engagement_id, decision_id, person_id, window)
    await _restore(conn, engagement_id, marked)
    if marked.follow_up_id is not None:
        await _cancel_follow_up(conn, marked.follow_up_id)
    undone = await recorded(conn, decision_id)
    assert undone is not None
    return Undone(undone, changed=True)


async def _not_marked(
    conn: AsyncConnection,
    engagement_id: uuid.UUID,
    decision_id: uuid.UUID,
    person_id: uuid.UUID,
    window: timedelta,
) -> Undone:
    """Why the decision was not marked: unknown, someone else's, undone already (a repeat,
    answered as the first time), or too old."""
    decision = await recorded(conn, decision_id)
    if decision is None or decision.engagement_id != engagement_id:
        raise DecisionUnknown()
    if decision.person_id != person_id:
        raise NotTheDecider()
    if decision.undone_at is not None:
        return Undone(decision, changed=False)
    raise CannotUndo(labels.undo_too_late(window))


async def _restore(conn: AsyncConnection, engagement_id: uuid.UUID, marked: Any) -> None:
    """Put back what the decision replaced, if the item is still as the decision left it
    (its outcome, stamped at the moment of the decision)."""
    source = SOURCE_OF[marked.item_kind]
    decision = source.decision(marked.decision)
    if decision is None:  # a decision the registry no longer knows: leave it be
        raise CannotUndo(labels.undo_moved_on(None))
    table = metadata.tables[source.table]
    item = (table.c.id == marked.item_id, table.c.engagement_id == engagement_id)
    restored = (
        await conn.execute(
            update(table)
            .where(
                *item,
                table.c[decision.column] == marked.outcome,
                table.c[decision.stamp] == marked.decided_at,
            )
            .values({decision.column: marked.prior_outcome, decision.stamp: marked.prior_stamp})
            .returning(table.c.id)
        )
    ).one_or_none()
    if restored is None:
        state = (
            await conn.execute(select(table.c[source.state_column]).where(*item))
        ).scalar_one_or_none()
        raise CannotUndo(labels.undo_moved_on(state))


async def _cancel_follow_up(conn: AsyncConnection, follow_up_id: uuid.UUID) -> None:
    """A retry's new record is cancelled, if it still waits on the provider."""
    records = external_production_records
    cancelled = (
        await conn.execute(
            update(records)
            .where(
                records.c.id == follow_up_id,
                records.c.status == ExternalStatus.AWAITING_EXTERNAL,
            )
            .values(status=ExternalStatus.CANCELLED)
            .returning(records.c.id)
        )
    ).one_or_none()
    if cancelled is None:
        status = (
            await conn.execute(select(records.c.status).where(records.c.id == follow_up_id))
        ).scalar_one_or_none()
        raise CannotUndo(labels.retry_moved_on(status))
