"""Sign in and sign out with the loomworks_session cookie."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response, status

from loomworks.api.deps import (
    SESSION_COOKIE,
    AppSettings,
    Conn,
    CurrentPerson,
    DeviceKey,
    Engine,
    Gates,
    Hashing,
    SessionToken,
)
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.errors import NotAuthenticated, TooManyRequests
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.people import LoginCreate
from loomworks.db.login import Attempt, LoginLimits, SignedIn, Throttled, sign_in
from loomworks.db.people import revoke_session
from loomworks.platform import metrics
from loomworks.platform.security import (
    DEVICE_COOKIE_LIFETIME,
    device_cookie,
    device_person,
)
from loomworks.platform.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])

# Set at each successful sign-in: it exempts this browser from the person's per-email brake.
DEVICE_COOKIE = "loomworks_device"


def _limits(settings: Settings) -> LoginLimits:
    return LoginLimits(
        per_pair=settings.login_failures_per_pair,
        per_address=settings.login_failures_per_address,
        per_email=settings.login_failures_per_email,
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
    gates: Gates,
    device_key: DeviceKey,
    settings: AppSettings,
    response: Response,
) -> None:
    """Check email and password and set a fresh session cookie (throttled after failures)."""
    now = datetime.now(UTC)
    attempt = Attempt(
        body.email,
        # Behind a proxy, run uvicorn with --proxy-headers so this is the real client.
        request.client.host if request.client else "unknown",
        device_person(device_key, request.cookies.get(DEVICE_COOKIE), now=now),
    )
    outcome = await sign_in(
        engine,
        attempt,
        password=body.password,
        limits=_limits(settings),
        gates=gates,
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
    for name, value, max_age in (
        (SESSION_COOKIE, outcome.token, settings.session_lifetime_seconds),
        (
            DEVICE_COOKIE,
            device_cookie(device_key, outcome.person_id, now=now),
            int(DEVICE_COOKIE_LIFETIME.total_seconds()),
        ),
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
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
