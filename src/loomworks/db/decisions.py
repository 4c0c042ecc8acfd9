"""Decisions on needs_you items: one guarded UPDATE picks the single winner, the history row is
appended in the same transaction, and a repeat by the same person answers what was recorded.

docs/decisions.md explains the state machines, who may decide and the concurrency rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Table,
    Text,
    func,
    insert,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import Decision, Source, sources_in
from loomworks.core.labels import LabelParts
from loomworks.core.rows import Position
from loomworks.core.states import ExternalStatus, Zone
from loomworks.db.jobs import payload_columns
from loomworks.db.renders import has_download
from loomworks.db.tables import decisions, engagements, metadata, persons


@dataclass(frozen=True)
class RecordedDecision:
    """A row of the decision history, with the decider's name."""

    id: uuid.UUID
    engagement_id: uuid.UUID
    item_kind: str
    item_id: uuid.UUID
    item_label: str
    decision: str
    outcome: str
    person_id: uuid.UUID
    person_name: str
    decided_at: datetime
    note: str | None
    follow_up_id: uuid.UUID | None


@dataclass(frozen=True)
class Decided:
    """What a decide() call did: `recorded` is the decision now on record for the item, and
    `won` says whether this call made it (False: a safe repeat of the same person's decision)."""

    recorded: RecordedDecision
    won: bool


class ItemUnknown(Exception):
    """No such item in that engagement."""


class ItemNotWaiting(Exception):
    """The item no longer waits for this decision; `last` is the decision that ended the wait,
    if one was recorded (it may also have been changed by job code)."""

    def __init__(self, state: str, last: RecordedDecision | None) -> None:
        super().__init__(state)
        self.state = state
        self.last = last


def _table(source: Source) -> Table:
    return metadata.tables[source.table]


def _waiting(source: Source) -> ColumnElement[bool]:
    # The needs_you predicate itself: an item waits exactly while it is in the zone.
    return literal_column(f"({source.predicate(source.table)})", Boolean)


def _label_parts(source: Source, table: Table) -> list[ColumnElement[Any]]:
    """The columns of LabelParts (text, extra, number), as the source's payload maps them."""
    return payload_columns(
        source, table, {"label_text": Text, "label_extra": Text, "display_number": Integer}
    )


_RECORDED = (
    decisions.c.id,
    decisions.c.engagement_id,
    decisions.c.item_kind,
    decisions.c.item_id,
    decisions.c.item_label,
    decisions.c.decision,
    decisions.c.outcome,
    decisions.c.person_id,
    persons.c.display_name.label("person_name"),
    decisions.c.decided_at,
    decisions.c.note,
    decisions.c.follow_up_id,
)


async def decide(
    conn: AsyncConnection,
    source: Source,
    decision: Decision,
    *,
    engagement_id: uuid.UUID,
    item_id: uuid.UUID,
    person_id: uuid.UUID,
    note: str | None,
) -> Decided:
    """Take `decision` on the item, in the caller's transaction (commit it to make the
    decision count); ItemUnknown or ItemNotWaiting otherwise.

    The UPDATE only matches while the item still waits, so of any number of concurrent
    deciders exactly one gets a row back; the others wait for its commit, match nothing, and
    then read its decision from the history (each statement sees what was committed before
    it: READ COMMITTED)."""
    table = _table(source)
    item = (table.c.id == item_id, table.c.engagement_id == engagement_id)
    changed = (
        await conn.execute(
            update(table)
            .where(*item, _waiting(source))
            .values({decision.column: decision.outcome, decision.stamp: func.now()})
            .returning(*_label_parts(source, table), *_restart_columns(table, decision))
        )
    ).one_or_none()
    if changed is None:
        return await _already_decided(conn, source, decision, item, person_id)
    follow_up_id = None
    if decision.restarts:
        follow_up_id = await _restart(conn, table, engagement_id, item_id, changed)
    label = source.label(
        LabelParts(changed.label_text, changed.label_extra, changed.display_number)
    )
    recorded_id = (
        await conn.execute(
            insert(decisions)
            .values(
                engagement_id=engagement_id,
                item_kind=source.kind,
                item_id=item_id,
                item_label=label,
                decision=decision.name,
                outcome=decision.outcome,
                person_id=person_id,
                note=note,
                follow_up_id=follow_up_id,
            )
            .returning(decisions.c.id)
        )
    ).scalar_one()
    recorded = await _recorded(conn, decisions.c.id == recorded_id)
    assert recorded is not None
    return Decided(recorded, won=True)


def _restart_columns(table: Table, decision: Decision) -> list[ColumnElement[Any]]:
    return [table.c.provider, table.c.description] if decision.restarts else []


async def _restart(
    conn: AsyncConnection, table: Table, engagement_id: uuid.UUID, failed_id: uuid.UUID, row: Any
) -> uuid.UUID:
    """Retry: a new awaiting_external record for the same engagement and provider."""
    provider, description = row.provider, row.description
    new_id: uuid.UUID = (
        await conn.execute(
            insert(table)
            .values(
                engagement_id=engagement_id,
                provider=provider,
                description=description,
                status=ExternalStatus.AWAITING_EXTERNAL,
                retry_of=failed_id,
            )
            .returning(table.c.id)
        )
    ).scalar_one()
    return new_id


async def _already_decided(
    conn: AsyncConnection,
    source: Source,
    decision: Decision,
    item: Sequence[ColumnElement[bool]],
    person_id: uuid.UUID,
) -> Decided:
    """Why the UPDATE matched nothing: the item (`item`: its id and engagement) is unknown,
    or someone decided it; a repeat of the person's own decision is theirs again."""
    table = _table(source)
    state = (
        await conn.execute(select(table.c[source.state_column], table.c.id).where(*item))
    ).one_or_none()
    if state is None:
        raise ItemUnknown()
    last = await _recorded(
        conn, decisions.c.item_id == state.id, decisions.c.item_kind == source.kind
    )
    if last is not None and last.person_id == person_id and last.decision == decision.name:
        return Decided(last, won=False)
    raise ItemNotWaiting(state[0], last)


async def _recorded(conn: AsyncConnection, *where: ColumnElement[bool]) -> RecordedDecision | None:
    """The newest decision matching `where`."""
    row = (
        await conn.execute(
            select(*_RECORDED)
            .join(persons, persons.c.id == decisions.c.person_id)
            .where(*where)
            .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return RecordedDecision(**row._mapping) if row is not None else None


@dataclass(frozen=True)
class ItemDetail:
    """One needs_you source's item, whether or not it still waits."""

    engagement_id: uuid.UUID
    engagement_name: str
    item_id: uuid.UUID
    label_parts: LabelParts
    state: str
    waiting: bool
    key: datetime | None
    downloadable: bool
    last_decision: RecordedDecision | None


async def item_detail(
    conn: AsyncConnection, source: Source, *, engagement_id: uuid.UUID, item_id: uuid.UUID
) -> ItemDetail | None:
    """The item with its state and its newest decision (callers check membership first)."""
    table = _table(source)
    downloadable = (
        has_download(table) if "content_kind" in table.c else literal_column("false", Boolean)
    )
    row = (
        await conn.execute(
            select(
                engagements.c.name,
                *_label_parts(source, table),
                table.c[source.state_column].label("state"),
                _waiting(source).label("waiting"),
                table.c[source.key].label("key"),
                downloadable.label("downloadable"),
            )
            .join(engagements, engagements.c.id == table.c.engagement_id)
            .where(table.c.id == item_id, table.c.engagement_id == engagement_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return ItemDetail(
        engagement_id=engagement_id,
        engagement_name=row.name,
        item_id=item_id,
        label_parts=LabelParts(row.label_text, row.label_extra, row.display_number),
        state=row.state,
        waiting=row.waiting,
        key=row.key,
        downloadable=row.downloadable,
        last_decision=await _recorded(
            conn, decisions.c.item_id == item_id, decisions.c.item_kind == source.kind
        ),
    )


@dataclass(frozen=True)
class HistoryPage:
    rows: list[RecordedDecision]
    total_count: int
    next_after: Position | None


async def decision_history(
    conn: AsyncConnection, *, engagement_id: uuid.UUID, limit: int, after: Position | None
) -> HistoryPage:
    """An engagement's decisions, newest first, `limit` at a time after `after`."""
    query = (
        select(*_RECORDED)
        .join(persons, persons.c.id == decisions.c.person_id)
        .where(decisions.c.engagement_id == engagement_id)
        .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            tuple_(decisions.c.decided_at, decisions.c.id) < tuple_(after.key, after.item_id)
        )
    total = select(func.count()).where(decisions.c.engagement_id == engagement_id)
    rows = [RecordedDecision(**row._mapping) for row in await conn.execute(query)]
    total_count = (await conn.execute(total)).scalar_one()
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage(
        rows=rows,
        total_count=total_count,
        next_after=Position(rows[-1].decided_at, rows[-1].id) if more else None,
    )


@dataclass(frozen=True)
class WaitingItem:
    source: Source
    engagement_id: uuid.UUID
    item_id: uuid.UUID
    key: datetime


async def oldest_waiting(
    conn: AsyncConnection, *, engagement_ids: Sequence[uuid.UUID], limit: int
) -> list[WaitingItem]:
    """The items that have waited longest in these engagements, oldest first (for job code
    and the demo: no membership check)."""
    items = []
    for source in sources_in(Zone.NEEDS_YOU):
        table = _table(source)
        key = table.c[source.key]
        rows = await conn.execute(
            select(table.c.engagement_id, table.c.id, key)
            .where(_waiting(source), table.c.engagement_id.in_(engagement_ids))
            .order_by(key, table.c.id)
            .limit(limit)
        )
        items += [WaitingItem(source, *row) for row in rows]
    return sorted(items, key=lambda item: (item.key, item.item_id))[:limit]
