"""The service's error family and its one mapping to HTTP: every error body is {"detail": ...}."""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import BaseRoute, Match

from loomworks.platform.faults import describe, is_unavailable

log = logging.getLogger(__name__)


class LoomworksError(Exception):
    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(LoomworksError):
    status_code = 401

    def __init__(
        self, detail: str = "Not signed in: send a valid loomworks_session cookie."
    ) -> None:
        super().__init__(detail)


class Forbidden(LoomworksError):
    status_code = 403


class NotFound(LoomworksError):
    """Unknown, or in an engagement the caller is not a member of: the same answer for both,
    so nothing outside the caller's engagements can be told to exist."""

    status_code = 404

    def __init__(self, detail: str = "Not found in any engagement you belong to.") -> None:
        super().__init__(detail)


class BadCursor(LoomworksError):
    status_code = 400


class Unprocessable(LoomworksError):
    status_code = 422


class Conflict(LoomworksError):
    status_code = 409


# Seconds a client should wait before retrying a 503: about as long as PostgreSQL takes to
# restart, and longer than the timeouts that produced the 503.
RETRY_AFTER_SECONDS = 5


class TooManyRequests(LoomworksError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class DatabaseUnavailable(LoomworksError):
    status_code = 503

    def __init__(self, detail: str = "The database is unavailable; try again shortly.") -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoomworksError)
    async def loomworks_error(request: Request, exc: LoomworksError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(405)
    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        """Allow lists every method of the path, which Starlette takes from the first route
        only (GET /me/sessions and DELETE /me/sessions are two routes)."""
        methods = {
            method
            for route in request.app.router.routes
            if isinstance(route, BaseRoute) and route.matches(request.scope)[0] == Match.PARTIAL
            for method in getattr(route, "methods", None) or ()
        }
        return JSONResponse(
            {"detail": "Method Not Allowed"},
            status_code=405,
            headers={"Allow": ", ".join(sorted(methods))},
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            log.warning(
                "database unavailable on %s %s: %s", request.method, request.url.path, describe(exc)
            )
            return await loomworks_error(request, DatabaseUnavailable())
        return await unexpected_error(request, exc)

    # Registered per class so they run inside Starlette's ExceptionMiddleware, which answers
    # without re-raising; the catch-all below only runs in ServerErrorMiddleware.
    unavailable_classes = (
        OSError,
        TimeoutError,
        SQLAlchemyError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        # Not an InterfaceError: the driver's word that a connection's protocol state broke
        # (a ping cut off while the server restarted).
        asyncpg.exceptions.InternalClientError,
    )
    for exc_class in unavailable_classes:
        app.add_exception_handler(exc_class, database_error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error."}, status_code=500)
