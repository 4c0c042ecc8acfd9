"""Where a read runs: a replica that may serve the caller, else the primary; a replica that
fails mid-read is retried on the primary by ReplicaFallback, so the caller never sees it;
and the fence a write leaves for the writer's next reads (docs/scaling.md, "Read replicas").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loomworks.api.deps.connections import Conn
from loomworks.api.deps.session import (
    SESSION_ENDED,
    TOKEN_ENDED,
    BearerToken,
    CurrentPerson,
    SessionToken,
    identify,
    presented_secret,
    presented_token,
)
from loomworks.api.http.errors import NotAuthenticated
from loomworks.db.dashboard import BySession, ByToken, Caller, NotSignedIn
from loomworks.db.people import Person
from loomworks.db.replicas import ReadRouter, Replica, fence_write
from loomworks.platform.faults import connection, is_unavailable
from loomworks.platform.metrics import READ_ROUTES
from loomworks.platform.security import token_hash


class ReplicaFailed(Exception):
    """A read on a replica found it unavailable; ReplicaFallback answers the request
    again from the primary, so the caller never sees it."""


# Set in request.state by ReplicaFallback when a read is answered again from the primary.
READ_ON_PRIMARY = "read_on_primary"


def _read_router(request: Request) -> ReadRouter:
    reads: ReadRouter = request.app.state.reads
    return reads


@asynccontextmanager
async def _reading(
    request: Request, conn: AsyncConnection, me: Person
) -> AsyncIterator[AsyncConnection]:
    """A replica's connection that may serve the caller (loomworks.db.replicas), else `conn`,
    the request's primary connection, already open for the session check (which stays on
    the primary: a session newer than a replica is found)."""
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


async def get_read_conn(
    request: Request, conn: Conn, me: CurrentPerson
) -> AsyncIterator[AsyncConnection]:
    """The connection a read-only route runs on (_reading)."""
    async with _reading(request, conn, me) as read_conn:
        yield read_conn


ReadConn = Annotated[AsyncConnection, Depends(get_read_conn, scope="function")]


@dataclass(frozen=True)
class CallerRead:
    """A dashboard read: where it runs, and who it is for (loomworks.db.dashboard.Caller)."""

    conn: AsyncConnection
    caller: Caller


@dataclass(frozen=True)
class DashboardCaller:
    """Who a dashboard read is for, as the request presents it. The read opens its connection
    itself (`read`): a generator dependency would cost every zone read and poll an exit stack
    and a shielded exit (docs/benchmarks.md, "Where a poll's time goes")."""

    request: Request
    token: str | None
    bearer: HTTPAuthorizationCredentials | None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[CallerRead]:
        """For the dashboard's reads, whose statements can check the credential themselves.
        On one database: a pooled connection in autocommit (no BEGIN or ROLLBACK of its own)
        and the session's or the bearer token's hash, so the read is one round trip, the
        check included (401 when the statement finds no live one). With replicas: as
        ReadConn, the credential checked on the primary first (where read-your-writes learns
        the caller's last write), the read where it may run."""
        request, token, bearer = self.request, self.token, self.bearer
        if not _read_router(request).replicas:
            caller = (
                ByToken(token_hash(presented_secret(bearer)))
                if bearer is not None
                else BySession(token_hash(presented_token(token)))
            )
            async with connection(request.app.state.autocommit_engine) as conn:
                try:
                    yield CallerRead(conn, caller)
                except NotSignedIn:
                    raise NotAuthenticated(
                        SESSION_ENDED if bearer is None else TOKEN_ENDED
                    ) from None
            return
        async with connection(request.app.state.engine) as primary:
            me = (await identify(primary, token, bearer)).person
            async with _reading(request, primary, me) as conn:
                yield CallerRead(conn, me.id)


async def get_dashboard_caller(
    request: Request, token: SessionToken, bearer: BearerToken
) -> DashboardCaller:
    return DashboardCaller(request, token, bearer)


DashboardRead = Annotated[DashboardCaller, Depends(get_dashboard_caller)]


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


# ReplicaFallback is a pure ASGI middleware, the innermost one: the retry runs the same route
# once more with request.state saying "primary", before anything of the first attempt was sent.
READ_METHODS = frozenset({"GET", "HEAD"})


class ReplicaFallback:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ReplicaFailed:
            if started:
                raise
            scope.setdefault("state", {})[READ_ON_PRIMARY] = True
            READ_ROUTES.labels("primary").inc()
            await self.app(scope, _again(receive), send)


def _again(receive: Receive) -> Receive:
    """The request's (empty) body once more, then the client's own messages (disconnect)."""
    replayed = False

    async def receive_again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return receive_again
