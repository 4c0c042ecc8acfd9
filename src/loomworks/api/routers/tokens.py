"""Personal access tokens: made and listed with a signed-in session only; a token may delete
itself (what `loomworks logout` does), and nothing more of this."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Response

from loomworks.api.deps import Conn
from loomworks.api.deps.session import SESSION_ENDED, SessionCaller, TokenHolder
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.errors import Forbidden, NotAuthenticated, NotFound
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.tokens import TokenCreate, TokenCreated, TokenRead, TokensResponse
from loomworks.db.people import PersonDisabled
from loomworks.db.tokens import AccessToken, create_token, revoke_token, tokens_of

router = APIRouter(prefix="/me/tokens", tags=["tokens"], responses=errors(401, 403, 503))
NO_STORE = {"Cache-Control": "private, no-store"}


def token_read(token: AccessToken) -> TokenRead:
    return TokenRead(
        id=token.id,
        name=token.name,
        scopes=list(token.scopes),
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
    )


@router.post(
    "",
    status_code=201,
    dependencies=[SameSite],
    responses=errors(400, 413, 422),
)
async def create_access_token(
    body: TokenCreate, conn: Conn, caller: SessionCaller, response: Response
) -> TokenCreated:
    """A new token for scripts and the terminal; its secret is in this answer only."""
    try:
        token, secret = await create_token(
            conn,
            person_id=caller.person.id,
            name=body.name,
            scopes=tuple(body.scopes),
            lifetime=timedelta(days=body.expires_in_days),
        )
    except PersonDisabled:  # disabled since their session was checked: it is revoked now
        raise NotAuthenticated(SESSION_ENDED) from None
    await conn.commit()
    response.headers.update(NO_STORE)
    return TokenCreated(**token_read(token).model_dump(), token=secret)


@router.get("")
async def list_access_tokens(
    conn: Conn, caller: SessionCaller, response: Response
) -> TokensResponse:
    """My live tokens, newest first, without their secrets."""
    response.headers.update(NO_STORE)
    return TokensResponse(
        items=[token_read(t) for t in await tokens_of(conn, person_id=caller.person.id)]
    )


@router.delete("/{token_id}", status_code=204, dependencies=[SameSite], responses=errors(404, 422))
async def delete_access_token(token_id: uuid.UUID, conn: Conn, caller: TokenHolder) -> Response:
    """Revoke one of my tokens at once (someone else's or unknown: 404). With a token, only
    that token itself."""
    if caller.bearer is not None and caller.bearer.token_id != token_id:
        raise Forbidden("A token may only delete itself; managing tokens needs a session.")
    if not await revoke_token(conn, person_id=caller.person.id, token_id=token_id):
        raise NotFound()
    await conn.commit()
    return Response(status_code=204)
