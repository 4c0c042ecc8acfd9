"""Knowing what changed: ETag/304 on the zones and counts, filters, counts, stalled jobs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.api.schemas.dashboard import DashboardCountsResponse
from loomworks.db.jobs import record_counts
from loomworks.db.tables import engagements, shaping_jobs
from tests.fixtures.contract import zone_body
from tests.fixtures.data import (
    T0,
    as_,
    empty_tables,
    join,
    make_assertion,
    make_engagement,
    make_external,
    make_person,
    make_render,
    make_session,
    make_shape,
    make_shaping_job,
    sign_in,
)
from tests.fixtures.round_trips import statements

ZONES = ("active", "needs_you", "recent")


# --- conditional GET ------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
async def test_poll_headers_and_304_without_the_zone_statement(
    client: httpx.AsyncClient, db: AsyncConnection, app: FastAPI, zone: str
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    await make_shaping_job(db, eid)
    await make_shape(db, eid)
    await make_render(db, eid)
    first = await client.get(f"/me/dashboard/{zone}")
    zone_body(zone, first)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "private, no-cache"
    assert first.headers["vary"] == "Cookie"
    assert first.headers["x-poll-interval"] == "10"
    with statements(app.state.engine) as seen:
        again = await client.get(f"/me/dashboard/{zone}", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    for header in ("etag", "cache-control", "vary", "x-poll-interval"):
        assert again.headers[header] == first.headers[header]
    assert len(seen) == 1 and "UNION ALL" not in seen[0], seen  # the session and the version
    other = await client.get(f"/me/dashboard/{zone}", headers={"if-none-match": '"stale", *x'})
    assert other.status_code == 200 and other.headers["etag"] == etag
    weak = await client.get(f"/me/dashboard/{zone}", headers={"if-none-match": f"W/{etag}"})
    assert weak.status_code == 304


async def _etag(client: httpx.AsyncClient, zone: str, **params: Any) -> tuple[str, bytes]:
    response = await client.get(f"/me/dashboard/{zone}", params=params)
    zone_body(zone, response)
    return response.headers["etag"], response.content


async def test_etag_moves_when_an_item_arrives_changes_or_leaves(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    job = await make_shaping_job(db, eid)
    shape = await make_shape(db, eid)
    seen = {zone: (await _etag(client, zone))[0] for zone in ZONES}

    async def moved(change: Callable[[], Awaitable[object]]) -> set[str]:
        await change()
        now = {zone: (await _etag(client, zone))[0] for zone in ZONES}
        changed = {zone for zone in ZONES if now[zone] != seen[zone]}
        seen.update(now)
        return changed

    assert await moved(lambda: record_counts(db, "shape_production", job, processed=1, total=3))
    assert await moved(lambda: make_assertion(db, eid)) == {"needs_you"}
    decided = lambda: client.post(f"/engagements/{eid}/shapes/{shape}/confirm")  # noqa: E731
    assert await moved(decided) == {"needs_you"}
    rename = update(engagements).where(engagements.c.id == eid).values(name="Renamed")
    assert await moved(lambda: db.execute(rename)) == {"active", "needs_you"}
    assert await moved(lambda: make_render(db, eid)) == {"needs_you", "recent"}
    assert await moved(lambda: db.execute(text("SELECT 1"))) == set()
    other = await make_engagement(db, "Not mine", member=await make_person(db))
    assert await moved(lambda: make_shape(db, other)) == set()


async def test_etag_moves_when_membership_changes(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    await make_shape(db, eid)
    before = await _etag(client, "needs_you")
    await join(db, me, eid, "viewer")
    assert await _etag(client, "needs_you") == before  # a viewer: nothing waits for me
    await db.execute(text("UPDATE engagement_memberships SET designation = 'operator'"))
    after = await _etag(client, "needs_you")
    assert after[0] != before[0] and after[1] != before[1]


# Writes a property test may make between two polls; each is one statement.
async def _write(db: AsyncConnection, eids: list[uuid.UUID], step: tuple[str, int]) -> None:
    action, n = step
    eid = eids[n % len(eids)]
    if action == "job":
        await make_shaping_job(db, eid, started_at=T0 + timedelta(seconds=n))
    elif action == "shape":
        await make_shape(db, eid, created_at=T0 + timedelta(seconds=n))
    elif action == "render":
        await make_render(db, eid, completed_at=T0 + timedelta(seconds=n))
    elif action == "progress":
        await db.execute(
            update(shaping_jobs)
            .where(shaping_jobs.c.engagement_id == eid)
            .values(summary_counts={"processed": n, "total": 100})
        )
    elif action == "finish":
        await db.execute(
            update(shaping_jobs).where(shaping_jobs.c.engagement_id == eid).values(status="failed")
        )
    elif action == "decide":
        await db.execute(
            text("UPDATE shapes SET state = 'confirmed' WHERE engagement_id = :e"), {"e": eid}
        )
    elif action == "rename":
        await db.execute(update(engagements).where(engagements.c.id == eid).values(name=f"E{n}"))
    elif action == "review":
        await db.execute(
            text("UPDATE renders SET reviewed_at = now() WHERE engagement_id = :e"), {"e": eid}
        )


steps = st.tuples(
    st.sampled_from(["job", "shape", "render", "progress", "finish", "decide", "rename", "review"]),
    st.integers(0, 50),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=st.lists(steps, min_size=1, max_size=12), limit=st.integers(1, 3))
async def test_same_etag_means_same_body(
    client: httpx.AsyncClient, db: AsyncConnection, writes: list[tuple[str, int]], limit: int
) -> None:
    """Over random writes, two polls of any zone with one ETag always carried one body."""
    await empty_tables(db)
    me = await sign_in(client, db)
    eids = [await make_engagement(db, f"E{n}", member=me) for n in range(2)]
    bodies: dict[tuple[str, str], bytes] = {}
    for write in [None, *writes]:
        if write is not None:
            await _write(db, eids, write)
        for zone in ZONES:
            etag, body = await _etag(client, zone, limit=limit)
            assert bodies.setdefault((zone, etag), body) == body, (zone, write)


# --- filters --------------------------------------------------------------------------------------


async def test_filters_narrow_the_page_and_the_total(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    a = await make_engagement(db, "A", member=me)
    b = await make_engagement(db, "B", member=me)
    shapes_a = [await make_shape(db, a, created_at=T0 + timedelta(seconds=n)) for n in range(3)]
    await make_shape(db, b)
    held_b = await make_assertion(db, b)
    await make_render(db, a)

    only_a = zone_body(
        "needs_you", await client.get("/me/dashboard/needs_you", params={"engagement_id": str(a)})
    )
    assert only_a["total_count"] == 4  # three shapes and a render to review
    kinds = {"kind": ["held_assertion"], "engagement_id": [str(a), str(b)]}
    held = zone_body("needs_you", await client.get("/me/dashboard/needs_you", params=kinds))
    assert [i["item_id"] for i in held["items"]] == [str(held_b)] and held["total_count"] == 1

    walked: list[str] = []
    params: dict[str, Any] = {"engagement_id": str(a), "kind": "pending_shape", "limit": 1}
    while True:
        page = zone_body("needs_you", await client.get("/me/dashboard/needs_you", params=params))
        assert page["total_count"] == 3
        walked += [item["item_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
        reused = await client.get("/me/dashboard/needs_you", params={"cursor": params["cursor"]})
        assert reused.status_code == 400 and "filters" in reused.json()["detail"]
    assert walked == [str(s) for s in reversed(shapes_a)]

    nothing = zone_body("active", await client.get("/me/dashboard/active?kind=composition"))
    assert nothing == {"items": [], "total_count": 0, "next_cursor": None}


async def test_filter_errors(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    await make_engagement(db, member=me)
    theirs = await make_engagement(db, "Theirs", member=await make_person(db))
    await make_shape(db, theirs)
    for zone in ZONES:
        hidden = await client.get(f"/me/dashboard/{zone}", params={"engagement_id": str(theirs)})
        unknown = await client.get(
            f"/me/dashboard/{zone}", params={"engagement_id": str(uuid.uuid4())}
        )
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.text == unknown.text and str(theirs) not in hidden.text
        polled = await client.get(
            f"/me/dashboard/{zone}",
            params={"engagement_id": str(theirs)},
            headers={"if-none-match": "*"},
        )
        assert polled.status_code == 404
        bad_kind = await client.get(f"/me/dashboard/{zone}", params={"kind": "render_production"})
        assert bad_kind.status_code == (200 if zone == "active" else 422)
        assert (await client.get(f"/me/dashboard/{zone}?kind=nope")).status_code == 422
        assert (await client.get(f"/me/dashboard/{zone}?engagement_id=x")).status_code == 422


# --- counts ---------------------------------------------------------------------------------------


async def test_counts_per_zone_engagement_and_kind(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    mine = await make_engagement(db, "Harbour", member=me)
    watched = await make_engagement(db, "Library", member=me, designation="viewer")
    secret = await make_engagement(db, "Secret", member=await make_person(db))
    await make_shaping_job(db, mine)
    await make_shape(db, mine)
    await make_shape(db, mine)
    await make_external(db, mine, status="failed")
    await make_shape(db, watched)  # waits, but not for a viewer
    await make_shaping_job(db, watched)
    await make_render(db, watched)
    await make_shape(db, secret)
    response = await client.get("/me/dashboard/counts")
    assert response.status_code == 200
    DashboardCountsResponse.model_validate_json(response.content)
    body = response.json()
    assert body["zones"]["active"] == {
        "total": 2,
        "kinds": {"shape_production": 2, "render_production": 0, "external_polling": 0},
        "overdue": 0,  # only needs_you items can be overdue
    }
    assert body["zones"]["needs_you"]["total"] == 3
    assert body["zones"]["needs_you"]["kinds"]["pending_shape"] == 2
    assert body["zones"]["needs_you"]["kinds"]["external_failure"] == 1
    assert body["zones"]["recent"]["total"] == 1
    assert [e["engagement_name"] for e in body["engagements"]] == ["Harbour", "Library"]
    library = body["engagements"][1]
    assert library["designation"] == "viewer"
    assert library["zones"]["needs_you"]["total"] == 0
    assert library["zones"]["active"]["total"] == 1
    assert str(secret) not in response.text
    # Each zone's total_count agrees with the counts.
    for zone in ZONES:
        page = zone_body(zone, await client.get(f"/me/dashboard/{zone}"))
        assert page["total_count"] == body["zones"][zone]["total"]

    etag = response.headers["etag"]
    assert (
        await client.get("/me/dashboard/counts", headers={"if-none-match": etag})
    ).status_code == 304
    await make_shape(db, mine)
    moved = await client.get("/me/dashboard/counts", headers={"if-none-match": etag})
    assert moved.status_code == 200 and moved.json()["zones"]["needs_you"]["total"] == 4
    client.cookies.clear()
    assert (await client.get("/me/dashboard/counts")).status_code == 401


# --- stalled jobs ---------------------------------------------------------------------------------


async def _active(client: httpx.AsyncClient) -> dict[str, Any]:
    page = zone_body("active", await client.get("/me/dashboard/active"))
    return {item["item_id"]: item for item in page["items"]}


async def test_a_silent_job_is_stalled_and_keeps_its_mode(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    long_ago = datetime.now(UTC) - timedelta(minutes=42)
    counted = await make_shaping_job(
        db, eid, summary_counts={"processed": 2, "total": 8}, progress_updated_at=long_ago
    )
    phased = await make_shaping_job(
        db, eid, context={"phase": {"key": "fetching"}}, progress_updated_at=long_ago
    )
    fresh = await make_shaping_job(db, eid, context={"phase": {"key": "fetching"}})
    items = {
        i["item_id"]: i
        for i in zone_body("active", await client.get("/me/dashboard/active"))["items"]
    }
    assert items[str(counted)]["progress"] == {
        "mode": "counted", "processed": 2, "total": 8, "stalled": True,
    }  # fmt: skip
    assert items[str(counted)]["progress_hint"].startswith("2 of 8")
    assert "no update for 4" in items[str(counted)]["progress_hint"]
    assert items[str(phased)]["progress"] == {
        "mode": "phased",
        "phase": "fetching",
        "stalled": True,
    }
    assert items[str(phased)]["progress_hint"].startswith("Fetching source data — no update for")
    assert "%" not in items[str(phased)]["progress_hint"]
    assert items[str(fresh)]["progress"]["stalled"] is False
    detail = (await client.get(f"/engagements/{eid}/jobs/{phased}")).json()
    assert detail["progress"]["stalled"] is True

    # A progress write brings it back.
    await record_counts(db, "shape_production", counted, processed=3, total=8)
    items = {
        i["item_id"]: i
        for i in zone_body("active", await client.get("/me/dashboard/active"))["items"]
    }
    assert items[str(counted)]["progress"]["stalled"] is False
    assert "no update" not in items[str(counted)]["progress_hint"]


async def test_stall_threshold_is_a_setting(
    db: AsyncConnection, settings: Any, engine: AsyncEngine
) -> None:
    from loomworks.app import create_app

    app = create_app(settings.model_copy(update={"stall_after_seconds": 7200}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            person = await make_person(db)
            eid = await make_engagement(db, member=person)
            await make_shaping_job(
                db, eid, progress_updated_at=datetime.now(UTC) - timedelta(minutes=42)
            )
            page = zone_body(
                "active",
                await client.get(
                    "/me/dashboard/active", headers=as_(await make_session(db, person))
                ),
            )
    assert page["items"][0]["progress"]["stalled"] is False
