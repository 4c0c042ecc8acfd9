"""Who is calling: a session cookie or a personal access token (`Authorization: Bearer`), the
person behind it, what a token may do, and a stream's session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.api.deps.connections import Conn, Engine
from loomworks.api.http.errors import Forbidden, NotAuthenticated
from loomworks.core.states import TokenScope
from loomworks.db.people import Person, person_for_token
from loomworks.db.tokens import TOKEN_PREFIX, Bearer, bearer_for
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


bearer_scheme = HTTPBearer(
    scheme_name="token",
    description="A personal access token (POST /me/tokens): `Authorization: Bearer lw_...`.",
    auto_error=False,
)
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
# Methods a `read` token may use; anything else needs `decide`.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The 401 for a cookie that names no live session, wherever the session is checked.
SESSION_ENDED = "Session is unknown, expired or signed out; sign in again."


# The 401 for a bearer token that is unknown, expired or revoked.
TOKEN_ENDED = "Token is unknown, expired or revoked."  # noqa: S105 (a message)


def presented_secret(bearer: HTTPAuthorizationCredentials) -> str:
    """The personal access token the request presents; NotAuthenticated for one that cannot
    be ours (too long, or not `lw_...`), before anything asks the database."""
    secret = bearer.credentials
    if len(secret) > MAX_TOKEN_LENGTH or not secret.startswith(TOKEN_PREFIX):
        raise NotAuthenticated(TOKEN_ENDED)
    return secret


def presented_token(token: str | None) -> str:
    """The session token the request presents; NotAuthenticated when there is none, or one
    too long to be ours (checked before anything asks the database)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotAuthenticated()
    return token


@dataclass(frozen=True)
class Caller:
    """The person a request speaks for, and the token it came with (None: a session cookie)."""

    person: Person
    bearer: Bearer | None = None


async def identify(
    conn: AsyncConnection, token: str | None, bearer: HTTPAuthorizationCredentials | None
) -> Caller:
    """The caller behind the bearer token if there is one, else behind the session cookie."""
    if bearer is not None:
        found = await bearer_for(conn, presented_secret(bearer))
        if found is None:
            raise NotAuthenticated(TOKEN_ENDED)
        return Caller(found.person, found)
    person = await person_for_token(conn, presented_token(token))
    if person is None:
        raise NotAuthenticated(SESSION_ENDED)
    return Caller(person)


async def token_holder(conn: Conn, token: SessionToken, bearer: BearerToken) -> Caller:
    """The caller, whatever a token's scopes: only for a token deleting itself."""
    return await identify(conn, token, bearer)


async def current_caller(
    request: Request, conn: Conn, token: SessionToken, bearer: BearerToken
) -> Caller:
    """The caller; a token without `decide` may only read (403 naming the scope)."""
    caller = await identify(conn, token, bearer)
    if (
        caller.bearer is not None
        and request.method not in READ_METHODS
        and TokenScope.DECIDE not in caller.bearer.scopes
    ):
        raise Forbidden("This token lacks the 'decide' scope.")
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]
TokenHolder = Annotated[Caller, Depends(token_holder)]


async def current_person(caller: CurrentCaller) -> Person:
    return caller.person


CurrentPerson = Annotated[Person, Depends(current_person)]


async def session_caller(caller: CurrentCaller) -> Caller:
    """A caller signed in with a session: what managing tokens needs (a token -> 403)."""
    if caller.bearer is not None:
        raise Forbidden("Managing tokens needs a signed-in session, not a token.")
    return caller


SessionCaller = Annotated[Caller, Depends(session_caller)]


@dataclass(frozen=True)
class StreamSession:
    """The signed-in person of a long-lived stream, and their session (the stream ends with it)."""

    person: Person
    token_hash: str


async def stream_caller(
    engine: Engine, token: SessionToken = None, bearer: BearerToken = None
) -> StreamSession:
    """CurrentPerson for a response that outlives the route: the credential is checked on a
    connection given back at once, so an open stream holds none."""
    async with engine.connect() as conn:
        caller = await identify(conn, token, bearer)
    credential = bearer.credentials if bearer is not None else token
    assert credential is not None  # identify has refused a request with neither
    return StreamSession(caller.person, token_hash(credential))


StreamCaller = Annotated[StreamSession, Depends(stream_caller)]
