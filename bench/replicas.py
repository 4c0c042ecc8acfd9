"""Primary only vs primary + replica: `uv run python -m bench.replicas [--seconds 5]`.

Loads the S data set into a throwaway embedded PostgreSQL, makes a streaming standby of it
(tests.fixtures.standby), and measures the zones, a 304 poll and the floor (`GET /me`) at one
client, with `loomworks serve` reading from the primary alone, then with the standby as
LOOMWORKS_READ_DATABASE_URLS; each with the primary idle, then with its CPU taken by other
work (`--busy` backends spinning on the primary, as a write-heavy or reporting load would).

On Linux the primary is pinned to CPU 0 and the standby to CPU 1, so "the primary is busy"
does not also slow the replica down, as it would not on two machines; the service and this
load generator run where the scheduler puts them (mostly CPU 1 while CPU 0 spins). Elsewhere
nothing is pinned and the figures mean less (the summary line says so).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from tests.fixtures.standby import embedded_standby

from bench.capacity import cpu_seconds, postgres_processes, start, wait_until_up
from bench.data import SCALES, load
from bench.measure import Budget, http_load
from bench.slow_clients import free_port
from loomworks.platform.embedded import embedded_server
from loomworks.platform.engine import create_engine

PATHS = ("/me", "/me/dashboard/active", "/me/dashboard/needs_you", "/me/dashboard/recent")
POLL = "/me/dashboard/counts"
PRIMARY_CPU, REPLICA_CPU = 0, 1
# One spinning statement: a few seconds of one core, then the next.
SPIN = "SELECT count(*) FROM generate_series(1, 20000000)"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint")
    parser.add_argument("--busy", type=int, default=8, help="spinning backends on the primary")
    parser.add_argument("--scale", default="S", choices=sorted(SCALES))
    return parser.parse_args(argv)


def pinnable() -> bool:
    return hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2


def pin(processes: Sequence[psutil.Process], cpu: int) -> None:
    for process in processes:
        try:
            process.cpu_affinity([cpu])
        except psutil.NoSuchProcess:
            continue


async def spin(url: str, stop: asyncio.Event) -> None:
    """Keep one primary backend busy until `stop` (its statement is cancelled then)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            while not stop.is_set():
                task = asyncio.ensure_future(conn.execute(text(SPIN)))
                await asyncio.wait(
                    [task, asyncio.ensure_future(stop.wait())], return_when="FIRST_COMPLETED"
                )
                if not task.done():
                    await conn.invalidate()
                    task.cancel()
                    return
                await conn.rollback()
    finally:
        await engine.dispose()


async def measure(
    primary: str,
    replica: str | None,
    token: str,
    args: argparse.Namespace,
    pgdata: tuple[Path, Path],
) -> dict[str, dict[str, Any]]:
    port = free_port()
    server = start(primary, port, workers=1, read_urls=replica)
    results: dict[str, dict[str, Any]] = {}
    try:
        await wait_until_up(port)
        if pinnable():
            pin(postgres_processes(pgdata[1]), REPLICA_CPU)
            pin(postgres_processes(pgdata[0]), PRIMARY_CPU)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, cookies={"loomworks_session": token}) as client:
            for path in PATHS:  # warm the pools and statement caches
                await client.get(path)
            await asyncio.sleep(1.5)  # the router has probed the replica
            for load_name, spinners in (("idle", 0), ("busy", args.busy)):
                stop = asyncio.Event()
                spinning = [asyncio.ensure_future(spin(primary, stop)) for _ in range(spinners)]
                await asyncio.sleep(0.5 if spinners else 0)
                if pinnable():  # backends forked since
                    pin(postgres_processes(pgdata[0]), PRIMARY_CPU)
                    pin(postgres_processes(pgdata[1]), REPLICA_CPU)
                etag = (await client.get(POLL)).headers["etag"]
                budget = Budget(args.seconds, min_samples=20)
                run = await http_load(
                    [client],
                    [*PATHS, "poll"],
                    budget=budget.times(len(PATHS) + 1),
                    conditional={"poll": (POLL, etag)},
                )
                for path in (*PATHS, "poll"):
                    results[f"{load_name} {path}"] = run.summary(path)
                if not spinners:
                    await cpu_per_request(client, etag, args.seconds, pgdata, results)
                stop.set()
                await asyncio.gather(*spinning)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return results


async def cpu_per_request(
    client: httpx.AsyncClient,
    etag: str,
    seconds: float,
    pgdata: tuple[Path, Path],
    results: dict[str, dict[str, Any]],
) -> None:
    """Each endpoint on its own: the primary's and the replica's CPU per request (all of
    their processes, so the probes and WAL replay are included)."""
    for path in (*PATHS, "poll"):
        before = [cpu_seconds(postgres_processes(data)) for data in pgdata]
        run = await http_load(
            [client],
            [path],
            budget=Budget(seconds / 2, min_samples=20),
            conditional={"poll": (POLL, etag)},
        )
        after = [cpu_seconds(postgres_processes(data)) for data in pgdata]
        requests = len(run.latencies_s)
        summary = results[f"idle {path}"]
        summary["primary_cpu_ms"] = (after[0] - before[0]) * 1000 / requests
        summary["replica_cpu_ms"] = (after[1] - before[1]) * 1000 / requests


def render(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| primary | endpoint | reads from | p50 ms | p95 ms | p99 ms "
        "| p50 / `/me` p50 | primary CPU ms/req | replica CPU ms/req | statuses |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    first = next(iter(table.values()))
    for name in first:
        load_name, path = name.split(" ", 1)
        label = "304 poll `/me/dashboard/counts`" if path == "poll" else f"`{path}`"
        for config, results in table.items():
            r = results[name]
            floor = results[f"{load_name} /me"]["p50_ms"]
            cpu = (
                f"{r['primary_cpu_ms']:.2f} | {r['replica_cpu_ms']:.2f}"
                if "primary_cpu_ms" in r
                else "- | -"
            )
            lines.append(
                f"| {load_name} | {label} | {config} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
                f"| {r['p99_ms']:.2f} | {r['p50_ms'] / floor:.2f} | {cpu} | {r['statuses']} |"
            )
    return "\n".join(lines)


async def run(
    primary: str, replica: str, args: argparse.Namespace, pgdata: tuple[Path, Path]
) -> None:
    engine = create_engine(primary, pool_size=2)
    try:
        dataset = await load(engine, SCALES[args.scale], from_base=True)
    finally:
        await engine.dispose()
    table = {
        "primary only": await measure(primary, None, dataset.token, args, pgdata),
        "primary + replica": await measure(primary, replica, dataset.token, args, pgdata),
    }
    pinning = (
        f"primary on CPU {PRIMARY_CPU}, replica on CPU {REPLICA_CPU}, service and load "
        "generator unpinned"
        if pinnable()
        else "nothing pinned (no sched_setaffinity here)"
    )
    print(
        f"scale {args.scale}, 1 client, {args.seconds:.0f} s per endpoint, busy = "
        f"{args.busy} spinning primary backends; {pinning}"
    )
    print(render(table), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loomworks-replicas-") as tmp:
        pgdata = Path(tmp) / "pgdata"
        with (
            embedded_server(pgdata, delete_on_exit=True) as primary,
            # Made of the empty database, so it replays the load as it happens.
            embedded_standby(primary, Path(tmp) / "standby") as standby,
        ):
            asyncio.run(run(primary, standby.url, args, (pgdata, standby.pgdata)))


if __name__ == "__main__":
    main()
