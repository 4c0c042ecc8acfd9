"""`python -m bench.webhooks`: what webhooks cost a decision, and how fast the outbox drains.

One uvicorn server process (as in production) over one engagement with 100 operators:
1. a decision's latency (POST .../shapes/{id}/confirm, one at a time) with no webhook active
   and with 100 active webhooks subscribed to every event, in alternating rounds so drift on a
   shared machine falls on both alike; the outbox triggers run in every decision's statement;
2. the drain rate: shapes arrive in one transaction, each fanned out to the 100 webhooks, and
   the server's sender posts them to a receiver in this process on 127.0.0.1; deliveries per
   second from the commit to the last one received (docs/integrations.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.fixtures.receiver import Receiver

from bench.events import seed
from bench.measure import serve
from bench.runner import RESULTS_DIR, _run_loop, database, write_result
from loomworks.api.deps import SESSION_COOKIE
from loomworks.db.tables import engagement_memberships, shapes, webhooks
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head

TARGET_RATIO = 1.2
ALL_EVENTS = ["needs_you.arrived", "job.failed", "job.stalled"]


async def _pending_shapes(engine: AsyncEngine, engagement_id: uuid.UUID, n: int) -> list[str]:
    async with engine.begin() as conn:
        rows = await conn.execute(
            insert(shapes)
            .values(
                [
                    {
                        "engagement_id": engagement_id,
                        "shape_type": "site_plan",
                        "title": f"Bench shape {k}",
                        "state": "pending_confirmation",
                    }
                    for k in range(n)
                ]
            )
            .returning(shapes.c.id)
        )
        return [str(row[0]) for row in rows]


async def _subscribe_everyone(engine: AsyncEngine, url: str) -> int:
    """One webhook per member of the engagement, to every event; inactive until switched on."""
    async with engine.begin() as conn:
        people = (await conn.execute(engagement_memberships.select())).all()
        await conn.execute(
            insert(webhooks),
            [
                {
                    "person_id": row.person_id,
                    "url": url,
                    "secret": "bench-secret",
                    "events": ALL_EVENTS,
                    "active": False,
                }
                for row in people
            ],
        )
    return len(people)


async def _switch(engine: AsyncEngine, *, active: bool) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(webhooks).values(active=active))


async def _decide(client: httpx.AsyncClient, eid: uuid.UUID, shape_ids: list[str]) -> list[float]:
    latencies = []
    for shape_id in shape_ids:
        started = time.perf_counter()
        response = await client.post(f"/engagements/{eid}/shapes/{shape_id}/confirm", json={})
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"decision answered {response.status_code}: {response.text}")
    return latencies


async def _decisions(
    engine: AsyncEngine, client: httpx.AsyncClient, eid: uuid.UUID, *, rounds: int, per_round: int
) -> dict[str, Any]:
    """Alternating rounds without and with the webhooks active; the p50 of each condition."""
    samples: dict[str, list[float]] = {"none": [], "webhooks": []}
    # Made while no webhook is active: the sender stays idle, and what is measured is what the
    # outbox triggers add to the decision's own statement.
    ids = await _pending_shapes(engine, eid, 20 + 2 * rounds * per_round)
    await _decide(client, eid, ids[:20])  # warm-up
    ids = ids[20:]
    for _ in range(rounds):
        for condition in samples:
            await _switch(engine, active=condition == "webhooks")
            samples[condition] += await _decide(client, eid, ids[:per_round])
            ids = ids[per_round:]
    await _switch(engine, active=False)
    p50 = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    return {
        "decisions_per_condition": rounds * per_round,
        "p50_ms_none": p50["none"],
        "p50_ms_100_webhooks": p50["webhooks"],
        "ratio": p50["webhooks"] / p50["none"],
    }


async def _drain(
    engine: AsyncEngine, eid: uuid.UUID, receiver: Receiver, *, shapes_n: int, hooks: int
) -> dict[str, Any]:
    await _switch(engine, active=True)
    expected = shapes_n * hooks
    started = time.perf_counter()
    await _pending_shapes(engine, eid, shapes_n)  # committed on return
    deadline = started + 600
    while len(receiver.received) < expected:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {len(receiver.received)} of {expected} deliveries arrived")
        await asyncio.sleep(0.01)
    seconds = time.perf_counter() - started
    await _switch(engine, active=False)
    return {
        "deliveries": expected,
        "seconds": seconds,
        "deliveries_per_second": expected / seconds,
        "duplicates": expected - len({r.delivery_id for r in receiver.received}),
    }


async def run(url: str, *, rounds: int, per_round: int, drain_shapes: int) -> dict[str, Any]:
    engine = create_engine(url, pool_size=2)
    await upgrade_to_head(engine)
    eid, tokens = await seed(engine, 100)
    receiver = Receiver()
    await receiver.start()
    hooks = await _subscribe_everyone(engine, receiver.url)
    os.environ["LOOMWORKS_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver is on 127.0.0.1
    try:
        async with (
            serve(url, pool_size=10) as server,
            httpx.AsyncClient(
                base_url=server.base_url, cookies={SESSION_COOKIE: tokens[0]}, timeout=30
            ) as client,
        ):
            decisions = await _decisions(engine, client, eid, rounds=rounds, per_round=per_round)
            receiver.received.clear()
            drain = await _drain(engine, eid, receiver, shapes_n=drain_shapes, hooks=hooks)
    finally:
        await receiver.stop()
        await engine.dispose()
    return {"webhooks": hooks, "decisions": decisions, "drain": drain}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--per-round", type=int, default=40, help="decisions per round")
    parser.add_argument("--drain-shapes", type=int, default=30, help="arrivals (x100 deliveries)")
    parser.add_argument("--database-url", default=None, help="default: a throwaway embedded one")
    parser.add_argument("--json", default=str(RESULTS_DIR / "webhooks.json"))
    args = parser.parse_args(argv)
    with database(args.database_url) as url:
        result = _run_loop(
            run(url, rounds=args.rounds, per_round=args.per_round, drain_shapes=args.drain_shapes),
            use_uvloop=True,
        )
    d, drain = result["decisions"], result["drain"]
    print(
        f"decision p50: {d['p50_ms_none']:.2f} ms without webhooks, "
        f"{d['p50_ms_100_webhooks']:.2f} ms with {result['webhooks']} "
        f"(x{d['ratio']:.2f}; target <= x{TARGET_RATIO})\n"
        f"outbox drain: {drain['deliveries']} deliveries in {drain['seconds']:.2f} s = "
        f"{drain['deliveries_per_second']:.0f}/s to a local receiver "
        f"({drain['duplicates']} duplicates)"
    )
    write_result(args.json, result)


if __name__ == "__main__":
    main()
