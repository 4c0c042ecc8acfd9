"""What a person polling the demo dashboard sees while the simulator runs: counts that count,
phases that move, composite jobs whose parts change, new jobs arriving, and renders titled
after their jobs that download."""

from __future__ import annotations

import io
import itertools
import random
import zipfile
from collections import defaultdict
from typing import Any

import httpx
import pytest
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import sources_in
from loomworks.core.progress import PHASE_LABELS
from loomworks.core.states import NeedsYouKind, Zone
from loomworks.db.tables import decisions, renders
from loomworks.demo.simulator import KEEP_RENDERS, MAX_WAITING, simulate_tick
from tests.demo.test_demo import demo_client, zone

TICKS = 15


class Watched:
    """Everything the active zone showed, per job, tick by tick."""

    def __init__(self) -> None:
        self.progress: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.active_counts: list[int] = []
        self.at_start: set[str] = set()

    def see(self, page: dict[str, Any]) -> None:
        if not self.active_counts:
            self.at_start = {item["item_id"] for item in page["items"]}
        self.active_counts.append(page["total_count"])
        for item in page["items"]:
            self.progress[item["item_id"]].append(item["progress"])

    def counted_steps(self) -> list[tuple[int, int]]:
        """Each pair of consecutive counts one counted job showed."""
        return [
            (before["processed"], after["processed"])
            for seen in self.progress.values()
            for before, after in itertools.pairwise(seen)
            if before["mode"] == after["mode"] == "counted"
        ]

    def phases_of_each_job(self) -> list[list[str]]:
        return [
            [p["phase"] for p in seen if p["mode"] == "phased"] for seen in self.progress.values()
        ]

    def composite_states(self) -> list[set[tuple[int, int, int]]]:
        return [
            {(p["children"], p["failed"], p["partial"]) for p in seen if p["mode"] == "composite"}
            for seen in self.progress.values()
        ]


async def watch(client: httpx.AsyncClient, db: AsyncConnection, seed: int) -> Watched:
    rng = random.Random(seed)
    watched = Watched()
    watched.see(await zone(client, "active"))
    for _ in range(TICKS):
        await simulate_tick(db, rng)
        watched.see(await zone(client, "active"))
    return watched


@pytest.mark.parametrize("seed", [7, 2026])
async def test_jobs_show_their_progress_moving(
    client: httpx.AsyncClient, db: AsyncConnection, seed: int
) -> None:
    await demo_client(client, db)
    watched = await watch(client, db, seed)

    assert all(count > 0 for count in watched.active_counts), watched.active_counts
    steps = watched.counted_steps()
    assert any(after > before for before, after in steps), "no counted job counted up"
    assert all(after >= before for before, after in steps), "a count went backwards"
    order = list(PHASE_LABELS)
    phases = [[p for p in seen if p is not None] for seen in watched.phases_of_each_job()]
    assert any(len(set(seen)) >= 2 for seen in phases), "no phased job changed phase"
    for seen in phases:
        assert seen == sorted(seen, key=order.index), f"phases out of order: {seen}"
    assert any(len(states) >= 2 for states in watched.composite_states()), (
        "no composite job's parts changed"
    )
    assert watched.progress.keys() - watched.at_start, "no new job appeared"


@pytest.mark.parametrize("seed", [7, 2026])
async def test_finished_jobs_leave_renders_that_download(
    client: httpx.AsyncClient, db: AsyncConnection, seed: int
) -> None:
    await demo_client(client, db)
    seeded = {i["artifact_id"] for i in (await zone(client, "recent"))["items"]}
    needs_you_before = (await zone(client, "needs_you"))["total_count"]
    await watch(client, db, seed)

    recent = await zone(client, "recent")
    produced = [i for i in recent["items"] if i["artifact_id"] not in seeded]
    assert len(produced) >= 3
    assert (await zone(client, "needs_you"))["total_count"] > needs_you_before
    downloads: list[str] = []
    for item in produced:
        # A render is titled after the job that made it and the engagement it is in.
        assert "Simulated output" not in item["artifact_label"]
        assert item["artifact_label"].endswith(f" — {item['engagement_name']}")
        if item["download_url"] is None:
            continue
        download = await client.get(item["download_url"])
        assert download.status_code == 200
        assert download.content
        media_type = download.headers["content-type"]
        if media_type == "application/zip":
            archive = zipfile.ZipFile(io.BytesIO(download.content))
            assert len(archive.namelist()) > 1
            assert all(archive.read(name) for name in archive.namelist())
        downloads.append(media_type)
    assert "application/zip" in downloads, "no multi-file render"
    assert any(t != "application/zip" for t in downloads), "no single-file render"


async def test_colleagues_keep_needs_you_bounded(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await demo_client(client, db)
    rng = random.Random(11)
    waiting = []
    for _ in range(60):
        await simulate_tick(db, rng)
        waiting.append((await zone(client, "needs_you"))["total_count"])
    assert max(waiting) <= MAX_WAITING, waiting
    assert min(waiting[10:]) >= 1, waiting  # decided down to KEEP_WAITING, never emptied
    decided: list[dict[str, Any]] = []
    for engagement in (await client.get("/me/memberships")).json()["items"]:
        history = await client.get(f"/engagements/{engagement['engagement_id']}/decisions")
        decided += history.json()["items"]
    assert decided, "nobody decided anything"
    assert {d["decided_by"]["display_name"] for d in decided} == {"Casey Colleague"}


LONG_RUN = 240  # ticks: at the default 3 s, twelve minutes of demo


async def test_a_long_demo_stays_bounded_and_every_kind_keeps_arriving(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """Run the demo for many ticks: the recent zone stays within its bound (old reviewed
    renders age out, and its count says exactly what it lists), and in the run's second half
    every needs_you kind still arrives."""
    await demo_client(client, db)
    engagements = len((await client.get("/me/memberships")).json()["items"])
    bound = engagements * KEEP_RENDERS + MAX_WAITING
    rng = random.Random(5)
    seen = {i["item_id"] for i in (await zone(client, "needs_you"))["items"]}
    arrived_late: set[str] = set()
    recent_totals = []
    ever_recent: set[str] = set()
    for tick in range(LONG_RUN):
        await simulate_tick(db, rng)
        recent = await zone(client, "recent")
        recent_totals.append(recent["total_count"])
        ever_recent |= {i["artifact_id"] for i in recent["items"]}
        for item in (await zone(client, "needs_you"))["items"]:
            if item["item_id"] not in seen and tick >= LONG_RUN // 2:
                arrived_late.add(item["item_kind"])
            seen.add(item["item_id"])

    assert max(recent_totals) <= bound, recent_totals
    assert len(ever_recent) > bound, "too few renders to need ageing out: a vacuous run"
    orphans = select(func.count()).where(
        decisions.c.item_kind == NeedsYouKind.PRODUCED_RENDER_FOR_REVIEW,
        ~exists().where(renders.c.id == decisions.c.item_id),
    )
    assert (await db.execute(orphans)).scalar_one() == 0, "decisions on aged-out renders kept"
    assert min(recent_totals[LONG_RUN // 2 :]) >= engagements, recent_totals  # never emptied
    recent = (await client.get("/me/dashboard/recent", params={"limit": 100})).json()
    assert len(recent["items"]) == recent["total_count"]  # the counters followed the deletes
    assert arrived_late == {source.kind for source in sources_in(Zone.NEEDS_YOU)}, arrived_late
