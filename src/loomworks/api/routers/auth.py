"""Sign in and sign out with the loomworks_session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from loomworks.api.deps import SESSION_COOKIE, AppSettings, Conn, CurrentPerson, SessionToken
from loomworks.api.errors import NotAuthenticated
from loomworks.api.schemas.people import LoginCreate
from loomworks.db.people import authenticate, issue_session, revoke_session

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", status_code=status.HTTP_204_NO_CONTENT)
async def login(body: LoginCreate, conn: Conn, settings: AppSettings, response: Response) -> None:
    """Check email and password and set a fresh session cookie."""
    person = await authenticate(conn, email=body.email, password=body.password)
    if person is None:
        raise NotAuthenticated("Email or password is wrong.")
    token = await issue_session(conn, person_id=person.id, lifetime=settings.session_lifetime)
    await conn.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_lifetime_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    conn: Conn, me: CurrentPerson, response: Response, token: SessionToken = None
) -> None:
    """Revoke the current session and clear its cookie."""
    assert token is not None  # CurrentPerson has already refused a missing cookie
    await revoke_session(conn, token)
    await conn.commit()
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
