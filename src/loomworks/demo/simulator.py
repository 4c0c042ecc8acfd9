"""The demo's job simulator: running jobs count up, walk through their phases or report on
their parts, finish, and produce renders (and shaping jobs a shape to confirm), so a person
polling the demo dashboard watches the truth change. New jobs keep arriving, so the active
zone never empties; every kind of needs_you item keeps arriving (shapes, held assertions,
renders to review, failed productions) while a colleague decides the oldest; and old
reviewed renders age out, so the recent zone stays bounded however long the demo runs.

A tick is TICK_STEPS in order; the world it moves is what is in the database, read the way
the dashboard reads it (progress_of), and written only through loomworks.db (jobs, renders,
proposals, decisions), as real job code would. It runs only while `loomworks serve --demo`
does, and stops with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.core.labels import humanise
from loomworks.core.progress import PHASE_LABELS, Progress, ProgressMode, progress_from
from loomworks.core.rows import JobRow
from loomworks.core.states import ActiveKind, ContentKind, ExternalStatus, JobStatus
from loomworks.db.decisions import ItemNotWaiting, ItemUnknown, decide, oldest_waiting
from loomworks.db.jobs import (
    JobPatchRefused,
    dispatch_job,
    finish_job,
    record_composite,
    record_counts,
    record_phase,
    running_jobs,
    start_job,
)
from loomworks.db.people import memberships_of, person_by_email
from loomworks.db.proposals import hold_assertion, propose_shape
from loomworks.db.renders import age_out_renders, create_render
from loomworks.demo.content import DemoFile, csv_table, elevation_svg, gradient_png
from loomworks.demo.seed import COLLEAGUE_EMAIL, DEMO_EMAIL
from loomworks.platform.faults import describe, is_unavailable

log = logging.getLogger(__name__)

PHASES = tuple(PHASE_LABELS)  # the phase vocabulary, in the order a job goes through it
JOB_KINDS = (ActiveKind.SHAPE_PRODUCTION, ActiveKind.RENDER_PRODUCTION)
KEEP_RUNNING = 4  # the simulator tops the running jobs up to this many every tick
MAX_RUNNING = 7  # and now and then starts one more, up to this many
SHAPE_TYPES = ("site_plan", "deck_section", "floor_plate", "facade_panel")
RENDER_TYPES = ("condition_report", "cost_plan", "survey_digest")
PRODUCTIONS = (
    ("Skyline Lidar", "Roof point cloud"),
    ("Aerial Survey Co", "Drone photo set"),
    ("GeoCore Labs", "Borehole logs"),
)
# How a newly dispatched job reports progress; activity-only jobs are the rarest, as in life.
MODES: tuple[ProgressMode, ...] = ("counted", "phased", "composite", "activity")
KEEP_WAITING = 12  # colleagues decide what has waited longest down to this many
MAX_WAITING = 25  # as soon as more than this many wait
MODE_WEIGHTS = (3, 3, 2, 1)
COUNTED_TOTALS = (40, 120, 500)
KEEP_RENDERS = 8  # produced renders kept per engagement (beyond those waiting for review)
# How an awaited production ends, per tick: received, failed (it then needs you), or neither.
RECEIVED_CHANCE, FAILED_CHANCE = 0.1, 0.04
FAILURE_REASONS = (
    "The provider timed out after three attempts.",
    "The delivered archive failed its checksum.",
    "The provider rejected the request: survey area outside their licence.",
)
ASSERTION_CHANCE = 0.12  # per tick, someone's assertion is held for a decision
ASSERTIONS = (
    "The north wall is load-bearing.",
    "Gate 12 stays open during works.",
    "The archive floor is dry.",
    "The crane base sits on rock, not fill.",
    "Night works need no extra permit here.",
    "The existing drains can take the new roof area.",
)

TickStep = Callable[[AsyncConnection, random.Random], Awaitable[None]]


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
    """One step of the demo world: each of TICK_STEPS, in order, in one transaction."""
    for step in TICK_STEPS:
        await step(conn, rng)


# --- step: advance every running job ------------------------------------------------------------


async def advance_jobs(conn: AsyncConnection, rng: random.Random) -> None:
    """Move each running shaping and render job one step; finished ones produce a render."""
    for job in await running_jobs(conn, kinds=JOB_KINDS):
        try:
            if await advance_job(conn, job, rng):
                await finish_job(conn, job.job_kind, job.id, status=JobStatus.COMPLETED)
                await produce_render(conn, job, rng)
                if job.job_kind == ActiveKind.SHAPE_PRODUCTION:
                    await propose_shape(
                        conn,
                        engagement_id=job.engagement_id,
                        shape_type=job.label_text or "shape",
                        title=_title(job),
                    )
        except JobPatchRefused:
            continue  # finished by someone else since it was read: nothing left to move


async def advance_job(conn: AsyncConnection, job: JobRow, rng: random.Random) -> bool:
    """Move one job a step in its progress mode; True when it has nothing left to do."""
    if job.status == JobStatus.QUEUED:
        # Some jobs wait a tick or two in the queue, so "Queued" is seen too.
        if rng.random() < 0.6:
            await dispatch_job(conn, job.job_kind, job.id)
            await begin_progress(conn, job, rng)
        return False
    progress = progress_from(job.status, job.phase, job.composite, job.processed, job.total)
    return await ADVANCE_BY_MODE[progress.mode](conn, job, progress, rng)


async def begin_progress(conn: AsyncConnection, job: JobRow, rng: random.Random) -> None:
    """A dispatched job starts reporting in one of the progress modes."""
    mode = rng.choices(MODES, weights=MODE_WEIGHTS)[0]
    if mode == "counted":
        total = rng.choice(COUNTED_TOTALS)
        await record_counts(conn, job.job_kind, job.id, processed=0, total=total)
    elif mode == "phased":
        await record_phase(conn, job.job_kind, job.id, PHASES[0])
    elif mode == "composite":
        await record_composite(conn, job.job_kind, job.id, children=rng.randint(3, 8))


async def count_up(
    conn: AsyncConnection, job: JobRow, progress: Progress, rng: random.Random
) -> bool:
    processed, total = progress.processed or 0, progress.total or 0
    if processed >= total:
        return True
    processed = min(total, processed + rng.randint(1, max(1, total // 4)))
    await record_counts(conn, job.job_kind, job.id, processed=processed, total=total)
    return False


async def next_phase(
    conn: AsyncConnection, job: JobRow, progress: Progress, rng: random.Random
) -> bool:
    if progress.phase == PHASES[-1]:
        return True
    # An unreported phase (None) starts at the first.
    following = PHASES[PHASES.index(progress.phase) + 1] if progress.phase else PHASES[0]
    await record_phase(conn, job.job_kind, job.id, following)
    return False


# One part fails, one comes back partial, a failed one is retried fine, a partial one is
# completed, or a failed one is retried and comes back partial.
PART_MOVES = ((1, 0), (0, 1), (-1, 0), (0, -1), (-1, 1))


async def report_parts(
    conn: AsyncConnection, job: JobRow, progress: Progress, rng: random.Random
) -> bool:
    """A composite job's parts fail, come back partial, or get retried, until it is done."""
    children, failed, partial = progress.children or 1, progress.failed or 0, progress.partial or 0
    if rng.random() < 0.2:
        return True
    moves = [(failed + df, partial + dp) for df, dp in PART_MOVES]
    failed, partial = rng.choice(
        [(f, p) for f, p in moves if f >= 0 and p >= 0 and f + p <= children]
    )
    await record_composite(
        conn, job.job_kind, job.id, children=children, failed=failed, partial=partial
    )
    return False


async def maybe_finish(
    conn: AsyncConnection, job: JobRow, progress: Progress, rng: random.Random
) -> bool:
    """A job that reports no finer progress finishes when it finishes."""
    return rng.random() < 0.3


ADVANCE_BY_MODE: dict[
    ProgressMode,
    Callable[[AsyncConnection, JobRow, Progress, random.Random], Awaitable[bool]],
] = {
    "counted": count_up,
    "phased": next_phase,
    "composite": report_parts,
    "activity": maybe_finish,
    "none": maybe_finish,  # not running: running_jobs never returns one
}


async def produce_render(conn: AsyncConnection, job: JobRow, rng: random.Random) -> None:
    """What a finished job leaves behind: a render titled after the job and its engagement."""
    title = _title(job)
    stem = (job.label_text or "output").replace("_", "-")
    kind = rng.choices(
        (ContentKind.MULTI_FILE, ContentKind.BINARY_BLOB, ContentKind.INLINE_DICT),
        weights=(4, 5, 1),
    )[0]
    files: tuple[DemoFile, ...] = ()
    inline: dict[str, Any] | None = None
    if kind == ContentKind.INLINE_DICT:
        inline = {"summary": title, "items": rng.randint(5, 50), "ok": rng.random() < 0.8}
    elif kind == ContentKind.BINARY_BLOB:
        files = (rng.choice(_single_files(title, stem, rng)),)
    else:
        files = _single_files(title, stem, rng)
    await create_render(
        conn,
        engagement_id=job.engagement_id,
        render_job_id=job.id if job.job_kind == ActiveKind.RENDER_PRODUCTION else None,
        title=title,
        content_kind=kind,
        files=files,
        inline_content=inline,
    )


def _title(job: JobRow) -> str:
    return f"{humanise(job.label_text, 'Output')} — {job.engagement_name}"


def _single_files(title: str, stem: str, rng: random.Random) -> tuple[DemoFile, ...]:
    rows = [(f"part-{i}", rng.randint(1, 99)) for i in range(1, 11)]
    return (
        DemoFile(f"{stem}.csv", "text/csv", csv_table("part,value", rows)),
        DemoFile(f"{stem}.svg", "image/svg+xml", elevation_svg(title)),
        DemoFile(f"{stem}.png", "image/png", gradient_png(48, 32)),
    )


# --- step: external productions arrive ------------------------------------------------------


async def receive_productions(conn: AsyncConnection, rng: random.Random) -> None:
    """Now and then a provider delivers what was awaited, or fails to (a failure waits for
    someone to retry or dismiss it), or a new request goes out."""
    waiting = await running_jobs(conn, kinds=(ActiveKind.EXTERNAL_POLLING,))
    for record in waiting:
        roll = rng.random()
        if roll < RECEIVED_CHANCE:
            await finish_job(conn, record.job_kind, record.id, status=ExternalStatus.RECEIVED)
        elif roll < RECEIVED_CHANCE + FAILED_CHANCE:
            reason = rng.choice(FAILURE_REASONS)
            await finish_job(
                conn, record.job_kind, record.id, status=ExternalStatus.FAILED, error=reason
            )
    if not waiting and rng.random() < 0.2:
        engagement_ids = await demo_engagement_ids(conn)
        if engagement_ids:
            provider, description = rng.choice(PRODUCTIONS)
            await start_job(
                conn,
                ActiveKind.EXTERNAL_POLLING,
                engagement_id=rng.choice(engagement_ids),
                label_text=provider,
                label_extra=description,
            )


# --- step: new jobs arrive ----------------------------------------------------------------------


async def start_new_jobs(conn: AsyncConnection, rng: random.Random) -> None:
    """Top the running jobs up to KEEP_RUNNING, and now and then start one more."""
    running = len(await running_jobs(conn, kinds=JOB_KINDS))
    wanted = max(KEEP_RUNNING - running, 0)
    if running + wanted < MAX_RUNNING and rng.random() < 0.25:
        wanted += 1
    engagement_ids = await demo_engagement_ids(conn) if wanted else []
    for _ in range(wanted if engagement_ids else 0):
        kind = rng.choice(JOB_KINDS)
        types = SHAPE_TYPES if kind == ActiveKind.SHAPE_PRODUCTION else RENDER_TYPES
        await start_job(
            conn, kind, engagement_id=rng.choice(engagement_ids), label_text=rng.choice(types)
        )


async def demo_engagement_ids(conn: AsyncConnection) -> list[uuid.UUID]:
    """Where new work appears: the demo operator's engagements (none before seeding)."""
    operator = await person_by_email(conn, DEMO_EMAIL)
    if operator is None:
        return []
    return [m.engagement_id for m in await memberships_of(conn, person_id=operator.id)]


# --- step: assertions are held -------------------------------------------------------------------


async def hold_assertions(conn: AsyncConnection, rng: random.Random) -> None:
    """Now and then someone's assertion is held for a person to commit or withdraw."""
    if rng.random() >= ASSERTION_CHANCE:
        return
    engagement_ids = await demo_engagement_ids(conn)
    if engagement_ids:
        await hold_assertion(
            conn, engagement_id=rng.choice(engagement_ids), statement=rng.choice(ASSERTIONS)
        )


# --- step: colleagues decide ----------------------------------------------------------------------


async def colleagues_decide(conn: AsyncConnection, rng: random.Random) -> None:
    """The demo's colleague decides some of what has waited longest, through the same
    decisions the API takes, so needs_you stays between about KEEP_WAITING and MAX_WAITING
    items instead of growing all day."""
    colleague = await person_by_email(conn, COLLEAGUE_EMAIL)
    engagement_ids = await demo_engagement_ids(conn)
    if colleague is None or not engagement_ids:
        return
    waiting = await oldest_waiting(conn, engagement_ids=engagement_ids, limit=MAX_WAITING + 1)
    if len(waiting) > MAX_WAITING:
        chosen = waiting[: len(waiting) - KEEP_WAITING]
    elif len(waiting) > KEEP_WAITING and rng.random() < 0.3:
        chosen = waiting[:1]
    else:
        return
    for item in chosen:
        # Mostly the first decision (confirm, commit, accept, retry), now and then the other.
        decision = item.source.decisions[0 if rng.random() < 0.8 else -1]
        with contextlib.suppress(ItemNotWaiting, ItemUnknown):
            await decide(
                conn,
                item.source,
                decision,
                engagement_id=item.engagement_id,
                item_id=item.item_id,
                person_id=colleague.id,
                note="Decided by the demo's colleague",
            )


# --- step: old renders age out --------------------------------------------------------------------


async def age_out(conn: AsyncConnection, rng: random.Random) -> None:
    """Reviewed renders beyond the newest KEEP_RENDERS of each engagement go (with their
    files and the decisions on them), so the recent zone holds at most KEEP_RENDERS per
    engagement besides those still waiting for review, however long the demo runs."""
    engagement_ids = await demo_engagement_ids(conn)
    if engagement_ids:
        await age_out_renders(conn, engagement_ids=engagement_ids, keep=KEEP_RENDERS)


# A tick, in order.
TICK_STEPS: tuple[TickStep, ...] = (
    advance_jobs,
    receive_productions,
    start_new_jobs,
    hold_assertions,
    colleagues_decide,
    age_out,
)
