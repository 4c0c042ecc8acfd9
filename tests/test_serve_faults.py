"""Starting and stopping the service when things are wrong: an unreachable or missing
database is one clear line and a non-zero exit; SIGTERM finishes within its bound even
while clients stall downloads and hold event streams open, with no traceback, and the
embedded PostgreSQL stops with the server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomworks.platform.embedded import embedded_server
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head
from tests.fixtures.data import make_engagement, make_person, make_render, make_session
from tests.test_cli import _free_port, _postgres_for
from tests.test_serve_workers import _wait_healthy

FILE_BYTES = 16 * 1024 * 1024


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOMWORKS_")}
    return {**env, **values}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_the_database_unreachable_is_one_line() -> None:
    url = f"postgresql://loomworks:secret@127.0.0.1:{_closed_port()}/loomworks"
    result = subprocess.run(
        [sys.executable, "-m", "loomworks.cli", "serve"],
        env=_env(LOOMWORKS_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("loomworks: error: cannot reach the database at postgresql://")
    assert "secret" not in lines[0]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_uvicorn_without_a_database_url_stops_instead_of_crash_looping(workers: str) -> None:
    started = time.monotonic()
    command = [sys.executable, "-m", "uvicorn", "--factory", "loomworks.app:app_from_env"]
    result = subprocess.run(
        [*command, "--port", str(_free_port()), "--workers", workers],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert time.monotonic() - started < 30
    ours = [line for line in result.stderr.splitlines() if line.startswith("loomworks:")]
    # One line per worker at most: each fails once and none is restarted.
    assert 1 <= len(ours) <= int(workers), result.stderr
    assert "LOOMWORKS_DATABASE_URL is not set" in ours[0]
    assert "Traceback" not in result.stderr
    if workers == "1":
        # With several workers the exit code is uvicorn's supervisor's own (0 in 0.54).
        assert result.returncode != 0


async def _prepare(data_dir: Path) -> tuple[str, str]:
    """A migrated embedded database holding a large render, stopped again afterwards."""
    with embedded_server(data_dir / "pgdata") as url:
        engine = create_engine(url, pool_size=1)
        try:
            await upgrade_to_head(engine)
            async with engine.begin() as conn:
                owner = await make_person(conn)
                eid = await make_engagement(conn, member=owner)
                payload = b"x" * FILE_BYTES
                rid = await make_render(
                    conn, eid, content_kind="binary_blob", files=[("big.bin", "x/y", payload)]
                )
                token = await make_session(conn, owner)
        finally:
            await engine.dispose()
    return token, f"/engagements/{eid}/renders/{rid}/content"


SHUTDOWN_TIMEOUT = 3
STALLED_DOWNLOADS = 5


def _open(port: int, path: str, token: str, *, stalled: bool) -> socket.socket:
    client = socket.socket()
    if stalled:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    client.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: loomworks_session={token}\r\n\r\n".encode()
    )
    client.settimeout(10)
    assert client.recv(12) == b"HTTP/1.1 200"
    return client


def test_sigterm_finishes_within_its_bound_with_stalled_downloads_and_open_streams(
    tmp_path: Path,
) -> None:
    token, path = asyncio.run(_prepare(tmp_path / "data"))
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "loomworks.cli", "serve", "--port", str(port)],
            env=_env(
                LOOMWORKS_DATA_DIR=str(tmp_path / "data"),
                LOOMWORKS_SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT),
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    clients: list[socket.socket] = []
    try:
        _wait_healthy(port)
        clients += [_open(port, path, token, stalled=True) for _ in range(STALLED_DOWNLOADS)]
        # Event streams: two that read, one that stopped reading.
        clients += [_open(port, "/me/dashboard/events", token, stalled=n == 2) for n in range(3)]
        time.sleep(0.5)

        server.send_signal(signal.SIGTERM)
        started = time.monotonic()
        server.wait(60)
        took = time.monotonic() - started
        print(f"\nSIGTERM to exit: {took:.2f} s (shutdown timeout {SHUTDOWN_TIMEOUT} s)")
        assert took <= SHUTDOWN_TIMEOUT + 2
    finally:
        for client in clients:
            client.close()
        if server.poll() is None:
            server.kill()
            server.wait()
            for process in _postgres_for(tmp_path):  # the killed server could not stop it
                process.send_signal(signal.SIGINT)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    assert "ERROR" not in text, text
    for _ in range(50):
        if not _postgres_for(tmp_path):
            break
        time.sleep(0.2)
    assert _postgres_for(tmp_path) == []
