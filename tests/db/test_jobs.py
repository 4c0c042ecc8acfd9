"""start_job and running_jobs: how job code (the demo simulator) starts and finds its work."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import ActiveKind, ExternalStatus, JobStatus
from loomworks.db.jobs import JOB_SOURCES, finish_job, running_jobs, start_job
from tests.fixtures.data import make_engagement


async def test_started_jobs_run_until_finished(db: AsyncConnection) -> None:
    engagement_id = await make_engagement(db, "Dock 4")
    shaping = await start_job(
        db, ActiveKind.SHAPE_PRODUCTION, engagement_id=engagement_id, label_text="site_plan"
    )
    external = await start_job(
        db,
        ActiveKind.EXTERNAL_POLLING,
        engagement_id=engagement_id,
        label_text="Skyline Lidar",
        label_extra="Roof point cloud",
    )
    kinds = list(JOB_SOURCES)  # every kind of job with a table behind it
    running = {job.id: job for job in await running_jobs(db, kinds=kinds)}
    assert running.keys() == {shaping, external}
    assert running[shaping].status == JobStatus.QUEUED
    assert running[shaping].label_text == "site_plan"
    assert running[external].status == ExternalStatus.AWAITING_EXTERNAL
    assert running[external].label_parts == ("Skyline Lidar", "Roof point cloud", None)
    assert running[external].engagement_name == "Dock 4"

    await finish_job(db, ActiveKind.SHAPE_PRODUCTION, shaping, status=JobStatus.COMPLETED)
    assert [job.id for job in await running_jobs(db, kinds=kinds)] == [external]
    assert await running_jobs(db, kinds=[ActiveKind.SHAPE_PRODUCTION]) == []
