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
from loomworks.db.faults import connection, is_unavailable
from loomworks.db.people import Membership, Person, membership_in, person_for_token
from loomworks.db.replicas import ReadRouter, Replica, fence_write
from loomworks.events import EventHub
from loomworks.metrics import READ_ROUTES
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


class ReplicaFailed(Exception):
    """A read on a replica found it unavailable; loomworks.api.reads answers the request
    again from the primary, so the caller never sees it."""


# Set in request.state by loomworks.api.reads when a read is answered again from the primary.
READ_ON_PRIMARY = "read_on_primary"


def _read_router(request: Request) -> ReadRouter:
    reads: ReadRouter = request.app.state.reads
    return reads


async def get_read_conn(
    request: Request, conn: Conn, me: CurrentPerson
) -> AsyncIterator[AsyncConnection]:
    """The connection a read-only route runs on: a replica that may serve the caller
    (loomworks.db.replicas), else the request's primary connection, already open for the
    session check (which stays on the primary: a session newer than a replica is found)."""
    reads = _read_router(request)
    replica = None
    if reads.replicas and not getattr(request.state, READ_ON_PRIMARY, False):
        replica = reads.choose(me.id, me.written_lsn)
        READ_ROUTES.labels("replica" if replica else "primary").inc()
    request.state.read_replica = replica
    if replica is None:
        yield conn
        return
    try:
        async with connection(replica.engine) as replica_conn:
            yield replica_conn
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        reads.failed(replica, exc)
        raise ReplicaFailed(replica.name) from exc


ReadConn = Annotated[AsyncConnection, Depends(get_read_conn, scope="function")]


async def get_read_engines(request: Request, conn: ReadConn) -> tuple[AsyncEngine, ...]:
    """For reads that outlive the route (streamed downloads): the replica ReadConn chose, then
    the primary to fall back on."""
    replica: Replica | None = request.state.read_replica
    primary: AsyncEngine = request.app.state.engine
    return (replica.engine, primary) if replica else (primary,)


ReadEngines = Annotated[tuple[AsyncEngine, ...], Depends(get_read_engines)]


async def write_fence(request: Request, conn: Conn, me: CurrentPerson) -> AsyncIterator[None]:
    """On a route that writes for the caller: once it has committed, and before it answers,
    note where the WAL ends, so the caller's next reads skip replicas not yet past it."""
    yield
    if _read_router(request).replicas:
        await fence_write(conn, me.id)


WriteFence = Depends(write_fence, scope="function")


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
    if membership.designation not in DECIDING_DESIGNATIONS:
        raise Forbidden("Viewers cannot decide; ask an owner or operator of this engagement.")
    return membership


DecidingMember = Annotated[Membership, Depends(deciding_member)]
