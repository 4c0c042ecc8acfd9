"""Triage (docs/triage.md): snoozing needs_you items for oneself, claiming them for the team
("I'm on it": one route pair per needs_you source, from the registry), and the needs_you
query parameters that order and narrow by claim."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.api.deps import AppSettings, Conn, CurrentPerson, DecidingMember, WriteFence
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.errors import Conflict, Forbidden, NotFound
from loomworks.api.http.limits import NO_NUL, storable
from loomworks.api.schemas.decisions import PersonRef
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.triage import (
    ClaimRead,
    SnoozedItem,
    SnoozeRead,
    SnoozesResponse,
    SnoozeUpdate,
)
from loomworks.core import labels
from loomworks.core.access import may_decide
from loomworks.core.kinds import SOURCE_OF, Source, sources_in
from loomworks.core.states import NeedsYouKind, Zone
from loomworks.db.people import Person
from loomworks.db.search import MAX_QUERY_LENGTH
from loomworks.db.triage import (
    Claimed,
    ClaimHolder,
    ItemPlace,
    Triage,
    claim,
    claim_of,
    end_triage,
    item_place,
    snooze,
    snoozes_of,
    unclaim,
    unsnooze,
)

router = APIRouter(tags=["triage"])


class Order(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"


Search = Annotated[
    str,
    AfterValidator(storable),
    Query(
        max_length=MAX_QUERY_LENGTH,
        description="only items whose label or engagement name contains this text (any case;"
        " % and _ match themselves; empty: no filter)",
        json_schema_extra=NO_NUL,
    ),
]


async def needs_you_triage(
    q: Search = "",
    order: Annotated[
        Order, Query(description="newest (default: key, then id, descending) or oldest first")
    ] = Order.NEWEST,
    claimed: Annotated[
        Claimed | None,
        Query(description="mine: claimed by me; others: by a colleague; none: unclaimed"),
    ] = None,
) -> Triage:
    """needs_you's search, order and claim filter (anything else: 422)."""
    return Triage.of(oldest=order == Order.OLDEST, claimed=claimed, q=q)


async def plain_triage(q: Search = "") -> Triage:
    """The search of the zones without order or claims."""
    return Triage.of(q=q)


def triage_of(zone: Zone) -> Callable[..., Awaitable[Triage]]:
    """The dependency that reads a zone's triage parameters."""
    return needs_you_triage if zone == Zone.NEEDS_YOU else plain_triage


def claimed_conflict(holder: ClaimHolder) -> Conflict:
    return Conflict(labels.claimed_by_other(holder.display_name, holder.claimed_until))


# --- snoozes ----------------------------------------------------------------------------------


async def _waiting_for(
    conn: AsyncConnection, me: Person, item_kind: NeedsYouKind, item_id: uuid.UUID
) -> tuple[Source, ItemPlace]:
    """The item, if the caller may act on it and it waits: else 404, 403 or 409."""
    source = SOURCE_OF.get(item_kind)
    place = None
    if source is not None:
        place = await item_place(conn, source, item_id=item_id, person_id=me.id)
    if source is None or place is None or place.designation is None:
        raise NotFound()
    if not may_decide(place.designation):
        raise Forbidden("Viewers cannot snooze; only owners and operators have a needs_you.")
    if not place.waiting:
        raise Conflict("This item no longer waits for a decision, so it cannot be snoozed.")
    return source, place


SNOOZE_PATH = "/me/snoozes/{item_kind}/{item_id}"


@router.put(
    SNOOZE_PATH,
    responses=errors(400, 401, 403, 404, 409, 413, 422, 503),
    dependencies=[SameSite, WriteFence],
)
async def put_snooze(
    item_kind: NeedsYouKind, item_id: uuid.UUID, body: SnoozeUpdate, conn: Conn, me: CurrentPerson
) -> SnoozeRead:
    """Hide a needs_you item from my needs_you (and only mine) until `until`."""
    source, place = await _waiting_for(conn, me, item_kind, item_id)
    await snooze(
        conn,
        person_id=me.id,
        kind=source.kind,
        item_id=item_id,
        engagement_id=place.engagement_id,
        until=body.until,
    )
    await conn.commit()
    return SnoozeRead(
        engagement_id=place.engagement_id, item_kind=item_kind, item_id=item_id, until=body.until
    )


@router.delete(
    SNOOZE_PATH,
    status_code=204,
    responses=errors(401, 403, 422, 503),
    dependencies=[SameSite, WriteFence],
)
async def delete_snooze(
    item_kind: NeedsYouKind, item_id: uuid.UUID, conn: Conn, me: CurrentPerson
) -> Response:
    """Bring a snoozed item back now (204 also when it was not snoozed)."""
    await unsnooze(conn, person_id=me.id, kind=item_kind, item_id=item_id)
    await conn.commit()
    return Response(status_code=204)


@router.get("/me/snoozes", responses=errors(401, 503))
async def read_snoozes(conn: Conn, me: CurrentPerson, response: Response) -> SnoozesResponse:
    """My snoozes still in force, soonest first."""
    response.headers["Cache-Control"] = "private, no-store"
    rows = await snoozes_of(conn, person_id=me.id)
    return SnoozesResponse(
        items=[
            SnoozedItem(
                engagement_id=row.engagement_id,
                engagement_name=row.engagement_name,
                item_kind=NeedsYouKind(row.item_kind),
                item_id=row.item_id,
                item_label=row.item_label,
                until=row.until,
            )
            for row in rows
        ]
    )


# --- claims -----------------------------------------------------------------------------------


def claim_read(holder: ClaimHolder) -> ClaimRead:
    return ClaimRead(
        claimed_by=PersonRef(id=holder.person_id, display_name=holder.display_name),
        claimed_until=holder.claimed_until,
    )


def _claim_routes(
    source: Source,
) -> tuple[Callable[..., Awaitable[ClaimRead]], Callable[..., Awaitable[Response]]]:
    async def place_of(
        conn: Conn, me: Person, membership: DecidingMember, item_id: uuid.UUID
    ) -> ItemPlace:
        place = await item_place(
            conn, source, item_id=item_id, person_id=me.id, engagement_id=membership.engagement_id
        )
        if place is None:
            raise NotFound()
        return place

    async def post(
        item_id: uuid.UUID,
        membership: DecidingMember,
        conn: Conn,
        me: CurrentPerson,
        settings: AppSettings,
    ) -> ClaimRead:
        place = await place_of(conn, me, membership, item_id)
        if not place.waiting:
            raise Conflict("This item no longer waits for a decision, so it cannot be claimed.")
        holder = await claim(
            conn,
            person_id=me.id,
            kind=source.kind,
            item_id=item_id,
            engagement_id=place.engagement_id,
            hold=settings.claim_hold,
        )
        if holder.person_id != me.id:
            raise claimed_conflict(holder)
        await conn.commit()
        return claim_read(holder)

    async def delete(
        item_id: uuid.UUID, membership: DecidingMember, conn: Conn, me: CurrentPerson
    ) -> Response:
        await place_of(conn, me, membership, item_id)
        holder = await unclaim(conn, person_id=me.id, kind=source.kind, item_id=item_id)
        if holder is not None:
            raise claimed_conflict(holder)
        await conn.commit()
        return Response(status_code=204)

    return post, delete


for _source in sources_in(Zone.NEEDS_YOU):
    _path = f"/engagements/{{engagement_id}}/{_source.collection}/{{item_id}}/claim"
    _post, _delete = _claim_routes(_source)
    _kind_words = _source.kind.replace("_", " ")
    router.add_api_route(
        _path,
        _post,
        methods=["POST"],
        name=f"claim_{_source.kind}",
        summary=f"Say I'm on a {_kind_words}",
        description="Claims the item for LOOMWORKS_CLAIM_SECONDS (claiming again extends); "
        "409 names the colleague whose claim holds.",
        responses=errors(400, 401, 403, 404, 409, 413, 422, 503),
        dependencies=[SameSite, WriteFence],
    )
    router.add_api_route(
        _path,
        _delete,
        methods=["DELETE"],
        status_code=204,
        name=f"unclaim_{_source.kind}",
        summary=f"Drop my claim on a {_kind_words}",
        description="204 also when no claim holds; 409 names the colleague whose claim holds.",
        responses=errors(401, 403, 404, 409, 422, 503),
        dependencies=[SameSite, WriteFence],
    )


# --- what decisions and details take from triage ----------------------------------------------


async def settle_claims(
    conn: AsyncConnection,
    person_id: uuid.UUID,
    source: Source,
    item_id: uuid.UUID,
    override_claim: bool,
) -> None:
    """In a decision's transaction: end the item's snoozes and claim; 409 (everything
    rolled back) when a colleague's claim held it, unless `override_claim`."""
    holder = await end_triage(conn, kind=source.kind, item_id=item_id)
    if holder is not None and holder.person_id != person_id and not override_claim:
        await conn.rollback()
        conflict = claimed_conflict(holder)
        raise Conflict(f'{conflict.detail} To decide it anyway, send "override_claim": true.')


async def claim_on(
    conn: AsyncConnection, source: Source, item_id: uuid.UUID, *, waiting: bool
) -> dict[str, object]:
    """An item detail's `claimed_by` and `claimed_until` (a claim only holds while it waits)."""
    holder = await claim_of(conn, kind=source.kind, item_id=item_id) if waiting else None
    if holder is None:
        return {"claimed_by": None, "claimed_until": None}
    read = claim_read(holder)
    return {"claimed_by": read.claimed_by, "claimed_until": read.claimed_until}
