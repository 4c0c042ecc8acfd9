"""The caller's membership of the engagement in the path: 404 for outsiders, 403 for a viewer
where a decision is asked for."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.api.deps.connections import AppSettings, Conn
from loomworks.api.deps.reads import ReadConn
from loomworks.api.deps.session import CurrentPerson
from loomworks.api.http.errors import Forbidden, NotFound
from loomworks.core.access import UndoRule, may_decide
from loomworks.db.people import Membership, Person, membership_in


async def _member(engagement_id: uuid.UUID, conn: AsyncConnection, me: Person) -> Membership:
    membership = await membership_in(conn, person_id=me.id, engagement_id=engagement_id)
    if membership is None:
        raise NotFound()
    return membership


async def engagement_member(engagement_id: uuid.UUID, conn: Conn, me: CurrentPerson) -> Membership:
    """The caller's membership of the path's engagement; 404 (not 403) for anyone else, so an
    outsider cannot tell an engagement that exists from one that does not."""
    return await _member(engagement_id, conn, me)


async def reading_member(engagement_id: uuid.UUID, conn: ReadConn, me: CurrentPerson) -> Membership:
    """engagement_member, checked where the route reads (a replica, perhaps)."""
    return await _member(engagement_id, conn, me)


Member = Annotated[Membership, Depends(engagement_member)]
ReadMember = Annotated[Membership, Depends(reading_member)]


async def deciding_member(membership: Member) -> Membership:
    """A member who may decide: 403 for a viewer, who knows the engagement but is read-only."""
    if not may_decide(membership.designation):
        raise Forbidden("Viewers cannot decide; ask an owner or operator of this engagement.")
    return membership


DecidingMember = Annotated[Membership, Depends(deciding_member)]


async def undo_rule(me: CurrentPerson, settings: AppSettings) -> UndoRule:
    """Which decisions the caller may still undo, as of this request (LOOMWORKS_UNDO_SECONDS)."""
    return UndoRule.at_once(me.id, settings.undo_window)


Undoing = Annotated[UndoRule, Depends(undo_rule)]
