"""Decisions on needs_you items: one guarded UPDATE picks the single winner, the history row is
appended in the same transaction, and a repeat by the same person answers what was recorded.

docs/decisions.md explains the state machines, who may decide and the concurrency rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Integer,
    Select,
    Table,
    Text,
    and_,
    case,
    func,
    insert,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import Decision, Fact, Source, sources_in
from loomworks.core.labels import LabelParts
from loomworks.core.rows import Position
from loomworks.core.states import ExternalStatus, Zone
from loomworks.db.jobs import payload_columns
from loomworks.db.renders import RenderFile, files_of, has_download
from loomworks.db.tables import decisions, engagement_memberships, engagements, metadata, persons


@dataclass(frozen=True)
class RecordedDecision:
    """A row of the decision history, with the decider's name."""

    id: uuid.UUID
    engagement_id: uuid.UUID
    engagement_name: str
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
    undone_at: datetime | None


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
    engagements.c.name.label("engagement_name"),
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
    decisions.c.undone_at,
)
# Where a recorded decision's columns come from: the decider's name, the engagement's name.
_RECORDED_FROM = decisions.join(persons, persons.c.id == decisions.c.person_id).join(
    engagements, engagements.c.id == decisions.c.engagement_id
)
# A decision that still stands: one undone is history, not what the item is now.
STANDING = decisions.c.undone_at.is_(None)


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
    it: READ COMMITTED). An undo committed between the two makes the item wait again: then
    the decision is tried once more."""
    table = _table(source)
    item = (table.c.id == item_id, table.c.engagement_id == engagement_id)
    for _ in range(2):
        changed = (await conn.execute(_taking(source, decision, item))).one_or_none()
        if changed is not None:
            break
        repeat = await _already_decided(conn, source, decision, item, person_id)
        if repeat is not None:
            return repeat
    else:
        raise ItemNotWaiting(source.states[0], None)  # undone and decided again meanwhile
    assert changed is not None
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
                prior_outcome=changed.prior_outcome,
                prior_stamp=changed.prior_stamp,
            )
            .returning(decisions.c.id)
        )
    ).scalar_one()
    recorded = await _recorded(conn, decisions.c.id == recorded_id)
    assert recorded is not None
    return Decided(recorded, won=True)


def _taking(source: Source, decision: Decision, item: Sequence[ColumnElement[bool]]) -> Any:
    """The guarded UPDATE of a decision. It returns what the label reads and, from the row as
    it was (`before`, the same row joined to itself), what the decision replaces: an undo
    puts exactly that back."""
    table = _table(source)
    before = table.alias("before")
    return (
        update(table)
        .where(*item, _waiting(source), before.c.id == table.c.id)
        .values({decision.column: decision.outcome, decision.stamp: func.now()})
        .returning(
            *_label_parts(source, table),
            *_restart_columns(table, decision),
            before.c[decision.column].label("prior_outcome"),
            before.c[decision.stamp].label("prior_stamp"),
        )
    )


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
) -> Decided | None:
    """Why the UPDATE matched nothing: the item (`item`: its id and engagement) is unknown,
    or someone decided it; a repeat of the person's own decision is theirs again. None: the
    item waits again (its decision was undone meanwhile)."""
    table = _table(source)
    state = (
        await conn.execute(
            select(table.c[source.state_column], table.c.id, _waiting(source)).where(*item)
        )
    ).one_or_none()
    if state is None:
        raise ItemUnknown()
    if state[2]:
        return None
    last = await _recorded(
        conn, decisions.c.item_id == state.id, decisions.c.item_kind == source.kind, STANDING
    )
    if last is not None and last.person_id == person_id and last.decision == decision.name:
        return Decided(last, won=False)
    raise ItemNotWaiting(state[0], last)


def recorded_select(
    *where: ColumnElement[bool], source: FromClause = _RECORDED_FROM
) -> Select[Any]:
    """Recorded decisions matching `where`, newest first (`source`: _RECORDED_FROM, perhaps
    joined to more)."""
    return (
        select(*_RECORDED)
        .select_from(source)
        .where(*where)
        .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
    )


async def _recorded(conn: AsyncConnection, *where: ColumnElement[bool]) -> RecordedDecision | None:
    """The newest decision matching `where`."""
    row = (await conn.execute(recorded_select(*where).limit(1))).one_or_none()
    return RecordedDecision(**row._mapping) if row is not None else None


async def recorded(conn: AsyncConnection, decision_id: uuid.UUID) -> RecordedDecision | None:
    return await _recorded(conn, decisions.c.id == decision_id)


@dataclass(frozen=True)
class ItemDetail:
    """One needs_you source's item, whether or not it still waits, with what there is to see
    of it: its facts (Source.facts, blank ones left out) and, for a render, its content."""

    engagement_id: uuid.UUID
    engagement_name: str
    item_id: uuid.UUID
    label_parts: LabelParts
    state: str
    waiting: bool
    key: datetime | None
    downloadable: bool
    last_decision: RecordedDecision | None
    facts: list[tuple[Fact, str]]
    content_kind: str | None
    inline_content: Any
    files: list[RenderFile]


def _fact_column(table: Table, fact: Fact) -> ColumnElement[Any]:
    column = table.c[fact.column]
    if fact.json_key is None:
        return column.label(f"fact_{fact.key}")
    value = column[fact.json_key]
    return case((func.jsonb_typeof(value) == "string", value.astext)).label(f"fact_{fact.key}")


def _content_columns(table: Table) -> list[ColumnElement[Any]]:
    """A render's content kind and inline content, and whether it offers a download."""
    if "content_kind" not in table.c:
        return [literal_column("false", Boolean).label("downloadable")]
    return [
        has_download(table).label("downloadable"),
        table.c.content_kind,
        table.c.inline_content,
    ]


async def item_detail(
    conn: AsyncConnection, source: Source, *, engagement_id: uuid.UUID, item_id: uuid.UUID
) -> ItemDetail | None:
    """The item with its state, facts, content and newest standing decision (callers check
    membership first)."""
    table = _table(source)
    row = (
        await conn.execute(
            select(
                engagements.c.name,
                *_label_parts(source, table),
                table.c[source.state_column].label("state"),
                _waiting(source).label("waiting"),
                table.c[source.key].label("key"),
                *_content_columns(table),
                *(_fact_column(table, fact) for fact in source.facts),
            )
            .join(engagements, engagements.c.id == table.c.engagement_id)
            .where(table.c.id == item_id, table.c.engagement_id == engagement_id)
        )
    ).one_or_none()
    if row is None:
        return None
    values = row._mapping
    content_kind = values.get("content_kind")
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
            conn, decisions.c.item_id == item_id, decisions.c.item_kind == source.kind, STANDING
        ),
        facts=[
            (fact, fact.show(str(values[f"fact_{fact.key}"])))
            for fact in source.facts
            if str(values[f"fact_{fact.key}"] or "").strip()
        ],
        content_kind=content_kind,
        inline_content=values.get("inline_content"),
        files=await files_of(conn, item_id) if content_kind is not None else [],
    )


@dataclass(frozen=True)
class HistoryPage:
    """A page of recorded decisions, each with the caller's designation in its engagement."""

    rows: list[tuple[RecordedDecision, str]]
    total_count: int
    next_after: Position | None


async def _history_page(
    conn: AsyncConnection,
    source: FromClause,
    designation: ColumnElement[Any],
    where: ColumnElement[bool],
    *,
    limit: int,
    after: Position | None,
) -> HistoryPage:
    """Decisions from `source` matching `where`, newest first, `limit` after `after`."""
    query = (
        recorded_select(where, source=source)
        .add_columns(designation.label("designation"))
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            tuple_(decisions.c.decided_at, decisions.c.id) < tuple_(after.key, after.item_id)
        )
    total = select(func.count()).select_from(source).where(where)
    rows = [
        (RecordedDecision(**_without(row._mapping, "designation")), row.designation)
        for row in await conn.execute(query)
    ]
    total_count = (await conn.execute(total)).scalar_one()
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage(
        rows=rows,
        total_count=total_count,
        next_after=Position(rows[-1][0].decided_at, rows[-1][0].id) if more else None,
    )


def _without(values: Mapping[Any, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key != name}


async def decision_history(
    conn: AsyncConnection,
    *,
    engagement_id: uuid.UUID,
    designation: str,
    limit: int,
    after: Position | None,
) -> HistoryPage:
    """An engagement's decisions, newest first, `limit` at a time after `after`, as read by a
    member of the given designation."""
    return await _history_page(
        conn,
        _RECORDED_FROM,
        literal(designation, Text),
        decisions.c.engagement_id == engagement_id,
        limit=limit,
        after=after,
    )


async def my_decisions(
    conn: AsyncConnection, *, person_id: uuid.UUID, limit: int, after: Position | None
) -> HistoryPage:
    """One person's own decisions in the engagements they still belong to, newest first."""
    mine = engagement_memberships
    source = _RECORDED_FROM.join(
        mine, and_(mine.c.engagement_id == decisions.c.engagement_id, mine.c.person_id == person_id)
    )
    return await _history_page(
        conn,
        source,
        mine.c.designation,
        decisions.c.person_id == person_id,
        limit=limit,
        after=after,
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
