"""A sign-in flood from one client address, against the app served by uvicorn in its own
process: the dashboard keeps its pace, nothing answers 5xx, and the refused sign-ins take no
lock that anything waits on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
from bench.measure import serve
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.tables import login_failures
from tests.fixtures.data import as_, make_engagement, make_person, make_render_job, make_session

CLIENTS = 200
ROUNDS = 4
SAMPLES = 40  # dashboard requests per phase
SETTLE_SECONDS = 1.0  # of flood before the samples
DASHBOARD = "/me/dashboard/active"
# Every waiting lock, and every advisory lock at all, of the service's connections.
LOCKS = text(
    "SELECT count(*) FILTER (WHERE NOT l.granted), count(*) FILTER (WHERE l.locktype = 'advisory')"
    " FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
    " WHERE a.application_name = 'loomworks-api'"
)


@contextlib.asynccontextmanager
async def _flood(base_url: str, clients: int) -> AsyncIterator[Counter[int]]:
    """`clients` flooding from another process until the block ends; yields their statuses
    (filled in when it ends)."""
    port = base_url.rsplit(":", 1)[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fixtures.flood", port, str(clients),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    statuses: Counter[int] = Counter()
    try:
        async with asyncio.timeout(120):
            assert (await process.stdout.readline()).strip() == b"running"
        yield statuses
    finally:
        process.terminate()
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        statuses.update({int(k): v for k, v in json.loads(out or b"{}").items()})


async def _samples(client: httpx.AsyncClient, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(DASHBOARD)
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return latencies


async def _watch_locks(engine: AsyncEngine, seen: list[tuple[int, int]]) -> None:
    async with engine.connect() as conn:
        while True:
            seen.append(tuple((await conn.execute(LOCKS)).one()))  # type: ignore[arg-type]
            await conn.rollback()
            await asyncio.sleep(0.02)


async def test_a_flood_from_one_address_leaves_the_dashboard_within_twice_idle(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    me = await make_person(db)
    eid = await make_engagement(db, member=me)
    for _ in range(20):
        await make_render_job(db, eid)
    token = await make_session(db, me)
    # The address is already braked (100 failures): the whole flood is refused, the state
    # the dashboard has to live with for 15 minutes.
    await db.execute(
        insert(login_failures),
        [{"email": f"x{n}@example.test", "client_address": "127.0.0.1"} for n in range(100)],
    )
    idle: list[float] = []
    flooded: list[float] = []
    statuses: Counter[int] = Counter()
    locks: list[tuple[int, int]] = []
    async with (
        serve(database_url, pool_size=10) as server,
        httpx.AsyncClient(base_url=server.base_url, headers=as_(token), timeout=60) as client,
    ):
        await _samples(client, 10)  # warm up
        flood_seconds = 0.0
        for _ in range(ROUNDS):
            idle += await _samples(client, SAMPLES)
            async with _flood(server.base_url, CLIENTS) as answered:
                watcher = asyncio.create_task(_watch_locks(engine, locks))
                started = time.perf_counter()
                await asyncio.sleep(SETTLE_SECONDS)
                flooded += await _samples(client, SAMPLES)
                flood_seconds += time.perf_counter() - started
                watcher.cancel()
            statuses += answered
    ratio = statistics.median(flooded) / statistics.median(idle)
    print(
        f"\nidle p50 {statistics.median(idle) * 1000:.1f} ms, flooded p50 "
        f"{statistics.median(flooded) * 1000:.1f} ms, ratio {ratio:.2f}x; flood statuses "
        f"{dict(statuses)} ({sum(statuses.values()) / flood_seconds:.0f}/s); "
        f"lock samples {len(locks)}"
    )
    assert set(statuses) == {429}, statuses
    assert sum(statuses.values()) >= CLIENTS * ROUNDS
    assert ratio <= 2.0
    # No service connection waited on a lock, or held an advisory lock, while sampled.
    assert locks and all(sample == (0, 0) for sample in locks), Counter(locks)
