"""Triage as SQL: a person's snoozes, the claims on items, and the conditions and counts the
zone statements add for them (docs/triage.md).

A snooze or claim row exists exactly while it holds: the waker deletes lapsed rows once a
second (`wake`), and a decision deletes the item's rows (`end_triage`), so the zone
statements only test whether a row exists and never read the clock. Every write here moves
the item's (engagement, kind) counter version (`dashboard_apply` with a change of 0), so
ETags move and live events go out exactly as for any other change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    delete,
    exists,
    func,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import LateralFromClause

from loomworks.core.kinds import SOURCE_OF, Source, sources_in
from loomworks.core.labels import LabelParts
from loomworks.core.states import Zone
from loomworks.db.jobs import payload_columns
from loomworks.db.search import has_trigrams
from loomworks.db.tables import (
    claims,
    engagement_memberships,
    engagements,
    metadata,
    persons,
    snoozes,
)
from loomworks.db.visibility import sees_zone


class Claimed(StrEnum):
    """needs_you's `claimed` filter."""

    MINE = "mine"
    OTHERS = "others"
    NONE = "none"


@dataclass(frozen=True)
class Triage:
    """How a request narrows and orders a zone beyond engagements and kinds: the shape of
    its statement. The search text itself is a parameter: `query` is left out of equality
    (statements are cached by shape) but not out of the repr that cursors and ETags bind."""

    oldest: bool = False
    claimed: Claimed | None = None
    search: bool = False  # a `q` is given: query
    query: str = field(default="", compare=False)
    # The query is long enough for the trigram index (db/search.py); follows from `query`.
    indexed: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.search != bool(self.query):
            raise ValueError("search is set exactly when there is a query")
        if self.indexed != has_trigrams(self.query):
            raise ValueError("indexed is set exactly when the query has trigrams")

    @classmethod
    def of(cls, *, oldest: bool = False, claimed: Claimed | None = None, q: str = "") -> Triage:
        return cls(oldest, claimed, bool(q), q, has_trigrams(q))


PLAIN = Triage()


def _kind(kind: str) -> ColumnElement[str]:
    return literal_column(f"'{kind}'::text", Text)


def _waiting(source: Source) -> ColumnElement[bool]:
    """The needs_you predicate of the source: an item waits exactly while it is in the zone."""
    return literal_column(f"({source.predicate(source.table)})", Boolean)


# --- what the zone statements add ------------------------------------------------------------


def claim_join(kind: str, item_id: ColumnElement[uuid.UUID]) -> LateralFromClause:
    """The item's claim and its holder (claimer_id, claimer_name, claimed_until), joined after
    the cut (db/dashboard._payload) by the claim's key, row by row: the claimer's name is
    read only for a claimed item (a join to persons was planned as a scan of every person
    per page row while claims were few)."""
    claim = claims.alias("claim")
    claimer_name = select(persons.c.display_name).where(persons.c.id == claim.c.person_id)
    return (
        select(
            claim.c.person_id.label("claimer_id"),
            claimer_name.scalar_subquery().label("claimer_name"),
            claim.c.claimed_until,
        )
        .where(claim.c.item_kind == _kind(kind), claim.c.item_id == item_id)
        .lateral(f"{kind}_claim")
    )


def _snoozed(kind: str, item_id: ColumnElement[uuid.UUID], person: ColumnElement[Any]) -> Any:
    return exists().where(
        snoozes.c.person_id == person,
        snoozes.c.item_kind == _kind(kind),
        snoozes.c.item_id == item_id,
    )


def _claim_exists(kind: str, item_id: ColumnElement[uuid.UUID], *where: Any) -> Any:
    return exists().where(claims.c.item_kind == _kind(kind), claims.c.item_id == item_id, *where)


def kept(
    kind: str, item_id: ColumnElement[uuid.UUID], person: ColumnElement[Any], triage: Triage
) -> list[ColumnElement[bool]]:
    """What an arm's rows must also meet in the caller's view: needs_you hides what the
    caller snoozed, and keeps only the claimed state asked for. Nothing for other zones."""
    if SOURCE_OF[kind].zone != Zone.NEEDS_YOU:
        return []
    conditions = [~_snoozed(kind, item_id, person)]
    if triage.claimed == Claimed.MINE:
        conditions.append(_claim_exists(kind, item_id, claims.c.person_id == person))
    elif triage.claimed == Claimed.OTHERS:
        conditions.append(_claim_exists(kind, item_id, claims.c.person_id != person))
    elif triage.claimed == Claimed.NONE:
        conditions.append(~_claim_exists(kind, item_id))
    return conditions


def _count_of(
    source: Source,
    visible: Select[tuple[uuid.UUID]],
    *where: Any,
) -> ColumnElement[int]:
    table = metadata.tables[source.table]
    return (
        select(func.count())
        .select_from(table)
        .where(_waiting(source), table.c.engagement_id.in_(visible.scalar_subquery()), *where)
        .scalar_subquery()
    )


def zone_total(
    counted: ColumnElement[int],
    kinds: list[str],
    visible: Select[tuple[uuid.UUID]],
    person: ColumnElement[Any],
    triage: Triage,
) -> ColumnElement[int]:
    """total_count under the caller's triage: `counted` (the counters' sum for the zone's
    visible engagements and `kinds`) less what the caller's view hides, or, for a claimed
    filter that keeps only claimed items, those items counted from the claims."""
    sources = [SOURCE_OF[kind] for kind in kinds if SOURCE_OF[kind].zone == Zone.NEEDS_YOU]
    if not sources:
        return counted
    total: ColumnElement[int] = literal_column("0", Integer)
    for source in sources:
        item_id = metadata.tables[source.table].c.id
        keep = and_(*kept(source.kind, item_id, person, triage))
        claimed = select(claims.c.item_id).where(claims.c.item_kind == _kind(source.kind))
        if triage.claimed in (Claimed.MINE, Claimed.OTHERS):
            total = total + _count_of(source, visible, item_id.in_(claimed), keep)
            continue
        drivers = select(snoozes.c.item_id).where(
            snoozes.c.person_id == person, snoozes.c.item_kind == _kind(source.kind)
        )
        if triage.claimed == Claimed.NONE:
            drivers = drivers.union(claimed)  # type: ignore[assignment]
        total = total + _count_of(source, visible, item_id.in_(drivers), ~keep)
    if triage.claimed in (Claimed.MINE, Claimed.OTHERS):
        return total
    return counted - total


# --- snoozes ----------------------------------------------------------------------------------

MAX_SNOOZE = timedelta(days=30)


@dataclass(frozen=True)
class ItemPlace:
    """Where an item is, for the caller: its engagement, whether it waits, and the caller's
    designation there (None: not a member)."""

    engagement_id: uuid.UUID
    waiting: bool
    designation: str | None


async def item_place(
    conn: AsyncConnection,
    source: Source,
    *,
    item_id: uuid.UUID,
    person_id: uuid.UUID,
    engagement_id: uuid.UUID | None = None,
) -> ItemPlace | None:
    """The item (in `engagement_id`, if given), locked FOR SHARE so a decision waits for the
    caller's transaction; None when there is no such item."""
    table = metadata.tables[source.table]
    memberships = engagement_memberships.c
    query = (
        select(
            table.c.engagement_id,
            _waiting(source).label("waiting"),
            select(memberships.designation)
            .where(
                memberships.person_id == person_id,
                memberships.engagement_id == table.c.engagement_id,
            )
            .scalar_subquery()
            .label("designation"),
        )
        .where(table.c.id == item_id)
        .with_for_update(read=True, of=table)
    )
    if engagement_id is not None:
        query = query.where(table.c.engagement_id == engagement_id)
    row = (await conn.execute(query)).one_or_none()
    return ItemPlace(row.engagement_id, row.waiting, row.designation) if row else None


async def touch(conn: AsyncConnection, engagement_id: uuid.UUID, kind: str) -> None:
    """Move the (engagement, kind) counter version: ETags move, a zone_changed goes out."""
    await conn.execute(
        text(
            "SELECT dashboard_apply(ARRAY[ROW(CAST(:engagement_id AS uuid), "
            "CAST(:kind AS text), 0)::dashboard_change])"
        ),
        {"engagement_id": engagement_id, "kind": kind},
    )


async def snooze(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    kind: str,
    item_id: uuid.UUID,
    engagement_id: uuid.UUID,
    until: datetime,
) -> None:
    """Hide the item from the person's needs_you until `until` (set or move the snooze)."""
    statement = pg_insert(snoozes).values(
        person_id=person_id,
        item_kind=kind,
        item_id=item_id,
        engagement_id=engagement_id,
        until=until,
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[snoozes.c.person_id, snoozes.c.item_kind, snoozes.c.item_id],
            set_={"until": statement.excluded.until, "engagement_id": engagement_id},
        )
    )
    await touch(conn, engagement_id, kind)


async def unsnooze(
    conn: AsyncConnection, *, person_id: uuid.UUID, kind: str, item_id: uuid.UUID
) -> None:
    """End the person's snooze of the item, if any."""
    ended = (
        await conn.execute(
            delete(snoozes)
            .where(
                snoozes.c.person_id == person_id,
                snoozes.c.item_kind == kind,
                snoozes.c.item_id == item_id,
            )
            .returning(snoozes.c.engagement_id)
        )
    ).one_or_none()
    if ended is not None:
        await touch(conn, ended.engagement_id, kind)


@dataclass(frozen=True)
class SnoozeRow:
    engagement_id: uuid.UUID
    engagement_name: str
    item_kind: str
    item_id: uuid.UUID
    item_label: str
    until: datetime


def _deciding_engagements(person_id: uuid.UUID | ColumnElement[Any]) -> Any:
    """The person's engagements whose needs_you they see."""
    memberships = engagement_memberships.c
    return (
        select(memberships.engagement_id)
        .where(
            memberships.person_id == person_id,
            sees_zone(memberships.designation, Zone.NEEDS_YOU),
        )
        .scalar_subquery()
    )


_LABEL_TYPES = {"label_text": Text, "label_extra": Text, "display_number": Integer}


async def snoozes_of(conn: AsyncConnection, *, person_id: uuid.UUID) -> list[SnoozeRow]:
    """The person's snoozes still in force, soonest first, in engagements whose needs_you
    they still see (a snooze elsewhere shows nothing of that engagement)."""
    visible = _deciding_engagements(person_id)
    arms = []
    for source in sources_in(Zone.NEEDS_YOU):
        table = metadata.tables[source.table]
        arms.append(
            select(
                snoozes.c.engagement_id,
                engagements.c.name,
                snoozes.c.item_kind,
                snoozes.c.item_id,
                snoozes.c.until,
                *payload_columns(source, table, _LABEL_TYPES),
            )
            .join(table, table.c.id == snoozes.c.item_id)
            .join(engagements, engagements.c.id == snoozes.c.engagement_id)
            .where(
                snoozes.c.person_id == person_id,
                snoozes.c.item_kind == source.kind,
                snoozes.c.until > func.now(),
                snoozes.c.engagement_id.in_(visible),
                _waiting(source),
            )
        )
    listed = union_all(*arms).subquery("snoozed")
    rows = await conn.execute(
        select(listed).order_by(listed.c.until, listed.c.item_kind, listed.c.item_id)
    )
    return [
        SnoozeRow(
            engagement_id=row.engagement_id,
            engagement_name=row.name,
            item_kind=row.item_kind,
            item_id=row.item_id,
            item_label=SOURCE_OF[row.item_kind].label(
                LabelParts(row.label_text, row.label_extra, row.display_number)
            ),
            until=row.until,
        )
        for row in rows
    ]


# --- the waker --------------------------------------------------------------------------------

# One statement: take the lapsed snoozes and claims no other process is taking (SKIP LOCKED:
# with several workers each row is taken once, nobody waits), delete them, and move the
# versions of the (engagement, kind)s they touched, which notifies every worker's hub.
WAKE_SQL = text(
    """
WITH woken AS (
    DELETE FROM snoozes WHERE (person_id, item_kind, item_id) IN (
        SELECT person_id, item_kind, item_id FROM snoozes WHERE until <= now()
        FOR UPDATE SKIP LOCKED)
    RETURNING engagement_id, item_kind),
lapsed AS (
    DELETE FROM claims WHERE (item_kind, item_id) IN (
        SELECT item_kind, item_id FROM claims WHERE claimed_until <= now()
        FOR UPDATE SKIP LOCKED)
    RETURNING engagement_id, item_kind),
touched AS (
    SELECT engagement_id, item_kind FROM woken
    UNION SELECT engagement_id, item_kind FROM lapsed)
SELECT (SELECT count(*) FROM touched),
    dashboard_apply(ARRAY(
        SELECT ROW(engagement_id, item_kind, 0)::dashboard_change FROM touched
        ORDER BY engagement_id, item_kind))
"""
)


async def wake(conn: AsyncConnection) -> int:
    """End every snooze and claim whose time has come; how many (engagement, kind)s moved."""
    moved: int = (await conn.execute(WAKE_SQL)).scalar_one()
    return moved


# --- claims -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimHolder:
    person_id: uuid.UUID
    display_name: str
    claimed_until: datetime


_HOLDER = (claims.c.person_id, persons.c.display_name, claims.c.claimed_until)


async def claim_of(conn: AsyncConnection, *, kind: str, item_id: uuid.UUID) -> ClaimHolder | None:
    """The claim that holds on the item now, if any."""
    row = (
        await conn.execute(
            select(*_HOLDER)
            .join(persons, persons.c.id == claims.c.person_id)
            .where(
                claims.c.item_kind == kind,
                claims.c.item_id == item_id,
                claims.c.claimed_until > func.now(),
            )
        )
    ).one_or_none()
    return ClaimHolder(*row) if row else None


async def claim(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    kind: str,
    item_id: uuid.UUID,
    engagement_id: uuid.UUID,
    hold: timedelta,
) -> ClaimHolder:
    """Claim the item for `hold` (or extend one's own claim); the holder that results: the
    caller, or the colleague whose claim still holds."""
    statement = pg_insert(claims).values(
        item_kind=kind,
        item_id=item_id,
        engagement_id=engagement_id,
        person_id=person_id,
        claimed_until=func.now() + hold,
    )
    taken = (
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[claims.c.item_kind, claims.c.item_id],
                set_={
                    "person_id": statement.excluded.person_id,
                    "claimed_until": statement.excluded.claimed_until,
                },
                where=(claims.c.person_id == person_id) | (claims.c.claimed_until <= func.now()),
            ).returning(claims.c.claimed_until)
        )
    ).one_or_none()
    if taken is None:
        holder = await claim_of(conn, kind=kind, item_id=item_id)
        assert holder is not None  # the row the INSERT met holds, and we wait on its lock
        return holder
    await touch(conn, engagement_id, kind)
    name = (
        await conn.execute(select(persons.c.display_name).where(persons.c.id == person_id))
    ).scalar_one()
    return ClaimHolder(person_id, name, taken.claimed_until)


async def unclaim(
    conn: AsyncConnection, *, person_id: uuid.UUID, kind: str, item_id: uuid.UUID
) -> ClaimHolder | None:
    """Drop the caller's claim on the item (none is fine); a colleague's claim that still
    holds is left alone and returned."""
    ended = (
        await conn.execute(
            delete(claims)
            .where(
                claims.c.item_kind == kind,
                claims.c.item_id == item_id,
                (claims.c.person_id == person_id) | (claims.c.claimed_until <= func.now()),
            )
            .returning(claims.c.engagement_id)
        )
    ).one_or_none()
    if ended is not None:
        await touch(conn, ended.engagement_id, kind)
        return None
    return await claim_of(conn, kind=kind, item_id=item_id)


async def end_triage(conn: AsyncConnection, *, kind: str, item_id: uuid.UUID) -> ClaimHolder | None:
    """A decision ends every snooze and the claim of the item (in the decision's
    transaction); the claim that held until then, if any, so the caller can refuse to
    decide over a colleague's claim."""
    await conn.execute(
        delete(snoozes).where(snoozes.c.item_kind == kind, snoozes.c.item_id == item_id)
    )
    gone = (
        delete(claims)
        .where(claims.c.item_kind == kind, claims.c.item_id == item_id)
        .returning(claims.c.person_id, claims.c.claimed_until)
        .cte("gone")
    )
    row = (
        await conn.execute(
            select(gone.c.person_id, persons.c.display_name, gone.c.claimed_until)
            .join(persons, persons.c.id == gone.c.person_id)
            .where(gone.c.claimed_until > func.now())
        )
    ).one_or_none()
    return ClaimHolder(*row) if row else None


# --- what the counts take from triage ---------------------------------------------------------


def counts_adjustments(
    person_id: ColumnElement[Any], overdue_before: ColumnElement[datetime]
) -> Any:
    """Per (engagement, needs_you kind) of the person's deciding engagements: how many
    waiting items they snoozed (the counts leave them out) and how many of the rest are
    overdue (keyed before `overdue_before`)."""
    visible = _deciding_engagements(person_id)
    arms = []
    for source in sources_in(Zone.NEEDS_YOU):
        table = metadata.tables[source.table]
        snoozed = exists().where(
            snoozes.c.person_id == person_id,
            snoozes.c.item_kind == _kind(source.kind),
            snoozes.c.item_id == table.c.id,
        )
        old = table.c[source.key] < overdue_before
        arms.append(
            select(
                table.c.engagement_id,
                _kind(source.kind).label("item_kind"),
                func.count().filter(snoozed).label("snoozed"),
                func.count().filter(~snoozed & old).label("overdue"),
            )
            .where(_waiting(source), table.c.engagement_id.in_(visible), snoozed | old)
            .group_by(table.c.engagement_id)
        )
    return union_all(*arms).subquery("triaged")
