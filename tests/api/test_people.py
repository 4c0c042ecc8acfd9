"""The caller, their memberships, and the per-engagement activity summary."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.fixtures.data import (
    T0,
    make_assertion,
    make_engagement,
    make_external,
    make_person,
    make_render,
    make_render_job,
    make_shape,
    make_shaping_job,
    sign_in,
)


async def test_memberships_anonymous_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/me/memberships")).status_code == 401


async def test_memberships_lists_only_mine_with_designations(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    other = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=me, designation="owner")
    bridge = await make_engagement(db, "Bridge", member=me, designation="viewer")
    await make_engagement(db, "Secret", member=other)
    response = await client.get("/me/memberships")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {"engagement_id": str(bridge), "engagement_name": "Bridge", "designation": "viewer"},
            {"engagement_id": str(harbour), "engagement_name": "Harbour", "designation": "owner"},
        ]
    }


async def test_activity_summary_counts(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me)
    noise = await make_engagement(db, "Noise", member=me)
    await make_shaping_job(db, eid, status="queued")
    await make_shaping_job(db, eid, status="completed")
    await make_render_job(db, eid, status="dispatched")
    await make_render_job(db, eid, status="dispatched")
    await make_external(db, eid)
    await make_external(db, eid, status="received")
    await make_external(db, eid, status="failed")
    await make_shape(db, eid)
    await make_shape(db, eid, state="confirmed")
    await make_assertion(db, eid)
    await make_render(db, eid)
    await make_render(db, eid, reviewed_at=T0)
    await make_render(db, eid, state="producing")
    await make_shaping_job(db, noise, status="queued")
    response = await client.get(f"/engagements/{eid}/activity-summary")
    assert response.status_code == 200
    assert response.json() == {
        "engagement_id": str(eid),
        "engagement_name": "Harbour",
        "designation": "operator",
        "active_jobs": {"shape_production": 1, "render_production": 2, "external_polling": 1},
        "decisions_waiting": {
            "pending_shape": 1,
            "held_assertion": 1,
            "produced_render_for_review": 1,
            "external_failure": 1,
        },
        "produced_renders": 2,
    }


async def test_activity_summary_hides_other_engagements(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await sign_in(client, db)
    other = await make_person(db)
    secret = await make_engagement(db, "Secret", member=other)
    not_member = await client.get(f"/engagements/{secret}/activity-summary")
    missing = await client.get(f"/engagements/{uuid.uuid4()}/activity-summary")
    assert not_member.status_code == missing.status_code == 404
    assert not_member.json() == missing.json()
    assert "Secret" not in not_member.text


async def test_activity_summary_malformed_id_422(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await sign_in(client, db)
    response = await client.get("/engagements/not-a-uuid/activity-summary")
    assert response.status_code == 422
    assert "detail" in response.json()


async def test_activity_summary_anonymous_401(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/engagements/{uuid.uuid4()}/activity-summary")
    assert response.status_code == 401
