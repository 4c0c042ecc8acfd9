"""The signed-in person and the engagements they belong to."""

from __future__ import annotations

from fastapi import APIRouter

from loomworks.api.deps import Conn, CurrentPerson
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.people import MembershipRead, MembershipsResponse, PersonRead
from loomworks.db.people import memberships_of

router = APIRouter(prefix="/me", tags=["me"], responses=errors(401, 503))


@router.get("")
async def read_me(me: CurrentPerson) -> PersonRead:
    """The person behind the session cookie."""
    return PersonRead(
        id=me.id, email=me.email, display_name=me.display_name, created_at=me.created_at
    )


@router.get("/memberships")
async def read_memberships(conn: Conn, me: CurrentPerson) -> MembershipsResponse:
    """Every engagement the caller belongs to, with their designation, by name."""
    rows = await memberships_of(conn, person_id=me.id)
    return MembershipsResponse(
        items=[
            MembershipRead(
                engagement_id=m.engagement_id,
                engagement_name=m.engagement_name,
                designation=m.designation,
            )
            for m in rows
        ]
    )
