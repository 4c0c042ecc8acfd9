"""One log line per request on `loomworks.access`, and the request id every response carries
(`X-Request-ID`): taken from the client when it is sane, made up otherwise.

A pure ASGI middleware, not BaseHTTPMiddleware: it only watches the messages go by, so a
streamed download is neither buffered nor held back, and its duration is the whole stream's.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("loomworks.access")

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_LENGTH = 64
# Routes nobody matched (404s for made-up paths) share one label, so a scanner cannot grow
# the logs' or the metrics' set of route names without bound.
UNMATCHED_ROUTE = "<unmatched>"

# Called once per finished request: method, route template, status, seconds.
RequestObserver = Callable[[str, str, int, float], None]


def sane_request_id(value: str | None) -> str | None:
    """The client's id when it is short and visible ASCII only (no spaces or control
    characters, so it cannot forge or split a log line); None otherwise."""
    if not value or len(value) > MAX_REQUEST_ID_LENGTH:
        return None
    if not all("!" <= char <= "~" for char in value):
        return None
    return value


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/engagements/{engagement_id}/jobs/{job_id}`), which
    the router leaves in the scope; never the raw path, whose ids are unbounded."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class AccessMiddleware:
    """Logs each HTTP request once it has finished and echoes its request id."""

    def __init__(self, app: ASGIApp, observers: tuple[RequestObserver, ...] = ()) -> None:
        self.app = app
        self.observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._finished(scope, status, time.perf_counter() - started, request_id)

    def _finished(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        method, route = scope["method"], route_template(scope)
        log.info(
            "%s %s %d %.1fms request_id=%s",
            method,
            route,
            status,
            seconds * 1000,
            request_id,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "request_id": request_id,
            },
        )
        for observe in self.observers:
            observe(method, route, status, seconds)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            return sane_request_id(value.decode("latin-1"))
    return None
