"""What the app holds, as typed dependencies: a pooled connection, the engine, the settings,
the signing keys, the sign-in gates, the password-check threads and the live event hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.login import SignInGates
from loomworks.db.secrets import load_cursor_key
from loomworks.live.hub import EventHub
from loomworks.platform.faults import connection
from loomworks.platform.security import device_key
from loomworks.platform.settings import Settings
from loomworks.platform.shutdown import Shutdown


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


async def get_cursor_key(request: Request) -> bytes:
    """The installation's cursor key, read once per process (on a connection of its own, so
    a route that needs no other connection to the primary takes none)."""
    key: bytes | None = request.app.state.cursor_key
    if key is None:
        async with connection(request.app.state.engine) as conn:
            key = request.app.state.cursor_key = await load_cursor_key(conn)
    return key


CursorKey = Annotated[bytes, Depends(get_cursor_key)]


async def get_device_key(request: Request) -> bytes:
    """The device cookie's signing key, derived from the installation's key (loaded on a
    connection of its own the first time, so a sign-in holds no pooled connection)."""
    key: bytes | None = request.app.state.cursor_key
    if key is None:
        async with connection(request.app.state.engine) as conn:
            key = request.app.state.cursor_key = await load_cursor_key(conn)
    return device_key(key)


DeviceKey = Annotated[bytes, Depends(get_device_key)]


async def get_sign_in_gates(request: Request) -> SignInGates:
    gates: SignInGates = request.app.state.sign_in_gates
    return gates


Gates = Annotated[SignInGates, Depends(get_sign_in_gates)]
AppSettings = Annotated[Settings, Depends(get_settings)]


async def get_hashing(request: Request) -> Executor:
    """The app's password-check threads (security.hashing_pool)."""
    pool: Executor = request.app.state.hashing
    return pool


Hashing = Annotated[Executor, Depends(get_hashing)]


def get_event_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.events
    return hub


Hub = Annotated[EventHub, Depends(get_event_hub)]


async def get_shutdown(request: Request) -> Shutdown:
    shutdown: Shutdown = request.app.state.shutdown
    return shutdown


# For responses that outlive the route: they end by the server's shutdown cutoff.
Stopping = Annotated[Shutdown, Depends(get_shutdown)]
