"""`python -m bench.events`: delivery latency of dashboard events to many open streams.

One uvicorn server process (as in production), 1,000 open `/me/dashboard/events` streams
from raw asyncio sockets in this process, then a few changes committed one at a time on a
separate connection: for each, the time from just before its COMMIT until each stream has
read the event. Prints p50/p99/max over all (stream, change) pairs and the server's RSS
growth from before the streams opened to after the last change (docs/live.md).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.measure import rss_bytes, serve
from bench.runner import RESULTS_DIR, _run_loop, database, write_result
from loomworks.api.deps import SESSION_COOKIE
from loomworks.core.states import Designation
from loomworks.db.engagements import add_member, create_engagement
from loomworks.db.people import create_person, issue_session
from loomworks.db.tables import shapes
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head

TARGET_P99_MS = 100.0
TARGET_RSS_GROWTH_MB = 50.0
MARKER = b"event: zone_changed"


class Stream(asyncio.Protocol):
    """One open event stream as a bare protocol: the arrival time of each event is taken in
    data_received, with no task to wake, so 1,000 streams in this process add little of the
    client's own time to what is measured."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.head = b""
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.started.done():
            self.head += data
            if b"\r\n\r\n" in self.head:
                if self.head.startswith(b"HTTP/1.1 200"):
                    self.started.set_result(None)
                else:
                    self.started.set_exception(RuntimeError(f"refused: {self.head[:80]!r}"))
            return
        data = self._tail + data
        self.arrivals += [now] * data.count(MARKER)
        self._tail = data[-len(MARKER) :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.started.done():
            self.started.set_exception(RuntimeError("closed before it started"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_stream(port: int, token: str) -> Stream:
    loop = asyncio.get_running_loop()
    transport, stream = await loop.create_connection(Stream, "127.0.0.1", port)
    transport.write(
        f"GET /me/dashboard/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: {SESSION_COOKIE}={token}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await stream.started
    return stream


async def seed(engine: AsyncEngine, people: int) -> tuple[uuid.UUID, list[str]]:
    """One engagement with `people` operators, one session each."""
    async with engine.begin() as conn:
        engagement_id = await create_engagement(conn, name="Bench harbour")
        tokens = []
        for n in range(people):
            person = await create_person(
                conn,
                email=f"bench-{n}-{uuid.uuid4().hex[:6]}@example.test",
                display_name=f"Bench {n}",
                password=None,
            )
            assert person is not None
            await add_member(
                conn,
                person_id=person.id,
                engagement_id=engagement_id,
                designation=Designation.OPERATOR,
            )
            token = await issue_session(conn, person_id=person.id, lifetime=timedelta(hours=1))
            tokens.append(token)
    return engagement_id, tokens


async def run(url: str, *, streams: int, people: int, changes: int) -> dict[str, Any]:
    engine = create_engine(url, pool_size=2)
    await upgrade_to_head(engine)
    engagement_id, tokens = await seed(engine, people)
    async with serve(url, pool_size=10) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        # Warm the server: a stream opened and closed, so imports and first-use caches are
        # not counted as the streams' memory.
        warm = await open_stream(port, tokens[0])
        warm.close()
        await asyncio.sleep(0.5)
        rss_before = rss_bytes(server.pid)

        gate = asyncio.Semaphore(100)

        async def opened(n: int) -> Stream:
            async with gate:
                return await open_stream(port, tokens[n % len(tokens)])

        started = time.perf_counter()
        opened_streams = await asyncio.gather(*(opened(n) for n in range(streams)))
        open_seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)
        rss_open = rss_bytes(server.pid)

        latencies_ms: list[float] = []
        per_change: list[dict[str, float]] = []
        async with engine.connect() as conn:
            for change in range(changes):
                seen = [len(s.arrivals) for s in opened_streams]
                await conn.execute(
                    insert(shapes).values(
                        engagement_id=engagement_id,
                        shape_type="site_plan",
                        title=f"Bench shape {change}",
                        state="pending_confirmation",
                    )
                )
                committing = time.perf_counter()
                await conn.commit()
                deadline = committing + 10
                pairs = list(zip(opened_streams, seen, strict=True))
                while any(len(s.arrivals) <= before for s, before in pairs):
                    if time.perf_counter() > deadline:
                        raise RuntimeError("some streams never got the event")
                    await asyncio.sleep(0.005)
                these = [(s.arrivals[before] - committing) * 1000 for s, before in pairs]
                latencies_ms += these
                per_change.append(_summary(these))
                await asyncio.sleep(0.5)
        rss_after = rss_bytes(server.pid)
        for stream in opened_streams:
            stream.close()
    await engine.dispose()
    return {
        "streams": streams,
        "people": people,
        "changes": changes,
        "open_seconds": open_seconds,
        "latency_ms": _summary(latencies_ms),
        "latency_ms_per_change": per_change,
        "rss_before_mb": rss_before / 2**20,
        "rss_with_streams_mb": rss_open / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "rss_growth_mb": (rss_after - rss_before) / 2**20,
        "note": "latency: from just before COMMIT to the event read by each stream's socket; "
        "RSS of the uvicorn server process (the streams' client runs apart)",
    }


def _summary(values_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def _raise_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--streams", type=int, default=1000, help="open streams (default 1000)")
    parser.add_argument("--people", type=int, default=100, help="people they belong to")
    parser.add_argument("--changes", type=int, default=5, help="changes committed, one by one")
    parser.add_argument("--database-url", default=None, help="default: a throwaway embedded one")
    parser.add_argument("--json", default=str(RESULTS_DIR / "events.json"))
    args = parser.parse_args(argv)
    # Server and client both hold one descriptor per stream; the server inherits this limit.
    _raise_open_file_limit(args.streams * 2 + 256)
    with database(args.database_url) as url:
        result = _run_loop(
            run(url, streams=args.streams, people=args.people, changes=args.changes),
            use_uvloop=True,
        )
    latency = result["latency_ms"]
    print(
        f"{result['streams']} streams ({result['people']} people), {result['changes']} changes:\n"
        f"  delivery latency  p50 {latency['p50']:.1f} ms  p99 {latency['p99']:.1f} ms  "
        f"max {latency['max']:.1f} ms   (target p99 <= {TARGET_P99_MS:.0f} ms)\n"
        f"  server RSS        {result['rss_before_mb']:.1f} MB -> {result['rss_after_mb']:.1f} MB, "
        f"growth {result['rss_growth_mb']:.1f} MB   (target <= {TARGET_RSS_GROWTH_MB:.0f} MB)\n"
        f"  streams opened in {result['open_seconds']:.2f} s"
    )
    write_result(args.json, result)


if __name__ == "__main__":
    main()
