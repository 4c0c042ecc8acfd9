"""`python -m bench.login_flood`: does a login flood stall the dashboard?

Starts the real app under uvicorn (its own process) on a free loopback port over a throwaway
embedded PostgreSQL (or LOOMWORKS_DATABASE_URL) with the demo data, then measures
GET /me/dashboard/active one request at a time, in rounds: idle, then while N clients post
wrong passwords as fast as they are answered. The throttle is raised out of the way for the run,
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
from loomworks.db.people import issue_session
from loomworks.demo.seed import DEMO_EMAIL, seed_demo
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head
from loomworks.platform.settings import Settings

DASHBOARD = "/me/dashboard/active"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.login_flood", description=__doc__)
    parser.add_argument("--clients", type=int, default=32, help="flooding clients (default 32)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="idle/flood rounds, alternating (default 5)"
    )
    parser.add_argument(
        "--samples", type=int, default=60, help="dashboard requests per phase (default 60)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of flood before measuring (default 2)"
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
    os.environ["LOOMWORKS_LOGIN_FAILURES_PER_PAIR"] = "1000000"
    os.environ["LOOMWORKS_LOGIN_FAILURES_PER_EMAIL"] = "1000000"
    os.environ["LOOMWORKS_LOGIN_FAILURES_PER_ADDRESS"] = "1000000"
    settings = Settings()
    idle: list[float] = []
    flooded: list[float] = []
    ratios: list[float] = []
    statuses: Counter[int] = Counter()
    logins = 0
    flood_seconds = 0.0
    async with serve(url, pool_size=settings.db_pool_size) as server:
        cookies = {SESSION_COOKIE: token}
        async with httpx.AsyncClient(base_url=server.base_url, cookies=cookies) as client:
            await _dashboard_latencies(client, 20)  # warm up plans and pools
            # Idle and flood alternate, so load from elsewhere on the machine hits both alike.
            for _ in range(options.rounds):
                round_idle = await _dashboard_latencies(client, options.samples)
                stop = asyncio.Event()
                flooders = [
                    asyncio.create_task(_flood(server.base_url, n, stop, statuses))
                    for n in range(options.clients)
                ]
                await asyncio.sleep(options.warmup)
                before = sum(statuses.values())
                started = time.perf_counter()
                round_flooded = await _dashboard_latencies(client, options.samples)
                flood_seconds += time.perf_counter() - started
                logins += sum(statuses.values()) - before
                stop.set()
                await asyncio.gather(*flooders)  # every queued check answered: idle again
                idle += round_idle
                flooded += round_flooded
                ratios.append(statistics.median(round_flooded) / statistics.median(round_idle))
    idle_p50, idle_p90 = _summary(idle)
    flood_p50, flood_p90 = _summary(flooded)
    print(
        f"dashboard {DASHBOARD} as {DEMO_EMAIL}: {options.rounds} rounds of "
        f"{options.samples} requests idle, then {options.samples} under flood; "
        f"hash_concurrency={settings.hash_concurrency}, {os.cpu_count()} CPUs"
    )
    print(f"{'phase':<28} {'p50 ms':>8} {'p90 ms':>8}")
    print(f"{'idle':<28} {idle_p50 * 1000:8.2f} {idle_p90 * 1000:8.2f}")
    print(
        f"{f'{options.clients} clients flooding logins':<28} "
        f"{flood_p50 * 1000:8.2f} {flood_p90 * 1000:8.2f}"
    )
    print(
        f"p50 under flood / idle: {flood_p50 / idle_p50:.2f}x "
        f"(per round {min(ratios):.2f}x-{max(ratios):.2f}x)"
    )
    print(
        f"wrong logins answered while measuring: {logins / flood_seconds:.1f}/s; "
        f"all flood statuses {dict(sorted(statuses.items()))}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    with database(os.environ.get("LOOMWORKS_DATABASE_URL")) as url:
        asyncio.run(run(options, url))


if __name__ == "__main__":
    main()
