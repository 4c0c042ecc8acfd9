"""Stalled download clients next to ordinary traffic: `uv run python -m bench.slow_clients`.

Serves the app with uvicorn (`--factory loomworks.app:app_from_env`, default pool) on a free
loopback port over a throwaway embedded PostgreSQL, opens --stalled raw sockets that each
ask for a large render and then read nothing, and measures /healthz and the active zone
meanwhile for --seconds. Prints latency percentiles and status counts, with and without the
stalled clients. --source runs the server from another checkout's src/ (before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from statistics import quantiles

import httpx
from sqlalchemy import insert

from loomworks.db.engagements import add_member, create_engagement
from loomworks.db.people import create_person, issue_session
from loomworks.db.renders import create_render
from loomworks.db.tables import shaping_jobs
from loomworks.platform.embedded import embedded_server
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head

PATHS = ("/healthz", "/me/dashboard/active")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("--stalled", type=int, default=50, help="stalled clients (default 50)")
    parser.add_argument("--seconds", type=float, default=40, help="measured time (default 40)")
    parser.add_argument("--concurrency", type=int, default=4, help="measuring clients")
    parser.add_argument("--file-mib", type=int, default=16, help="size of the render (MiB)")
    parser.add_argument("--source", type=Path, default=None, help="run the server from DIR/src")
    return parser.parse_args(argv)


async def seed(url: str, file_mib: int) -> tuple[str, str]:
    """A person with a session, running jobs for the zone, and one large render."""
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade_to_head(engine)
        async with engine.begin() as conn:
            person = await create_person(
                conn,
                email="bench@example.test",
                display_name="Bench",
                password=secrets.token_urlsafe(),
            )
            assert person is not None
            eid = await create_engagement(conn, name="Bench")
            await add_member(conn, person_id=person.id, engagement_id=eid, designation="owner")
            job = {"engagement_id": eid, "shape_type": "site_plan", "status": "dispatched"}
            await conn.execute(insert(shaping_jobs), [job] * 20)
            payload = os.urandom(1024 * 1024) * file_mib
            rid = await create_render(
                conn,
                engagement_id=eid,
                title="Large",
                content_kind="binary_blob",
                files=[("large.bin", "application/octet-stream", payload)],
            )
            token = await issue_session(conn, person_id=person.id, lifetime=timedelta(hours=1))
    finally:
        await engine.dispose()
    return token, f"/engagements/{eid}/renders/{rid}/content"


async def stalled_client(port: int, path: str, token: str) -> tuple[socket.socket, bytes]:
    """Ask for the render, read the status line, then read nothing more."""
    loop = asyncio.get_running_loop()
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setblocking(False)
    await loop.sock_connect(client, ("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: loomworks_session={token}\r\n\r\n"
    await loop.sock_sendall(client, request.encode())
    return client, await loop.sock_recv(client, 12)


async def measure(
    port: int, token: str, seconds: float, concurrency: int
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds

    async def one_client(http: httpx.AsyncClient, n: int) -> None:
        while time.monotonic() < deadline:
            path = PATHS[n % len(PATHS)]
            n += 1
            started = time.perf_counter()
            try:
                status = (await http.get(path)).status_code
            except httpx.TimeoutException:
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        cookies={"loomworks_session": token},
        timeout=60,
        limits=httpx.Limits(max_connections=concurrency),
    ) as http:
        await asyncio.gather(*(one_client(http, n) for n in range(concurrency)))
    return latencies, statuses


def report(label: str, latencies: list[float], statuses: Counter[int]) -> None:
    cuts = quantiles(latencies, n=100, method="inclusive")
    ms = [round(x * 1000, 1) for x in (cuts[49], cuts[94], cuts[98], max(latencies))]
    counts = ", ".join(f"{code or 'timeout'}: {n}" for code, n in sorted(statuses.items()))
    print(
        f"{label:<24} requests {len(latencies):>6}  p50 {ms[0]:>7} ms  p95 {ms[1]:>7} ms  "
        f"p99 {ms[2]:>7} ms  max {ms[3]:>8} ms  statuses {{{counts}}}",
        flush=True,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int, source: Path | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOOMWORKS_DATABASE_URL": url}
    # Stalled clients stay stalled for the whole run: measure the worst case, not the drop.
    env["LOOMWORKS_DOWNLOAD_IDLE_TIMEOUT_SECONDS"] = "3600"
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    command = [sys.executable, "-m", "uvicorn", "--factory", "loomworks.app:app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "critical"]
    return subprocess.Popen(command, env=env)  # noqa: S603 (our interpreter, fixed arguments)


async def wait_until_up(port: int) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                await http.get(f"http://127.0.0.1:{port}/healthz")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def run(args: argparse.Namespace, url: str) -> None:
    token, download = await seed(url, args.file_mib)
    port = free_port()
    server = start_server(url, port, args.source)
    clients: list[socket.socket] = []
    try:
        await wait_until_up(port)
        report("no stalled clients", *await measure(port, token, 5, args.concurrency))
        # Measure from the moment they are in, not from when each got its answer: a server
        # that makes them wait for a connection would otherwise look idle.
        opening = asyncio.gather(
            *(stalled_client(port, download, token) for _ in range(args.stalled))
        )
        await asyncio.sleep(1)
        report(
            f"{args.stalled} stalled clients",
            *await measure(port, token, args.seconds, args.concurrency),
        )
        opened = await opening
        clients = [client for client, _ in opened]
        answers = Counter(status.decode() for _, status in opened)
        print(f"the stalled clients' own answers: {dict(answers)}", flush=True)
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=30)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        embedded_server(Path(data_dir) / "pgdata", delete_on_exit=True) as url,
    ):
        asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
