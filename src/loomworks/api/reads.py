"""Reads that a replica failed under are answered again from the primary, so a replica going
down mid-traffic costs a retry, never an error (docs/scaling.md, "Read replicas").

A pure ASGI middleware, the innermost one: the retry runs the same route once more with
request.state saying "primary", before anything of the first attempt was sent.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loomworks.api.deps import READ_ON_PRIMARY, ReplicaFailed
from loomworks.metrics import READ_ROUTES

READ_METHODS = frozenset({"GET", "HEAD"})


class ReplicaFallback:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ReplicaFailed:
            if started:
                raise
            scope.setdefault("state", {})[READ_ON_PRIMARY] = True
            READ_ROUTES.labels("primary").inc()
            await self.app(scope, _again(receive), send)


def _again(receive: Receive) -> Receive:
    """The request's (empty) body once more, then the client's own messages (disconnect)."""
    replayed = False

    async def receive_again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return receive_again
