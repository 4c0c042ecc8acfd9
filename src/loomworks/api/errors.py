"""The service's error family and its one mapping to HTTP: every error body is {"detail": ...}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

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


class NotFound(LoomworksError):
    status_code = 404


class BadCursor(LoomworksError):
    status_code = 400


class Conflict(LoomworksError):
    status_code = 409


class Forbidden(LoomworksError):
    status_code = 403


class TooManyRequests(LoomworksError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class DatabaseUnavailable(LoomworksError):
    status_code = 503

    def __init__(self, detail: str = "The database is unavailable; try again shortly.") -> None:
        super().__init__(detail)


def _is_unreachable(exc: Exception) -> bool:
    if isinstance(exc, OSError | TimeoutError | InterfaceError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoomworksError)
    async def loomworks_error(request: Request, exc: LoomworksError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if _is_unreachable(exc):
            log.warning("database unreachable: %s", exc)
            return await loomworks_error(request, DatabaseUnavailable())
        return await unexpected_error(request, exc)

    # Registered per class so they run inside Starlette's ExceptionMiddleware, which answers
    # without re-raising; the catch-all below only runs in ServerErrorMiddleware.
    for exc_class in (OSError, TimeoutError, DBAPIError):
        app.add_exception_handler(exc_class, database_error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error."}, status_code=500)
