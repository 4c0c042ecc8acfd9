"""The demo portfolio fills every zone, seeds once, and the simulator moves it forward."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import ExternalStatus, JobStatus, RenderState, ShapeState
from loomworks.db.people import issue_session, person_by_email
from loomworks.db.tables import external_production_records, renders, shapes, shaping_jobs
from loomworks.demo.seed import COLLEAGUE_EMAIL, seed_demo
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


def _seen(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    """A zone's items as a person reads them: per engagement, each label and what it says
    (items created in the same minute tie, so the order within an engagement is set aside)."""
    seen: dict[str, list[str]] = {}
    for item in items:
        label = item.get("item_label") or item["artifact_label"]
        said = item.get("progress_hint") or item.get("detail")
        if said is None:
            said = "download" if item["download_url"] else "no download"
        seen.setdefault(item["engagement_name"], []).append(f"{label} | {said}")
    return {name: sorted(lines) for name, lines in seen.items()}


REVIEW = "Render produced and waiting for your review"
HELD = "Held assertion: commit it or withdraw it"

# The seeded portfolio as its owner (the colleague, in all six engagements) sees it.
SEEDED_VIEW = {
    "active": {
        "Airport Terminal 3": [
            "Roof point cloud from Skyline Lidar | Waiting on Skyline Lidar",
            "Shaping: Floor plate | Queued, waiting to start",
        ],
        "Board Review (private)": ["Shaping: Board pack | Running"],
        "City Library Survey": ["Rendering: Survey digest | Fetching source data"],
        "Harbour Bridge Retrofit": ["Shaping: Deck section | Processing"],
        "Old Mill Conversion": [
            "Rendering: Condition report | 6 parts: 1 failed — check the failed part"
        ],
        "Riverside Housing": ["Shaping: Site plan | 310 of 500 processed (62%)"],
    },
    "needs_you": {
        "Airport Terminal 3": [
            f"Gate 12 stays open during works. | {HELD}",
            f"Render #5: Gate capacity check | {REVIEW}",
        ],
        "Board Review (private)": [f"Render #7: Board minutes | {REVIEW}"],
        "City Library Survey": [
            "Reading room floor plate | Floor plate waiting for you to confirm or reject it",
            f"Render #6: Stack layout | {REVIEW}",
            f"The archive floor is dry. | {HELD}",
        ],
        "Harbour Bridge Retrofit": [
            "East approach deck section | Deck section waiting for you to confirm or reject it",
            f"Render #1: Cost plan | {REVIEW}",
        ],
        "Old Mill Conversion": [f"The north wall is load-bearing. | {HELD}"],
        "Riverside Housing": [
            "Block C site plan | Site plan waiting for you to confirm or reject it",
            f"Render #3: Survey pack | {REVIEW}",
        ],
    },
    "recent": {
        "Airport Terminal 3": ["Render #5: Gate capacity check | no download"],
        "Board Review (private)": ["Render #7: Board minutes | download"],
        "City Library Survey": ["Render #6: Stack layout | download"],
        "Harbour Bridge Retrofit": [
            "Render #1: Cost plan | download",
            "Render #2: East elevation | download",
        ],
        "Old Mill Conversion": ["Render #4: Condition summary | no download"],
        "Riverside Housing": ["Render #3: Survey pack | download"],
    },
}

# Rows no zone shows: finished history, a decided shape, a render still being produced.
SEEDED_HISTORY = {
    (shaping_jobs, JobStatus.COMPLETED): 1,
    (external_production_records, ExternalStatus.RECEIVED): 1,
    (shapes, ShapeState.CONFIRMED): 1,
    (renders, RenderState.PRODUCING): 1,
}


async def test_seeded_portfolio_is_what_its_owner_sees(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await seed_demo(db)
    colleague = await person_by_email(db, COLLEAGUE_EMAIL)
    assert colleague is not None
    token = await issue_session(db, person_id=colleague.id, lifetime=timedelta(hours=1))
    client.cookies.set("loomworks_session", token)
    for name, expected in SEEDED_VIEW.items():
        page = await zone(client, name)
        assert _seen(page["items"]) == expected
        assert page["total_count"] == sum(map(len, expected.values()))
    for (table, state), count in SEEDED_HISTORY.items():
        column = table.c.status if "status" in table.c else table.c.state
        seeded = await db.execute(select(func.count()).select_from(table).where(column == state))
        assert seeded.scalar_one() == count


async def test_seeded_files_download_as_seeded(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await demo_client(client, db)
    files = {}
    for item in (await zone(client, "recent"))["items"]:
        if item["download_url"]:
            download = await client.get(item["download_url"])
            assert download.status_code == 200
            files[item["artifact_label"]] = (
                download.headers["content-type"],
                len(download.content),
            )
    assert files.keys() == {
        "Render #1: Cost plan",
        "Render #2: East elevation",
        "Render #3: Survey pack",
        "Render #6: Stack layout",
    }
    assert files["Render #1: Cost plan"][0].startswith("text/csv")
    assert files["Render #2: East elevation"][0] == "image/png"
    assert files["Render #3: Survey pack"][0] == "application/zip"
    assert files["Render #6: Stack layout"][0].startswith("image/svg+xml")
