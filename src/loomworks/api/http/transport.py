"""Cutting a client's connection off at once. Closing it politely (what a server does when a
response ends unfinished) waits until the client has taken everything already written, which
a client that stopped reading never does: its socket and that buffer would be held forever.

The application remembers the server's own `send` in the scope; under uvicorn it
is a method of the request's cycle, which holds the transport. Under another server nothing
is found and the connection is left to that server."""

from __future__ import annotations

import asyncio

from starlette.types import Scope, Send

_SEND = "loomworks.server_send"


def remember_server_send(scope: Scope, send: Send) -> None:
    scope[_SEND] = send


async def abort_connection(scope: Scope) -> None:
    """Drop the client's connection and what is buffered for it (TCP reset)."""
    transport = getattr(getattr(scope.get(_SEND), "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return
    transport.abort()
    # The server learns of it on the next turn of the loop (connection_lost), so that it
    # counts the response as the client's disconnect rather than as one left unfinished.
    await asyncio.sleep(0)
