"""`python -m bench.undo`: does an undo cost more than the decision it undoes?

Starts the real app under uvicorn (its own process) on a free loopback port over a throwaway
embedded PostgreSQL (or LOOMWORKS_DATABASE_URL) with the demo data, adds N waiting shapes
to one of the operator's engagements, then for each shape in turn, one request at a time:
POST .../confirm (timed), then POST its undo_url (timed). Decisions and undos alternate, so
load from elsewhere on the machine hits both alike. Prints p50/p90 of each and their ratio
(docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import insert

from bench.measure import serve
from bench.runner import database
from loomworks.api.deps import SESSION_COOKIE
from loomworks.core.access import may_decide
from loomworks.core.states import ShapeState
from loomworks.db.people import issue_session, memberships_of
from loomworks.db.tables import shapes
from loomworks.demo.seed import DEMO_EMAIL, seed_demo
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head
from loomworks.platform.settings import Settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.undo", description=__doc__)
    parser.add_argument(
        "--samples", type=int, default=300, help="decide/undo pairs measured (default 300)"
    )
    parser.add_argument("--warmup", type=int, default=30, help="pairs before measuring")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Prepared:
    token: str
    engagement_id: uuid.UUID
    shape_ids: list[uuid.UUID]


async def _prepare(url: str, count: int) -> Prepared:
    """Migrate, seed the demo portfolio, add `count` waiting shapes to the operator's first
    engagement, and return a session token for the operator."""
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade_to_head(engine)
        async with engine.begin() as conn:
            portfolio = await seed_demo(conn)
            memberships = await memberships_of(conn, person_id=portfolio.operator.id)
            engagement_id = next(m.engagement_id for m in memberships if may_decide(m.designation))
            rows = [
                {
                    "engagement_id": engagement_id,
                    "shape_type": "site_plan",
                    "title": f"Bench shape {n}",
                    "state": ShapeState.PENDING_CONFIRMATION,
                }
                for n in range(count)
            ]
            shape_ids = list(
                (await conn.execute(insert(shapes).returning(shapes.c.id), rows)).scalars()
            )
            token = await issue_session(
                conn, person_id=portfolio.operator.id, lifetime=Settings().session_lifetime
            )
            return Prepared(token, engagement_id, shape_ids)
    finally:
        await engine.dispose()


async def _pair(client: httpx.AsyncClient, url: str) -> tuple[float, float]:
    """One decision and its undo: the seconds each took."""
    started = time.perf_counter()
    decided = await client.post(url, json={})
    decide_s = time.perf_counter() - started
    decided.raise_for_status()
    started = time.perf_counter()
    undone = await client.post(decided.json()["undo_url"])
    undo_s = time.perf_counter() - started
    undone.raise_for_status()
    return decide_s, undo_s


def _p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def run(options: argparse.Namespace, url: str) -> None:
    prepared = await _prepare(url, options.warmup + options.samples)
    decide: list[float] = []
    undo: list[float] = []
    urls = [
        f"/engagements/{prepared.engagement_id}/shapes/{shape}/confirm"
        for shape in prepared.shape_ids
    ]
    async with serve(url, pool_size=Settings().db_pool_size) as server:
        cookies = {SESSION_COOKIE: prepared.token}
        async with httpx.AsyncClient(base_url=server.base_url, cookies=cookies) as client:
            for n, shape_url in enumerate(urls):
                decide_s, undo_s = await _pair(client, shape_url)
                if n >= options.warmup:
                    decide.append(decide_s)
                    undo.append(undo_s)
    ratio = statistics.median(undo) / statistics.median(decide)
    print(f"decide then undo, {options.samples} pairs one at a time, as {DEMO_EMAIL}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'request':<10} {'p50 ms':>8} {'p90 ms':>8}")
    print(f"{'decide':<10} {_p(decide, 0.5):8.2f} {_p(decide, 0.9):8.2f}")
    print(f"{'undo':<10} {_p(undo, 0.5):8.2f} {_p(undo, 0.9):8.2f}")
    print(f"undo p50 / decide p50: {ratio:.2f}x")


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    with database(os.environ.get("LOOMWORKS_DATABASE_URL")) as url:
        asyncio.run(run(options, url))


if __name__ == "__main__":
    main()
