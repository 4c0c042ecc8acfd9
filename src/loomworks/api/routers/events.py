"""The dashboard's live events: a text/event-stream of which zones changed, for the signed-in
person's engagements only (docs/live.md)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from loomworks.api.deps import Hub, Stopping, StreamCaller
from loomworks.api.http.transport import abort_connection
from loomworks.api.schemas.errors import errors
from loomworks.live.hub import Ended, EventHub, KeepAlive, Subscriber, ZoneChanged
from loomworks.platform.shutdown import Shutdown

router = APIRouter(prefix="/me/dashboard", tags=["dashboard"])

# How long a browser's EventSource waits before reconnecting after the stream ends.
RECONNECT_MILLISECONDS = 2000
EXAMPLE = (
    "retry: 2000\n\n"
    "event: zone_changed\n"
    'data: {"zone":"needs_you","engagement_id":"0b6c4e5e-3f0a-4c51-9a43-2f7d2f1e9d10"}\n'
    "id: 4711\n\n"
    ": keep-alive\n\n"
)


# One change goes to many streams as the same message: written once.
@functools.lru_cache(maxsize=4096)
def encode(message: ZoneChanged | KeepAlive | Ended) -> bytes:
    if isinstance(message, ZoneChanged):
        data = orjson.dumps(
            {"zone": message.zone.value, "engagement_id": str(message.engagement_id)}
        )
        return b"event: zone_changed\ndata: %s\nid: %d\n\n" % (data, message.version)
    if isinstance(message, KeepAlive):
        return b": keep-alive\n\n"
    return f": {message.reason}\n\n".encode()


class EventStreamResponse(Response):
    """A subscriber's messages as server-sent events, written straight to the ASGI server:
    per event one queue wake-up and one send, no timer (the hub's heartbeat brings the
    keep-alives and abandons a stalled write), so one change reaches many streams fast."""

    media_type = "text/event-stream"

    def __init__(self, hub: EventHub, subscriber: Subscriber, shutdown: Shutdown) -> None:
        # Not Response.__init__: it would add a Content-Length for the empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"vary", b"Cookie"),
            (b"x-accel-buffering", b"no"),  # proxies must not buffer it either
        ]
        self.hub = hub
        self.subscriber = subscriber
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscriber = self.subscriber
        self.loop = asyncio.get_running_loop()
        gone = asyncio.create_task(self._until_disconnect(receive))
        try:
            async with asyncio.timeout(None) as subscriber.deadline:
                with self.shutdown.bounding(subscriber.deadline):
                    await self._stream(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            # Abandoned: the client took nothing for a heartbeat (or is still not reading at
            # the shutdown cutoff). Completing the response would wait on it again, and so
            # would a polite close: cut the connection off, with what is buffered for it.
            await abort_connection(scope)
        finally:
            subscriber.deadline = None
            gone.cancel()
            self.hub.unsubscribe(subscriber)

    async def _stream(self, send: Send) -> None:
        subscriber = self.subscriber
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        backlog, subscriber.backlog = subscriber.backlog, []
        first = [f"retry: {RECONNECT_MILLISECONDS}\n\n".encode(), *map(encode, backlog)]
        await self._send(send, b"".join(first))
        while True:
            message = await subscriber.queue.get()
            await self._send(send, encode(message))
            if isinstance(message, Ended):
                return

    async def _send(self, send: Send, chunk: bytes) -> None:
        self.subscriber.sending_since = self.loop.time()
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        self.subscriber.sending_since = None

    async def _until_disconnect(self, receive: Receive) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while (await receive())["type"] != "http.disconnect":
                pass
            self.subscriber.end("The client went away.")


_MAX_VERSION_DIGITS = 19  # 2**63 - 1


def _version(last_event_id: str | None) -> int | None:
    """The version to resume after. Anything but a version we could have sent (a browser
    replays whatever id it last saw) resumes nothing rather than failing the reconnect."""
    if last_event_id is None or len(last_event_id) > _MAX_VERSION_DIGITS:
        return None  # and never int() a huge string: Python refuses past 4,300 digits
    if not last_event_id.isascii() or not last_event_id.isdigit():
        return None
    version = int(last_event_id)
    return version if version < 2**63 else None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            'An endless text/event-stream: `event: zone_changed`, `data: {"zone", '
            '"engagement_id"}`, `id: <version>`; a `: keep-alive` comment at least every '
            "15 seconds. It ends when the session is signed out or expires, when the server "
            "shuts down, or when the client falls too far behind."
        ),
        "content": {
            "text/event-stream": {
                # One server-sent event, as a client's parser hands it over.
                "schema": {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string", "enum": ["zone_changed"]},
                        "data": {
                            "type": "string",
                            "description": 'JSON: {"zone": ..., "engagement_id": ...}',
                        },
                        "id": {"type": "string", "description": "a version: resume from it"},
                        "retry": {"type": "integer"},
                    },
                },
                "example": EXAMPLE,
            }
        },
    },
    # The errors are JSON: spelled out, since a "model" would be filed under the route's own
    # media type (text/event-stream).
    **{
        status: {
            "description": error["description"],
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{error['model'].__name__}"}
                }
            },
        }
        for status, error in errors(401, 422, 503).items()
    },
}


@router.get("/events", status_code=200, response_class=EventStreamResponse, responses=_RESPONSES)
async def dashboard_events(
    caller: StreamCaller,
    hub: Hub,
    shutdown: Stopping,
    last_event_id: Annotated[
        str | None,
        Header(
            description="the id of the last event received: first sends one zone_changed "
            "per (engagement, zone) that changed since, then live events"
        ),
    ] = None,
) -> EventStreamResponse:
    """Which of my dashboard zones changed, per engagement, as it happens (server-sent events)."""
    subscriber = await hub.subscribe(
        person_id=caller.person.id, token_hash=caller.token_hash, after=_version(last_event_id)
    )
    return EventStreamResponse(hub, subscriber, shutdown)
