"""The demo portfolio fills every zone, seeds once, and the simulator moves it forward."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.people import issue_session
from loomworks.db.tables import renders, shaping_jobs
from loomworks.demo.seed import seed_demo
from loomworks.demo.simulator import simulate_tick
from tests.fixtures.contract import zone_body


async def zone(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    return zone_body(name, await client.get(f"/me/dashboard/{name}"))


async def demo_client(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    portfolio = await seed_demo(db)
    token = await issue_session(db, person_id=portfolio.operator.id, lifetime=timedelta(hours=1))
    client.cookies.set("loomworks_session", token)


async def test_demo_fills_every_zone_and_seeds_once(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await demo_client(client, db)
    counts_before = (await db.execute(select(func.count()).select_from(renders))).scalar_one()
    again = await seed_demo(db)
    assert not again.created
    assert (
        await db.execute(select(func.count()).select_from(renders))
    ).scalar_one() == counts_before

    memberships = (await client.get("/me/memberships")).json()["items"]
    assert len(memberships) >= 5
    viewer_of = {m["engagement_id"] for m in memberships if m["designation"] == "viewer"}
    assert viewer_of
    active, needs_you, recent = [await zone(client, z) for z in ("active", "needs_you", "recent")]
    assert {i["progress"]["mode"] for i in active["items"]} >= {
        "phased",
        "counted",
        "composite",
        "activity",
    }
    assert {i["item_kind"] for i in needs_you["items"]} == {
        "pending_shape",
        "held_assertion",
        "produced_render_for_review",
    }
    assert not viewer_of & {i["engagement_id"] for i in needs_you["items"]}
    urls = [i["download_url"] for i in recent["items"]]
    assert None in urls
    for url in filter(None, urls):
        download = await client.get(url)
        assert download.status_code == 200
        assert download.content


async def test_simulator_advances_finishes_and_produces(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await demo_client(client, db)
    before_recent = (await zone(client, "recent"))["total_count"]
    before_hints = {
        i["item_id"]: i["progress_hint"] for i in (await zone(client, "active"))["items"]
    }
    rng = random.Random(7)
    for _ in range(12):
        await simulate_tick(db, rng)
    after_active = await zone(client, "active")
    after_hints = {i["item_id"]: i["progress_hint"] for i in after_active["items"]}
    assert after_hints != before_hints
    assert after_active["total_count"] >= 4  # it keeps the running set topped up
    assert (await zone(client, "recent"))["total_count"] > before_recent
    finished = (
        await db.execute(
            select(func.count())
            .select_from(shaping_jobs)
            .where(shaping_jobs.c.status == "completed")
        )
    ).scalar_one()
    assert finished > 1
