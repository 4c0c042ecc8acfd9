"""Progress as users see it: dashboard items and job detail follow the one progress contract."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.jobs import (
    JobPatchRefused,
    finish_job,
    record_composite,
    record_counts,
    record_phase,
)
from loomworks.db.tables import shaping_jobs
from tests.fixtures.contract import zone_body
from tests.fixtures.data import (
    make_engagement,
    make_external,
    make_person,
    make_render_job,
    make_shaping_job,
    sign_in,
)


async def active_by_id(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    body = zone_body("active", await client.get("/me/dashboard/active"))
    return {item["item_id"]: item for item in body["items"]}


async def test_dashboard_progress_follows_the_contract(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    phased = await make_shaping_job(
        db,
        eid,
        context={
            "phase": {"key": "persisting"},
            "composite": {"children": 3, "failed": 0, "partial": 0},
        },
        summary_counts={"processed": 1, "total": 2},
    )
    unknown_phase = await make_render_job(db, eid, context={"phase": {"key": "<script>x</script>"}})
    composite = await make_render_job(
        db,
        eid,
        context={"composite": {"children": 12, "failed": 2, "partial": 1}},
        summary_counts={"processed": 5, "total": 10},
    )
    counted = await make_shaping_job(db, eid, summary_counts={"processed": 40, "total": 120})
    lying = await make_shaping_job(db, eid, summary_counts={"processed": 130, "total": 120})
    external = await make_external(db, eid, provider="Skyline Lidar", context={"phase": "junk"})
    items = await active_by_id(client)

    assert items[str(phased)]["progress"] == {
        "mode": "phased",
        "phase": "persisting",
        "stalled": False,
    }
    assert items[str(phased)]["progress_hint"] == "Saving results"
    assert items[str(unknown_phase)]["progress"] == {
        "mode": "phased",
        "phase": None,
        "stalled": False,
    }
    assert "script" not in items[str(unknown_phase)]["progress_hint"]
    assert items[str(composite)]["progress"] == {
        "mode": "composite",
        "children": 12,
        "failed": 2,
        "partial": 1,
        "stalled": False,
    }
    assert "%" not in items[str(composite)]["progress_hint"]
    assert "failed" in items[str(composite)]["progress_hint"]
    assert items[str(counted)]["progress"] == {
        "mode": "counted",
        "processed": 40,
        "total": 120,
        "stalled": False,
    }
    assert items[str(counted)]["progress_hint"].startswith("40 of 120")
    assert items[str(lying)]["progress"] == {"mode": "activity", "stalled": False}
    assert items[str(lying)]["progress_hint"] == "Running"
    # A malformed phase still means phased mode, with a generic label and nothing echoed.
    assert items[str(external)]["progress"]["mode"] == "phased"
    for item in items.values():
        if item["progress"]["mode"] != "counted":
            assert "%" not in item["progress_hint"]


async def test_job_detail_for_every_kind(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me, designation="viewer")
    shaping = await make_shaping_job(
        db, eid, shape_type="deck_section", summary_counts={"processed": 1, "total": 4}
    )
    rendering = await make_render_job(
        db, eid, status="completed", summary_counts={"processed": 4, "total": 4}
    )
    external = await make_external(db, eid, provider="Skyline Lidar")
    body = (await client.get(f"/engagements/{eid}/jobs/{shaping}")).json()
    assert body["job_kind"] == "shape_production"
    assert body["job_label"] == "Shaping: Deck section"
    assert body["engagement_name"] == "Harbour"
    assert body["status_label"] == "Running"
    assert body["progress"] == {"mode": "counted", "processed": 1, "total": 4, "stalled": False}
    done = (await client.get(f"/engagements/{eid}/jobs/{rendering}")).json()
    assert done["progress"] == {"mode": "none"}
    assert done["progress_hint"] is None
    assert done["status_label"] == "Completed"
    waiting = (await client.get(f"/engagements/{eid}/jobs/{external}")).json()
    assert waiting["job_kind"] == "external_polling"
    assert waiting["progress_hint"] == "Waiting on Skyline Lidar"
    detail_urls = [i["detail_url"] for i in (await active_by_id(client)).values()]
    for url in detail_urls:
        assert (await client.get(url)).status_code == 200


async def test_stored_json_python_cannot_parse_never_fails_a_read(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """PostgreSQL stores numbers of any length and deep nesting that Python's JSON parser
    refuses; such a job shows as a running job instead of failing everyone's dashboard."""
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    huge_count = await make_shaping_job(db, eid)
    deep_phase = await make_shaping_job(db, eid)
    noisy_context = await make_shaping_job(db, eid, summary_counts={"processed": 3, "total": 4})
    huge = "1" + "0" * 5000
    await db.execute(
        text("UPDATE shaping_jobs SET summary_counts = CAST(:counts AS jsonb) WHERE id = :id"),
        {"counts": f'{{"processed": {huge}, "total": {huge}5}}', "id": huge_count},
    )
    await db.execute(
        text("UPDATE shaping_jobs SET context = CAST(:ctx AS jsonb) WHERE id = :id"),
        {"ctx": '{"phase": ' + "[" * 3000 + "]" * 3000 + "}", "id": deep_phase},
    )
    # What job code keeps elsewhere in its context is never read at all.
    await db.execute(
        text("UPDATE shaping_jobs SET context = CAST(:ctx AS jsonb) WHERE id = :id"),
        {"ctx": f'{{"notes": {huge}, "log": ' + "[" * 3000 + "]" * 3000 + "}", "id": noisy_context},
    )

    items = await active_by_id(client)
    assert items[str(huge_count)]["progress"] == {"mode": "activity", "stalled": False}
    # The phase is read in SQL (its key, or '' when malformed): nested past what Python's
    # parser takes, it is still a phase, a malformed one, as the contract says.
    assert items[str(deep_phase)]["progress"] == {"mode": "phased", "phase": None, "stalled": False}
    assert items[str(noisy_context)]["progress"] == {
        "mode": "counted",
        "processed": 3,
        "total": 4,
        "stalled": False,
    }
    for job in (huge_count, deep_phase, noisy_context):
        detail = await client.get(f"/engagements/{eid}/jobs/{job}")
        assert detail.status_code == 200
        assert detail.json()["progress"] == items[str(job)]["progress"]


async def test_job_detail_hides_what_is_not_mine(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    mine = await make_engagement(db, "Mine", member=me)
    owner = await make_person(db)
    theirs = await make_engagement(db, "Theirs", member=owner)
    their_job = await make_shaping_job(db, theirs)
    responses = [
        await client.get(f"/engagements/{theirs}/jobs/{their_job}"),
        await client.get(f"/engagements/{mine}/jobs/{their_job}"),
        await client.get(f"/engagements/{mine}/jobs/{uuid.uuid4()}"),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert len({r.text for r in responses}) == 1
    assert (await client.get(f"/engagements/{mine}/jobs/nope")).status_code == 422
    client.cookies.clear()
    assert (await client.get(f"/engagements/{mine}/jobs/{their_job}")).status_code == 401


async def test_recorded_progress_shows_and_finishing_ends_it(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    job = await make_shaping_job(db, eid, context={"note": "kept"})
    await record_counts(db, "shape_production", job, processed=3, total=9)
    assert (await active_by_id(client))[str(job)]["progress_hint"].startswith("3 of 9")
    await record_composite(db, "shape_production", job, children=4, failed=1)
    assert (await active_by_id(client))[str(job)]["progress"]["mode"] == "composite"
    await record_phase(db, "shape_production", job, "finalizing")
    assert (await active_by_id(client))[str(job)]["progress"] == {
        "mode": "phased",
        "phase": "finalizing",
        "stalled": False,
    }
    context = (await db.execute(select(shaping_jobs.c.context))).scalar_one()
    assert context["note"] == "kept"
    await finish_job(db, "shape_production", job, status="completed")
    assert str(job) not in await active_by_id(client)
    detail = (await client.get(f"/engagements/{eid}/jobs/{job}")).json()
    assert detail["progress"] == {"mode": "none"}
    assert detail["completed_at"] is not None


async def test_writes_refuse_unknown_phases_and_finished_jobs(db: AsyncConnection) -> None:
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    running = await make_shaping_job(db, eid)
    finished = await make_shaping_job(db, eid, status="completed")
    with pytest.raises(ValueError, match="phase"):
        await record_phase(db, "shape_production", running, "warp_speed")
    with pytest.raises(ValueError):
        await record_counts(db, "shape_production", running, processed=5, total=4)
    with pytest.raises(JobPatchRefused):
        await record_phase(db, "shape_production", finished, "processing")
    with pytest.raises(JobPatchRefused):
        await finish_job(db, "shape_production", finished, status="failed")
    context = (
        await db.execute(select(shaping_jobs.c.context).where(shaping_jobs.c.id == running))
    ).scalar_one()
    assert context == {}
