"""What counts as the database being unavailable, and connections that are dropped, not reused,
after such a failure (a hung or restarted server must not poison the pool)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# SQLSTATE classes that say "not now" rather than "wrong": 08 connection exception, 53
# insufficient resources (too many connections), 57 operator intervention (shutting down,
# starting up, statement_timeout).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) means the database cannot answer right now:
    refused or lost connections, a pool or statement timeout, a server shutting down or
    starting up. Such failures are retried by clients, never reported as a bug."""
    seen: BaseException | None = exc
    for _ in range(8):  # the cause chain: asyncpg error -> adapter error -> SQLAlchemy error
        if seen is None:
            return False
        if _unavailable_here(seen):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


def _unavailable_here(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError):
        return True
    # The driver's own word that a connection's protocol state is broken (e.g. an operation
    # cut off by a timeout while the server restarted): drop it, as for a lost connection.
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        return True
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.OperationalError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATE_CLASSES)


def describe(exc: BaseException) -> str:
    """What the driver or the OS actually said, on one line (for logs and start-up errors)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """engine.connect(), except that a connection whose work failed as if the database were
    gone, or was cancelled mid-statement, is closed instead of going back to the pool: its
    server may be hung, and the next request would wait on it again."""
    async with engine.connect() as conn:
        try:
            yield conn
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) or is_unavailable(exc):
                await asyncio.shield(_drop(conn))
            raise


async def ping(conn: AsyncConnection, *, within: float) -> None:
    """One round trip to the server, given up after `within` seconds (TimeoutError). Sent
    through the driver, whose own timeout leaves the connection to us to drop; cancelling
    SQLAlchemy mid-statement would make it wait on a polite close first."""
    driver: Any = (await conn.get_raw_connection()).driver_connection
    await driver.fetchval("SELECT 1", timeout=within)


async def _drop(conn: AsyncConnection) -> None:
    if not (conn.invalidated or conn.closed):
        await conn.invalidate()  # its socket is cut at once (loomworks.platform.engine)
