"""The signed-in person, the engagements they belong to, and their sessions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from loomworks.api.deps import Conn, CurrentPerson, SessionToken
from loomworks.api.http.conditional import NoStore
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.errors import NotFound
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.people import (
    MembershipRead,
    MembershipsResponse,
    PersonRead,
    SessionRead,
    SessionsResponse,
)
from loomworks.db.people import end_other_sessions, end_session, live_sessions, memberships_of

router = APIRouter(prefix="/me", tags=["me"], responses=errors(401, 503), dependencies=[NoStore])


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


@router.get("/sessions", tags=["sessions"])
async def read_sessions(conn: Conn, me: CurrentPerson, token: SessionToken) -> SessionsResponse:
    """My valid sessions (signed in and not expired), newest first; `current` marks this one."""
    assert token is not None  # CurrentPerson has already refused a missing cookie
    rows = await live_sessions(conn, person_id=me.id, current_token=token)
    return SessionsResponse(
        items=[
            SessionRead(
                id=row.id, created_at=row.created_at, expires_at=row.expires_at, current=row.current
            )
            for row in rows
        ]
    )


@router.delete(
    "/sessions/{session_id}",
    tags=["sessions"],
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[SameSite],
    responses=errors(403, 404, 422),
)
async def delete_session(session_id: uuid.UUID, conn: Conn, me: CurrentPerson) -> None:
    """Sign one of my sessions out (this one too): its next request is 401 and its event
    streams end within one heartbeat."""
    if not await end_session(conn, person_id=me.id, session_id=session_id):
        raise NotFound("No such session of yours is signed in.")
    await conn.commit()


@router.delete(
    "/sessions",
    tags=["sessions"],
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[SameSite],
    responses=errors(403),
)
async def delete_other_sessions(conn: Conn, me: CurrentPerson, token: SessionToken) -> None:
    """Sign out every session of mine but this one."""
    assert token is not None
    await end_other_sessions(conn, person_id=me.id, current_token=token)
    await conn.commit()
