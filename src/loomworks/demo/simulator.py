"""The demo's job simulator: running jobs move through phases and counts, finish, and produce
renders, so a person polling the demo dashboard watches the truth change.

It only writes through the same functions real job code uses (loomworks.db.jobs), and
only while `loomworks serve --demo` runs; it stops with the server.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.faults import describe, is_unavailable
from loomworks.db.jobs import (
    JOB_TABLES,
    JobKind,
    JobPatchRefused,
    dispatch_job,
    finish_job,
    record_composite,
    record_counts,
    record_phase,
)
from loomworks.db.renders import create_render
from loomworks.db.tables import engagement_memberships, persons
from loomworks.demo.seed import DEMO_EMAIL
from loomworks.progress import PHASE_LABELS

log = logging.getLogger(__name__)

PHASES = list(PHASE_LABELS)
KEEP_RUNNING = 4
SHAPE_TYPES = ("site_plan", "deck_section", "floor_plate", "facade_panel")
RENDER_TYPES = ("condition_report", "cost_plan", "survey_digest")


async def run_simulator(
    engine: AsyncEngine, *, tick_seconds: float, seed: int | None = None
) -> None:
    """Advance the demo every `tick_seconds` until cancelled."""
    rng = random.Random(seed)
    while True:
        await asyncio.sleep(tick_seconds)
        try:
            async with engine.begin() as conn:
                await simulate_tick(conn, rng)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A failed tick (say, the database restarting) must not end the demo; an outage
            # is one line per tick, anything else keeps its traceback.
            if is_unavailable(exc):
                log.warning("demo simulator: database unavailable (%s); next tick", describe(exc))
            else:
                log.exception("demo simulator tick failed; trying again next tick")


async def simulate_tick(conn: AsyncConnection, rng: random.Random) -> None:
    """One step of the demo world: advance every running job, top up the running set."""
    running = 0
    for kind in ("shape_production", "render_production"):
        table = JOB_TABLES[kind]
        jobs = await conn.execute(
            select(
                table.c.id,
                table.c.engagement_id,
                table.c.status,
                table.c.context,
                table.c.summary_counts,
            )
            .where(table.c.status.in_(("queued", "dispatched")))
            .order_by(table.c.started_at)
        )
        for job in jobs.all():
            if await _advance(conn, kind, job, rng):
                running += 1
    externals = JOB_TABLES["external_polling"]
    waiting = await conn.execute(
        select(externals.c.id).where(externals.c.status == "awaiting_external")
    )
    for (external_id,) in waiting.all():
        if rng.random() < 0.1:
            await finish_job(conn, "external_polling", external_id, status="received")
    for _ in range(KEEP_RUNNING - running):
        await _start_job(conn, rng)


async def _advance(conn: AsyncConnection, kind: JobKind, job: Any, rng: random.Random) -> bool:
    """Move one job a step; True while it is still running afterwards."""
    try:
        if job.status == "queued":
            await dispatch_job(conn, kind, job.id)
            await record_phase(conn, kind, job.id, PHASES[0])
            return True
        context = job.context if isinstance(job.context, dict) else {}
        counts = job.summary_counts if isinstance(job.summary_counts, dict) else {}
        phase = (
            context.get("phase", {}).get("key") if isinstance(context.get("phase"), dict) else None
        )
        if phase in PHASES and phase != PHASES[-1]:
            following = PHASES[PHASES.index(phase) + 1]
            await record_phase(conn, kind, job.id, following)
            if following == "processing":
                await record_counts(
                    conn, kind, job.id, processed=0, total=rng.choice((40, 120, 500))
                )
            return True
        if isinstance(counts.get("total"), int) and counts.get("processed", 0) < counts["total"]:
            processed = min(
                counts["total"],
                counts.get("processed", 0) + rng.randint(1, counts["total"] // 3 + 1),
            )
            await record_counts(conn, kind, job.id, processed=processed, total=counts["total"])
            return True
        if "composite" in context and rng.random() < 0.5:
            children = rng.randint(3, 8)
            await record_composite(conn, kind, job.id, children=children, failed=rng.randint(0, 1))
            return True
        await finish_job(conn, kind, job.id, status="completed")
        await _produce_render(conn, kind, job, rng)
        return False
    except JobPatchRefused:
        return False


async def _produce_render(
    conn: AsyncConnection, kind: JobKind, job: Any, rng: random.Random
) -> None:
    number = rng.randint(100, 999)
    rows = "\n".join(f"part-{i},{rng.randint(1, 99)}" for i in range(1, 11))
    await create_render(
        conn,
        engagement_id=job.engagement_id,
        render_job_id=job.id if kind == "render_production" else None,
        title=f"Simulated output {number}",
        content_kind="binary_blob",
        files=[(f"output-{number}.csv", "text/csv", f"part,value\n{rows}\n".encode())],
    )


async def _start_job(conn: AsyncConnection, rng: random.Random) -> None:
    engagement_ids = (
        (
            await conn.execute(
                select(engagement_memberships.c.engagement_id)
                .join(persons, persons.c.id == engagement_memberships.c.person_id)
                .where(persons.c.email == DEMO_EMAIL)
            )
        )
        .scalars()
        .all()
    )
    if not engagement_ids:
        return
    engagement_id: uuid.UUID = rng.choice(list(engagement_ids))
    if rng.random() < 0.5:
        values = {"shape_type": rng.choice(SHAPE_TYPES)}
        table = JOB_TABLES["shape_production"]
    else:
        values = {"render_type": rng.choice(RENDER_TYPES)}
        table = JOB_TABLES["render_production"]
    await conn.execute(
        insert(table).values(
            engagement_id=engagement_id, status="queued", started_at=func.now(), **values
        )
    )
