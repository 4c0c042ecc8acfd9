"""When the server behind this process starts shutting down, and the cutoff by which every
open response has to end so the server's graceful shutdown never has to cancel one.

There is no ASGI message for "the server is exiting", so the uvicorn server behind the
SIGTERM handler is looked at (as sse-starlette does); under another server nothing here
fires, and the lifespan's own shutdown is what ends the streams."""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
from collections.abc import Iterator

POLL_SECONDS = 0.25
# Open responses end this long before the server's own graceful bound (at most half of it),
# so that the server finds them finished rather than cancelling them with a traceback.
MARGIN_SECONDS = 1.0


def server_exiting() -> bool:
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


class Shutdown:
    """Long responses (downloads, event streams) register the timeout they wait under; once
    the server exits, each is brought forward to the cutoff."""

    def __init__(self, graceful_seconds: float) -> None:
        self.grace = max(graceful_seconds - MARGIN_SECONDS, graceful_seconds / 2)
        self.cutoff: float | None = None  # loop time; None while the server runs
        self.started = asyncio.Event()
        self._bounded: set[asyncio.Timeout] = set()

    async def watch(self) -> None:
        while not server_exiting():  # noqa: ASYNC110 (a flag on uvicorn, no event to await)
            await asyncio.sleep(POLL_SECONDS)
        self.begin()

    def begin(self) -> None:
        if self.cutoff is None:
            self.cutoff = asyncio.get_running_loop().time() + self.grace
            self.started.set()
        for timeout in self._bounded:
            self._cap(timeout)

    @contextlib.contextmanager
    def bounding(self, timeout: asyncio.Timeout) -> Iterator[None]:
        """While in the block, `timeout` fires at the shutdown cutoff at the latest."""
        self._cap(timeout)
        self._bounded.add(timeout)
        try:
            yield
        finally:
            self._bounded.discard(timeout)

    def _cap(self, timeout: asyncio.Timeout) -> None:
        if self.cutoff is not None and not timeout.expired():
            when = timeout.when()
            timeout.reschedule(min(math.inf if when is None else when, self.cutoff))
