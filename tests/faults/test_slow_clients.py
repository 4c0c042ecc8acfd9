"""Download clients that stop reading, against a real uvicorn server on a loopback port:
they hold no database connection, other requests still answer, and they are dropped."""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.platform.settings import Settings
from tests.fixtures.data import make_engagement, make_person, make_render, make_session
from tests.fixtures.live import serving

FILE_BYTES = 8 * 1024 * 1024


@dataclass
class Served:
    app: FastAPI
    server: uvicorn.Server
    port: int
    token: str
    download_path: str

    def stalled_download(self) -> socket.socket:
        """A client that asks for the file, reads the status line, then reads nothing."""
        client = socket.socket()
        # A small receive window, so the server's writes back up at once.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", self.port))
        client.sendall(
            f"GET {self.download_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: loomworks_session={self.token}\r\n\r\n".encode()
        )
        client.settimeout(10)
        assert client.recv(12) == b"HTTP/1.1 200"
        return client


@pytest.fixture
async def served(
    request: pytest.FixtureRequest, database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> AsyncIterator[Served]:
    idle_timeout, file_bytes = getattr(request, "param", (30.0, FILE_BYTES))
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    payload = bytes(range(256)) * (file_bytes // 256)
    rid = await make_render(
        db,
        eid,
        content_kind="binary_blob",
        files=[("big.bin", "application/octet-stream", payload)],
    )
    token = await make_session(db, owner)
    settings = Settings(
        database_url=database_url, db_pool_size=2, download_idle_timeout_seconds=idle_timeout
    )
    app = create_app(settings)
    async with serving(app, shutdown_within=1) as live:
        yield Served(
            app, live.server, live.port, token, f"/engagements/{eid}/renders/{rid}/content"
        )


async def test_stalled_downloads_hold_no_connection(served: Served) -> None:
    # Four stalled clients: as many as the pool has connections, with its overflow.
    clients = [await asyncio.to_thread(served.stalled_download) for _ in range(4)]
    try:
        pool = served.app.state.engine.pool
        # Each download reads its next chunk, then waits on its client, holding nothing.
        for _ in range(100):
            if not pool.checkedout():
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{served.port}",
            cookies={"loomworks_session": served.token},
        ) as http:
            for _ in range(10):
                assert pool.checkedout() == 0
                started = time.monotonic()
                assert (await http.get("/healthz")).status_code == 200
                me = await http.get("/me")
                assert me.status_code == 200
                assert time.monotonic() - started < 1
                await asyncio.sleep(0.1)
    finally:
        tracemalloc.stop()
        for client in clients:
            client.close()


def _read_to_end(client: socket.socket) -> bytes:
    received = bytearray()
    while chunk := client.recv(1 << 20):
        received += chunk
    return bytes(received)


@pytest.mark.parametrize("served", [(0.5, FILE_BYTES)], indirect=True)
async def test_a_client_that_reads_nothing_is_dropped(served: Served) -> None:
    client = await asyncio.to_thread(served.stalled_download)
    with client:
        await asyncio.sleep(2)  # reads nothing for longer than the idle timeout
        rest = await asyncio.to_thread(_read_to_end, client)
    head, _, body = rest.partition(b"\r\n\r\n")
    assert f"content-length: {FILE_BYTES}".encode() in head.lower()
    # The connection ended (recv returned b"") before the whole file came.
    assert len(body) < FILE_BYTES


async def test_a_slow_reader_that_keeps_reading_gets_everything(served: Served) -> None:
    client = await asyncio.to_thread(served.stalled_download)
    with client:
        await asyncio.sleep(0.5)
        rest = await asyncio.to_thread(_read_to_end_of_body, client)
    assert len(rest) == FILE_BYTES


def _read_to_end_of_body(client: socket.socket) -> bytes:
    received = bytearray()
    while b"\r\n\r\n" not in received:
        received += client.recv(65536)
    body = bytes(received).partition(b"\r\n\r\n")[2]
    remaining = bytearray(body)
    while len(remaining) < FILE_BYTES:
        chunk = client.recv(1 << 20)
        if not chunk:
            break
        remaining += chunk
    return bytes(remaining)


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmRSS:"))
    return int(kib) * 1024


def _buffered(server: uvicorn.Server) -> tuple[int, int]:
    """Open client connections, and the bytes written for them that they have not taken."""
    connections = list(server.server_state.connections)
    return len(connections), sum(c.transport.get_write_buffer_size() for c in connections)  # type: ignore[union-attr]


def _gone(client: socket.socket) -> bool:
    """The server closed this connection: what it had sent, then EOF or a reset."""
    client.settimeout(5)
    try:
        while client.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


STALLED_CLIENTS = 20
IDLE_TIMEOUT = 2.0


@pytest.mark.parametrize("served", [(IDLE_TIMEOUT, 16 * 1024 * 1024)], indirect=True)
async def test_stalled_clients_are_cut_off_and_their_memory_freed(served: Served) -> None:
    # Python's own count of what it allocated (the process's RSS keeps pages glibc holds on
    # to, so it cannot show memory going back).
    tracemalloc.start()
    baseline, rss_baseline = tracemalloc.get_traced_memory()[0], _rss_bytes()
    clients = [await asyncio.to_thread(served.stalled_download) for _ in range(STALLED_CLIENTS)]
    stalled_since = time.monotonic()
    try:
        await asyncio.sleep(0.5)
        held_connections, held_bytes = _buffered(served.server)
        peak, rss_peak = tracemalloc.get_traced_memory()[0], _rss_bytes()
        # Each stalled download holds a chunk the client will not take.
        assert held_connections == STALLED_CLIENTS
        assert held_bytes >= STALLED_CLIENTS * 256 * 1024
        deadline = stalled_since + IDLE_TIMEOUT + 5
        while _buffered(served.server)[0] and time.monotonic() < deadline:  # noqa: ASYNC110 (uvicorn has no event for it)
            await asyncio.sleep(0.1)
        gone_after = time.monotonic() - stalled_since
        assert _buffered(served.server) == (0, 0), f"still open after {gone_after:.1f} s"
        assert all(await asyncio.gather(*(asyncio.to_thread(_gone, c) for c in clients)))
        after, rss_after = tracemalloc.get_traced_memory()[0], _rss_bytes()
        print(
            f"\n{STALLED_CLIENTS} stalled: {held_bytes / 2**20:.1f} MiB buffered, allocated "
            f"+{(peak - baseline) / 2**20:.1f} MiB -> +{(after - baseline) / 2**20:.1f} MiB "
            f"(RSS {rss_baseline / 2**20:.0f} -> {rss_peak / 2**20:.0f} -> "
            f"{rss_after / 2**20:.0f} MiB); all closed {gone_after:.1f} s after they stalled "
            f"(idle timeout {IDLE_TIMEOUT:g} s)"
        )
        assert peak - baseline >= held_bytes
        # What the stalled downloads held is back; what stays is the process's caches
        # (compiled statements, prepared statements) warmed by the first requests.
        assert after - baseline <= (peak - baseline) / 4
        # And the server still serves.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}") as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        tracemalloc.stop()
        for client in clients:
            client.close()
