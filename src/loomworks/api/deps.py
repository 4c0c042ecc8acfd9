"""Typed dependency aliases the routes take: a database connection and the signed-in person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.api.errors import NotAuthenticated
from loomworks.db.engine import load_cursor_key
from loomworks.db.people import Person, person_for_token
from loomworks.settings import Settings

SESSION_COOKIE = "loomworks_session"
# A real token is 43 characters; anything far longer is not worth hashing.
MAX_TOKEN_LENGTH = 256


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """One pooled connection per request; routes that write commit explicitly."""
    async with request.app.state.engine.connect() as conn:
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


Conn = Annotated[AsyncConnection, Depends(get_conn)]
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
