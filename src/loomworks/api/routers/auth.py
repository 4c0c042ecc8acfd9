"""Sign in and sign out with the loomworks_session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from loomworks.api.deps import (
    SESSION_COOKIE,
    AppSettings,
    Conn,
    CurrentPerson,
    Engine,
    Hashing,
    SessionToken,
)
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.errors import NotAuthenticated, TooManyRequests
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.people import LoginCreate
from loomworks.db.login import LoginLimits, SignedIn, Throttled, sign_in
from loomworks.db.people import revoke_session
from loomworks.platform import metrics
from loomworks.platform.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])


def _limits(settings: Settings) -> LoginLimits:
    return LoginLimits(
        per_email=settings.login_failures_per_email,
        per_address=settings.login_failures_per_address,
        window=settings.login_failure_window,
    )


@router.post(
    "/login",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[SameSite],
    responses=errors(400, 401, 403, 413, 422, 429, 503),
)
async def login(
    body: LoginCreate,
    request: Request,
    engine: Engine,
    hashing: Hashing,
    settings: AppSettings,
    response: Response,
) -> None:
    """Check email and password and set a fresh session cookie (throttled after failures)."""
    outcome = await sign_in(
        engine,
        email=body.email,
        password=body.password,
        # Behind a proxy, run uvicorn with --proxy-headers so this is the real client.
        client_address=request.client.host if request.client else "unknown",
        limits=_limits(settings),
        session_lifetime=settings.session_lifetime,
        hashing=hashing,
    )
    if isinstance(outcome, Throttled):
        metrics.LOGIN_THROTTLED.inc()
        raise TooManyRequests(
            f"Too many failed sign-ins; try again in {outcome.retry_after} seconds.",
            retry_after=outcome.retry_after,
        )
    if not isinstance(outcome, SignedIn):
        raise NotAuthenticated("Email or password is wrong.")
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        max_age=settings.session_lifetime_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[SameSite],
    responses=errors(401, 403, 503),
)
async def logout(
    conn: Conn, me: CurrentPerson, response: Response, token: SessionToken, settings: AppSettings
) -> None:
    """Revoke the current session and clear its cookie."""
    assert token is not None  # CurrentPerson has already refused a missing cookie
    await revoke_session(conn, token)
    await conn.commit()
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure
    )
