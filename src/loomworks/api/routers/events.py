"""The dashboard's live events: a text/event-stream of which zones changed, for the signed-in
person's engagements only (docs/live.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from loomworks.api.deps import AppSettings, Hub, StreamCaller
from loomworks.events import Ended, EventHub, Subscriber, ZoneChanged

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


class ErrorDetail(BaseModel):
    """An error: a sentence a person can read."""

    detail: str


def _keep_alive() -> ServerSentEvent:
    return ServerSentEvent(comment="keep-alive", sep="\n")


def _encode(change: ZoneChanged) -> bytes:
    data = orjson.dumps({"zone": change.zone.value, "engagement_id": str(change.engagement_id)})
    return b"event: zone_changed\ndata: %s\nid: %d\n\n" % (data, change.version)


async def _events(hub: EventHub, subscriber: Subscriber) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
        backlog, subscriber.backlog = subscriber.backlog, []
        if backlog:
            yield b"".join(map(_encode, backlog))
        while True:
            message = await subscriber.queue.get()
            if isinstance(message, Ended):
                yield f": {message.reason}\n\n".encode()
                return
            yield _encode(message)
    finally:
        hub.unsubscribe(subscriber)


def _version(last_event_id: str | None) -> int | None:
    """The version to resume after. Anything but a version we could have sent (a browser
    replays whatever id it last saw) resumes nothing rather than failing the reconnect."""
    if last_event_id is None or not last_event_id.isascii() or not last_event_id.isdigit():
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
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": EXAMPLE}},
    },
    401: {"model": ErrorDetail, "description": "Not signed in: no valid session cookie"},
    503: {"model": ErrorDetail, "description": "The database is unavailable; retry shortly"},
}


@router.get("/events", response_class=EventSourceResponse, responses=_RESPONSES)
async def dashboard_events(
    caller: StreamCaller,
    hub: Hub,
    settings: AppSettings,
    last_event_id: Annotated[
        str | None,
        Header(
            description="the id of the last event received: first sends one zone_changed "
            "per (engagement, zone) that changed since, then live events"
        ),
    ] = None,
) -> EventSourceResponse:
    """Which of my dashboard zones changed, per engagement, as it happens (server-sent events)."""
    subscriber = await hub.subscribe(
        person_id=caller.person.id, token_hash=caller.token_hash, after=_version(last_event_id)
    )
    return EventSourceResponse(
        _events(hub, subscriber),
        ping=settings.events_heartbeat_seconds,
        ping_message_factory=_keep_alive,
        sep="\n",
        # A client that cannot take one chunk for a whole heartbeat is gone or stalled.
        send_timeout=settings.events_heartbeat_seconds,
        headers={"Cache-Control": "no-store", "Vary": "Cookie"},
    )
