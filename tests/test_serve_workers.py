"""`loomworks serve --workers N`, end to end in a subprocess: every worker answers, on the
embedded database and on an external one, and SIGTERM stops the workers and then the
embedded PostgreSQL within its bound."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from loomworks.cli import _parser
from tests.api.test_metrics import sample
from tests.test_cli import _free_port, _postgres_for

# uvicorn's graceful bound (2 s here), then the embedded PostgreSQL's own stop, on a busy
# two-core machine.
STOP_BOUND_SECONDS = 20


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOMWORKS_")}
    return {**env, "LOOMWORKS_SHUTDOWN_TIMEOUT_SECONDS": "2", **values}


def _serve(env: dict[str, str], port: int, output: Path, *extra: str) -> subprocess.Popen[str]:
    """The server, its output to a file: a pipe nobody drains would block its logging."""
    command = [sys.executable, "-m", "loomworks.cli", "serve", "--port", str(port), *extra]
    with output.open("w") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True)


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve --workers never answered /healthz")


def _answering_pid(server: psutil.Process, port: int) -> int:
    """Which of the server's processes holds the connection one request is answered on."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(12) == b"HTTP/1.1 200"
        mine = client.getsockname()[1]
        for process in server.children(recursive=True):
            for held in process.net_connections(kind="tcp"):
                if held.laddr.port == port and held.raddr and held.raddr.port == mine:
                    return int(process.pid)
    raise AssertionError("no server process holds the connection")


def _workers_answering(server: subprocess.Popen[str], port: int) -> tuple[set[int], int]:
    """The worker processes that answered /healthz, and how many requests it took to see
    both."""
    parent = psutil.Process(server.pid)
    seen: set[int] = set()
    for sent in range(1, 201):
        seen.add(_answering_pid(parent, port))
        if len(seen) == 2:
            return seen, sent
    return seen, sent


def _stop(server: subprocess.Popen[str]) -> float:
    workers = psutil.Process(server.pid).children(recursive=True)
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    server.wait(STOP_BOUND_SECONDS + 10)
    elapsed = time.monotonic() - started
    # multiprocessing's resource tracker leaves a moment after the parent.
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == []
    return elapsed


def test_two_workers_on_the_embedded_database_answer_and_stop_with_it(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(LOOMWORKS_DATA_DIR=str(tmp_path / "data"), LOOMWORKS_DEMO_TICK_SECONDS="0.2")
    output = tmp_path / "serve.log"
    server = _serve(env, port, output, "--workers", "2", "--demo")
    try:
        _wait_healthy(port)
        token = re.search(r"curl -b 'loomworks_session=([^']+)'", output.read_text())
        assert token, "serve --demo printed no curl line"
        assert len(_workers_answering(server, port)[0]) == 2
        # The demo simulator runs once, in the parent: the workers see its jobs move.
        url = f"http://127.0.0.1:{port}/me/dashboard/active"
        cookies = {"loomworks_session": token.group(1)}
        first = httpx.get(url, cookies=cookies).json()
        for _ in range(50):
            time.sleep(0.2)
            if httpx.get(url, cookies=cookies).json() != first:
                break
        else:
            raise AssertionError("the demo simulator did not move any job")
        assert _postgres_for(tmp_path)
        assert _stop(server) < STOP_BOUND_SECONDS
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert _postgres_for(tmp_path) == []


def _healthz_count(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sample(text, "loomworks_http_requests_total", route="/healthz")


def test_two_workers_on_an_external_database_sum_their_metrics(
    database_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = _env(LOOMWORKS_DATABASE_URL=database_url, LOOMWORKS_METRICS="true")
    server = _serve(env, port, tmp_path / "serve.log", "--workers", "2")
    try:
        _wait_healthy(port)
        before = _healthz_count(port)
        workers, sent = _workers_answering(server, port)
        assert len(workers) == 2
        # Whichever worker answers the scrape counts both workers' requests.
        assert _healthz_count(port) - before == sent
        assert _stop(server) < STOP_BOUND_SECONDS
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_workers_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-2", "many"):
        with pytest.raises(SystemExit) as exited:
            _parser().parse_args(["serve", "--workers", bad])
        assert exited.value.code == 2
        assert "--workers" in capsys.readouterr().err
    assert _parser().parse_args(["serve", "--workers", "3"]).workers == 3
