"""Capacity per worker: `uv run python -m bench.capacity [--workers 1 2] [--seconds 5]`.

Loads the benchmark's S data set into a throwaway embedded PostgreSQL, then for each worker
count runs `loomworks serve --workers W` against it and drives it with --clients concurrent
clients (one connection each, as a browser tab would): each dashboard zone, a 304 poll
(`/me/dashboard/counts` with its ETag) and decisions (one POST each on distinct needs_you
items, so none is a 409). Prints requests/s and latency per measurement and worker count.
The load generator runs on the same machine, so its CPU is taken from the server's: the
figures are a lower bound for a dedicated server of the same size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.data import SCALES, load
from bench.measure import Budget, http_load, summarize
from bench.slow_clients import free_port
from loomworks.platform.embedded import embedded_server
from loomworks.platform.engine import create_engine

ZONE_PATHS = ("/me/dashboard/active", "/me/dashboard/needs_you", "/me/dashboard/recent")
POLL_PATH = "/me/dashboard/counts"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--scale", default="S", choices=sorted(SCALES))
    return parser.parse_args(argv)


def start(
    url: str, port: int, workers: int, read_urls: str | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOMWORKS_")}
    env["LOOMWORKS_DATABASE_URL"] = url
    if read_urls:
        env["LOOMWORKS_READ_DATABASE_URLS"] = read_urls
    command = [sys.executable, "-m", "loomworks.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    quiet = subprocess.DEVNULL
    return subprocess.Popen(command, env=env, stdout=quiet, stderr=quiet)  # noqa: S603 (fixed)


async def wait_until_up(port: int, seconds: float = 120) -> None:
    """serve --workers migrates, then starts its workers, each importing the app: slow on a
    busy machine."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start")


async def _reads(clients: list[httpx.AsyncClient], path: str, seconds: float) -> dict[str, Any]:
    return (await http_load(clients, [path], budget=Budget(seconds, min_samples=10))).summary()


async def _poll(clients: list[httpx.AsyncClient], seconds: float) -> dict[str, Any]:
    etag = (await clients[0].get(POLL_PATH)).headers["etag"]
    conditional = {"poll": (POLL_PATH, etag)}
    load_result = await http_load(
        clients, ["poll"], budget=Budget(seconds, min_samples=10), conditional=conditional
    )
    return load_result.summary()


async def _waiting_actions(client: httpx.AsyncClient, limit: int) -> list[dict[str, str]]:
    actions: list[dict[str, str]] = []
    cursor: str | None = None
    while len(actions) < limit:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/me/dashboard/needs_you", params=params)).json()
        actions += [item["actions"][0] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return actions


async def _decisions(clients: list[httpx.AsyncClient], seconds: float) -> dict[str, Any]:
    """Each client decides its own share of waiting items, back to back, for `seconds`."""
    actions = await _waiting_actions(clients[0], limit=3000)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()

    async def decide(share: list[dict[str, str]], client: httpx.AsyncClient) -> None:
        for action in share:
            if time.perf_counter() - started > seconds:
                return
            sent = time.perf_counter()
            response = await client.request(action["method"], action["url"])
            latencies.append(time.perf_counter() - sent)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    n = len(clients)
    await asyncio.gather(*(decide(actions[i::n], c) for i, c in enumerate(clients)))
    return {**summarize(latencies, time.perf_counter() - started), "statuses": statuses}


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def server_processes(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    parent = psutil.Process(server.pid)
    return [parent, *parent.children(recursive=True)]


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


async def measured(
    name: str,
    results: dict[str, Any],
    run: Any,
    server: subprocess.Popen[bytes],
    pgdata: Path,
) -> None:
    """Run one measurement and add the CPU it cost the service and PostgreSQL per request:
    capacity per core, whatever else (the load generator) ran on the machine meanwhile."""
    app_before = cpu_seconds(server_processes(server))
    db_before = cpu_seconds(postgres_processes(pgdata))
    result = await run
    requests = sum(result["statuses"].values()) or 1
    result["app_cpu_ms"] = (cpu_seconds(server_processes(server)) - app_before) * 1000 / requests
    result["db_cpu_ms"] = (cpu_seconds(postgres_processes(pgdata)) - db_before) * 1000 / requests
    results[name] = result


async def measure(
    url: str, token: str, workers: int, args: argparse.Namespace, pgdata: Path
) -> dict[str, Any]:
    port = free_port()
    server = start(url, port, workers)
    results: dict[str, Any] = {}
    try:
        await wait_until_up(port)
        base = f"http://127.0.0.1:{port}"
        cookies = {"loomworks_session": token}
        clients = [httpx.AsyncClient(base_url=base, cookies=cookies) for _ in range(args.clients)]
        try:
            for client in clients:  # warm every worker's pool and statement cache
                await client.get(ZONE_PATHS[0])
            for path in ZONE_PATHS:
                name = path.rsplit("/", 1)[1]
                reads = _reads(clients, path, args.seconds)
                await measured(name, results, reads, server, pgdata)
            await measured("304 poll", results, _poll(clients, args.seconds), server, pgdata)
            await measured("decision", results, _decisions(clients, args.seconds), server, pgdata)
        finally:
            for client in clients:
                await client.aclose()
    finally:
        server.terminate()
        server.wait(timeout=60)
    return results


def render(table: dict[int, dict[str, Any]]) -> str:
    lines = [
        "| measurement | workers | requests/s | p50 ms | p95 ms | app CPU ms/req "
        "| PostgreSQL CPU ms/req | statuses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = next(iter(table.values())).keys()
    for name in names:
        for workers, results in table.items():
            r = results[name]
            lines.append(
                f"| {name} | {workers} | {r['per_s']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p95_ms']:.1f} | {r['app_cpu_ms']:.2f} | {r['db_cpu_ms']:.2f} "
                f"| {r['statuses']} |"
            )
    return "\n".join(lines)


async def run(url: str, args: argparse.Namespace, pgdata: Path) -> None:
    engine = create_engine(url, pool_size=2)
    try:
        dataset = await load(engine, SCALES[args.scale], from_base=True)
    finally:
        await engine.dispose()
    table = {w: await measure(url, dataset.token, w, args, pgdata) for w in args.workers}
    print(
        f"scale {args.scale}, {args.clients} clients, {args.seconds:.0f} s each, "
        f"{os.cpu_count()} CPUs shared with the load generator"
    )
    print(render(table), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="loomworks-capacity-") as tmp,
        embedded_server(Path(tmp) / "pgdata", delete_on_exit=True) as url,
    ):
        asyncio.run(run(url, args, Path(tmp) / "pgdata"))


if __name__ == "__main__":
    main()
