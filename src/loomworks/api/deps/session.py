"""Who is calling: the session cookie, the signed-in person, and a stream's session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyCookie

from loomworks.api.deps.connections import Conn, Engine
from loomworks.api.http.errors import NotAuthenticated
from loomworks.db.people import Person, person_for_token
from loomworks.platform.security import token_hash

SESSION_COOKIE = "loomworks_session"
# A real token is 43 characters; anything far longer is not worth hashing.
MAX_TOKEN_LENGTH = 256


# The cookie as an OpenAPI security scheme, so /docs and API tools know how to sign in.
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The session cookie that POST /auth/login sets.",
    auto_error=False,
)
SessionToken = Annotated[str | None, Depends(session_cookie)]


# The 401 for a cookie that names no live session, wherever the session is checked.
SESSION_ENDED = "Session is unknown, expired or signed out; sign in again."


def presented_token(token: str | None) -> str:
    """The session token the request presents; NotAuthenticated when there is none, or one
    too long to be ours (checked before anything asks the database)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotAuthenticated()
    return token


async def current_person(conn: Conn, token: SessionToken) -> Person:
    person = await person_for_token(conn, presented_token(token))
    if person is None:
        raise NotAuthenticated(SESSION_ENDED)
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
