"""Typed dependency aliases the routes take: a database connection, the signed-in person, and
their membership of the engagement in the path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.api.errors import Forbidden, NotAuthenticated, NotFound
from loomworks.db.engine import load_cursor_key
from loomworks.db.faults import connection
from loomworks.db.people import Membership, Person, membership_in, person_for_token
from loomworks.events import EventHub
from loomworks.security import token_hash
from loomworks.settings import Settings
from loomworks.states import DECIDING_DESIGNATIONS

SESSION_COOKIE = "loomworks_session"
# A real token is 43 characters; anything far longer is not worth hashing.
MAX_TOKEN_LENGTH = 256


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """One pooled connection per request; routes that write commit explicitly."""
    async with connection(request.app.state.engine) as conn:
        yield conn


# The plain getters are async so FastAPI calls them on the event loop: a sync dependency is
# run in a worker thread, one thread hop per request for nothing.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> AsyncEngine:
    """For responses that outlive the route (streamed downloads) and need their own connection."""
    engine: AsyncEngine = request.app.state.engine
    return engine


# Given back when the route returns, before the response is sent: a client that reads slowly
# (or not at all) never holds a pooled connection.
Conn = Annotated[AsyncConnection, Depends(get_conn, scope="function")]
Engine = Annotated[AsyncEngine, Depends(get_engine)]


async def get_cursor_key(request: Request, conn: Conn) -> bytes:
    key: bytes | None = request.app.state.cursor_key
    if key is None:
        key = request.app.state.cursor_key = await load_cursor_key(conn)
    return key


CursorKey = Annotated[bytes, Depends(get_cursor_key)]
AppSettings = Annotated[Settings, Depends(get_settings)]
# The cookie as an OpenAPI security scheme, so /docs and API tools know how to sign in.
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The session cookie that POST /auth/login sets.",
    auto_error=False,
)
SessionToken = Annotated[str | None, Depends(session_cookie)]


async def get_hashing(request: Request) -> Executor:
    """The app's password-check threads (security.hashing_pool)."""
    pool: Executor = request.app.state.hashing
    return pool


Hashing = Annotated[Executor, Depends(get_hashing)]


async def current_person(conn: Conn, token: SessionToken) -> Person:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotAuthenticated()
    person = await person_for_token(conn, token)
    if person is None:
        raise NotAuthenticated("Session is unknown, expired or signed out; sign in again.")
    return person


CurrentPerson = Annotated[Person, Depends(current_person)]


@dataclass(frozen=True)
class StreamSession:
    """The signed-in person of a long-lived stream, and their session (the stream ends with it)."""

    person: Person
    token_hash: str


async def stream_caller(engine: Engine, token: SessionToken = None) -> StreamSession:
    """CurrentPerson for a response that outlives the route: the session is checked on a
    connection given back at once, so an open stream holds none."""
    async with engine.connect() as conn:
        person = await current_person(conn, token)
    assert token is not None  # current_person has refused a missing cookie
    return StreamSession(person, token_hash(token))


StreamCaller = Annotated[StreamSession, Depends(stream_caller)]


def get_event_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.events
    return hub


Hub = Annotated[EventHub, Depends(get_event_hub)]


async def engagement_member(engagement_id: uuid.UUID, conn: Conn, me: CurrentPerson) -> Membership:
    """The caller's membership of the path's engagement; 404 (not 403) for anyone else, so an
    outsider cannot tell an engagement that exists from one that does not."""
    membership = await membership_in(conn, person_id=me.id, engagement_id=engagement_id)
    if membership is None:
        raise NotFound()
    return membership


Member = Annotated[Membership, Depends(engagement_member)]


async def deciding_member(membership: Member) -> Membership:
    """A member who may decide: 403 for a viewer, who knows the engagement but is read-only."""
    if membership.designation not in DECIDING_DESIGNATIONS:
        raise Forbidden("Viewers cannot decide; ask an owner or operator of this engagement.")
    return membership


DecidingMember = Annotated[Membership, Depends(deciding_member)]
