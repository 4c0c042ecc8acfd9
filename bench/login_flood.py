"""`python -m bench.login_flood`: does a login flood stall the dashboard?

Starts the real app under uvicorn (its own process) on a free loopback port over a throwaway
embedded PostgreSQL (or LOOMWORKS_DATABASE_URL) with the demo data, then measures
GET /me/dashboard/active one request at a time: idle, and while N clients post wrong
passwords as fast as they are answered. The throttle is raised out of the way for the run,
so every flood request costs a full argon2 check (the worst case: a flood from many
addresses against many emails). Prints p50/p90 of both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence

import httpx

from bench.measure import serve
from bench.runner import database
from loomworks.api.deps import SESSION_COOKIE
from loomworks.db.engine import create_engine
from loomworks.db.migrate import upgrade_to_head
from loomworks.db.people import issue_session
from loomworks.demo.seed import DEMO_EMAIL, seed_demo
from loomworks.settings import Settings

DASHBOARD = "/me/dashboard/active"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.login_flood", description=__doc__)
    parser.add_argument("--clients", type=int, default=32, help="flooding clients (default 32)")
    parser.add_argument(
        "--samples", type=int, default=200, help="dashboard requests per phase (default 200)"
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of flood before measuring (default 3)"
    )
    return parser.parse_args(argv)


async def _prepare(url: str) -> str:
    """Migrate, seed the demo portfolio, and return a session token for its operator."""
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade_to_head(engine)
        async with engine.begin() as conn:
            portfolio = await seed_demo(conn)
            return await issue_session(
                conn, person_id=portfolio.operator.id, lifetime=Settings().session_lifetime
            )
    finally:
        await engine.dispose()


async def _dashboard_latencies(client: httpx.AsyncClient, samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        response = await client.get(DASHBOARD)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
    return latencies


async def _flood(base_url: str, n: int, stop: asyncio.Event, statuses: Counter[int]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        while not stop.is_set():
            response = await client.post(
                "/auth/login", json={"email": f"flood{n}@example.test", "password": "wrong!"}
            )
            statuses[response.status_code] += 1


def _summary(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9)]


async def run(options: argparse.Namespace, url: str) -> None:
    token = await _prepare(url)
    # Out of the way: every flood request must reach the password check.
    os.environ["LOOMWORKS_LOGIN_FAILURES_PER_EMAIL"] = "1000000"
    os.environ["LOOMWORKS_LOGIN_FAILURES_PER_ADDRESS"] = "1000000"
    async with serve(url, pool_size=Settings().db_pool_size) as server:
        cookies = {SESSION_COOKIE: token}
        async with httpx.AsyncClient(base_url=server.base_url, cookies=cookies) as client:
            await _dashboard_latencies(client, 20)  # warm up plans and pools
            idle = await _dashboard_latencies(client, options.samples)
            stop = asyncio.Event()
            statuses: Counter[int] = Counter()
            flooders = [
                asyncio.create_task(_flood(server.base_url, n, stop, statuses))
                for n in range(options.clients)
            ]
            await asyncio.sleep(options.warmup)
            before = sum(statuses.values())
            started = time.perf_counter()
            flooded = await _dashboard_latencies(client, options.samples)
            elapsed = time.perf_counter() - started
            logins = sum(statuses.values()) - before
            stop.set()
            await asyncio.gather(*flooders)
            idle_after = await _dashboard_latencies(client, options.samples)
    idle_p50, idle_p90 = _summary(idle + idle_after)
    flood_p50, flood_p90 = _summary(flooded)
    print(f"dashboard {DASHBOARD} as {DEMO_EMAIL}, {options.samples} requests per phase")
    print(f"{'phase':<28} {'p50 ms':>8} {'p90 ms':>8}")
    print(f"{'idle (before and after)':<28} {idle_p50 * 1000:8.2f} {idle_p90 * 1000:8.2f}")
    print(
        f"{f'{options.clients} clients flooding logins':<28} "
        f"{flood_p50 * 1000:8.2f} {flood_p90 * 1000:8.2f}"
    )
    print(f"p50 under flood / idle: {flood_p50 / idle_p50:.2f}x")
    print(
        f"wrong logins answered during the measurement: {logins} "
        f"({logins / elapsed:.1f}/s), statuses {dict(sorted(statuses.items()))}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    with database(os.environ.get("LOOMWORKS_DATABASE_URL")) as url:
        asyncio.run(run(options, url))


if __name__ == "__main__":
    main()
