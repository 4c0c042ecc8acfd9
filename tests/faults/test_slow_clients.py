"""Download clients that stop reading, against a real uvicorn server on a loopback port:
they hold no database connection, other requests still answer, and they are dropped."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
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
    idle_timeout = getattr(request, "param", 30.0)
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    payload = bytes(range(256)) * (FILE_BYTES // 256)
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
        yield Served(app, live.port, token, f"/engagements/{eid}/renders/{rid}/content")


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
        for client in clients:
            client.close()


def _read_to_end(client: socket.socket) -> bytes:
    received = bytearray()
    while chunk := client.recv(1 << 20):
        received += chunk
    return bytes(received)


@pytest.mark.parametrize("served", [0.5], indirect=True)
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
