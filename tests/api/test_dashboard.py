"""The three dashboard zones over real HTTP: contents, scoping, labels and pagination."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bench.measure import plan_summary
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import Zone
from loomworks.db.dashboard import page_query
from tests.fixtures.contract import zone_body
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

ZONES = ("active", "needs_you", "recent")
# Rows a first page of 50 may read (scans and re-reads of its CTEs) in
# test_a_page_reads_a_bounded_number_of_rows: ~500-1,000 whatever the history; reading the
# caller's waiting or running rows instead would be 6,000 (2,000 per source).
ROWS_A_PAGE_READS = 3000
# Raw enum values and internal keys (snake_case) a person must never read in a label.
RAW_VALUES = re.compile(r"\b[a-z]+_[a-z_]+\b")


async def get_zone(client: httpx.AsyncClient, zone: str, **params: Any) -> dict[str, Any]:
    return zone_body(zone, await client.get(f"/me/dashboard/{zone}", params=params))


async def walk(client: httpx.AsyncClient, zone: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = await get_zone(client, zone, **params)
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a page with a next_cursor must not be empty"


def assert_readable(text: str) -> None:
    assert text and not RAW_VALUES.search(text), text


@pytest.mark.parametrize("zone", ZONES)
async def test_unauthenticated_401(client: httpx.AsyncClient, zone: str) -> None:
    response = await client.get(f"/me/dashboard/{zone}")
    assert response.status_code == 401
    assert response.json()["detail"]
    client.cookies.set("loomworks_session", "forged")
    assert (await client.get(f"/me/dashboard/{zone}")).status_code == 401


async def test_active_single_engagement(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me)
    older = await make_shaping_job(
        db, eid, status="queued", started_at=T0, shape_type="deck_section"
    )
    newer = await make_render_job(
        db, eid, started_at=T0 + timedelta(minutes=5), render_type="condition_report"
    )
    await make_shaping_job(db, eid, status="completed", started_at=T0 + timedelta(hours=1))
    await make_render_job(db, eid, status="failed", started_at=T0 + timedelta(hours=1))
    await make_render_job(db, eid, status="cancelled", started_at=T0 + timedelta(hours=1))
    body = await get_zone(client, "active")
    assert body["total_count"] == 2
    assert body["next_cursor"] is None
    assert [item["item_id"] for item in body["items"]] == [str(newer), str(older)]
    first = body["items"][0]
    assert first["engagement_id"] == str(eid)
    assert first["engagement_name"] == "Harbour"
    assert first["item_kind"] == "render_production"
    assert first["item_label"] == "Rendering: Condition report"
    assert first["started_at"].startswith("2026-11-01T12:05:00")
    assert first["progress"] == {"mode": "activity", "stalled": False}
    assert first["detail_url"] == f"/engagements/{eid}/jobs/{newer}"
    assert body["items"][1]["item_kind"] == "shape_production"
    for item in body["items"]:
        assert_readable(item["item_label"])
        assert_readable(item["progress_hint"])


async def test_active_multiple_engagements(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    expected = []
    for n in range(3):
        eid = await make_engagement(
            db, f"Engagement {n}", member=me, designation="viewer" if n == 2 else "operator"
        )
        expected.append(await make_shaping_job(db, eid, started_at=T0 + timedelta(minutes=n)))
    body = await get_zone(client, "active")
    assert [item["item_id"] for item in body["items"]] == [str(i) for i in reversed(expected)]
    assert [item["engagement_name"] for item in body["items"]] == [
        "Engagement 2",
        "Engagement 1",
        "Engagement 0",
    ]
    assert body["total_count"] == 3


async def test_active_no_membership(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    await sign_in(client, db)
    stranger = await make_person(db)
    secret = await make_engagement(db, "Secret", member=stranger)
    await make_shaping_job(db, secret)
    await make_external(db, secret)
    for zone in ZONES:
        body = await get_zone(client, zone)
        assert body == {"items": [], "total_count": 0, "next_cursor": None}


async def test_active_empty(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    await make_shaping_job(db, eid, status="completed")
    await make_external(db, eid, status="received")
    assert await get_zone(client, "active") == {"items": [], "total_count": 0, "next_cursor": None}


async def test_active_external_polling(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    record = await make_external(db, eid, provider="Skyline Lidar", description="Roof point cloud")
    await make_external(db, eid, status="failed")
    body = await get_zone(client, "active")
    assert body["total_count"] == 1
    (item,) = body["items"]
    assert item["item_kind"] == "external_polling"
    assert item["item_id"] == str(record)
    assert item["item_label"] == "Roof point cloud from Skyline Lidar"
    assert item["progress_hint"] == "Waiting on Skyline Lidar"
    assert item["progress"] == {"mode": "activity", "stalled": False}


async def test_needs_you_pending_shapes(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    pending = await make_shape(db, eid, title="East approach deck", shape_type="deck_section")
    await make_shape(db, eid, state="confirmed")
    await make_shape(db, eid, state="rejected")
    body = await get_zone(client, "needs_you")
    assert body["total_count"] == 1
    (item,) = body["items"]
    assert item["item_kind"] == "pending_shape"
    assert item["item_id"] == str(pending)
    assert item["item_label"] == "East approach deck"
    assert item["detail"] == "Deck section waiting for you to confirm or reject it"
    assert item["created_at"].startswith("2026-11-01T12:00:00")


async def test_needs_you_held_assertions(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    held = await make_assertion(db, eid, statement="The north wall is load-bearing.")
    await make_assertion(db, eid, state="committed")
    await make_assertion(db, eid, state="withdrawn")
    body = await get_zone(client, "needs_you")
    (item,) = body["items"]
    assert item["item_kind"] == "held_assertion"
    assert item["item_id"] == str(held)
    assert item["item_label"] == "The north wall is load-bearing."
    assert_readable(item["detail"])


async def test_needs_you_cross_engagement(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    a = await make_engagement(db, "A", member=me, designation="owner")
    b = await make_engagement(db, "B", member=me, designation="operator")
    shape = await make_shape(db, a, created_at=T0)
    assertion = await make_assertion(db, b, created_at=T0 + timedelta(minutes=1))
    render = await make_render(
        db, a, created_at=T0 + timedelta(minutes=2), display_number=7, title="Cost plan"
    )
    await make_render(db, b, reviewed_at=T0, created_at=T0 + timedelta(minutes=3))
    await make_render(db, b, state="producing", created_at=T0 + timedelta(minutes=4))
    body = await get_zone(client, "needs_you")
    assert [(i["item_kind"], i["item_id"], i["engagement_name"]) for i in body["items"]] == [
        ("produced_render_for_review", str(render), "A"),
        ("held_assertion", str(assertion), "B"),
        ("pending_shape", str(shape), "A"),
    ]
    assert body["items"][0]["item_label"] == "Render #7: Cost plan"
    assert body["total_count"] == 3
    for item in body["items"]:
        assert_readable(item["detail"])


async def test_needs_you_empty(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    await make_engagement(db, member=me)
    assert await get_zone(client, "needs_you") == {
        "items": [],
        "total_count": 0,
        "next_cursor": None,
    }


async def test_needs_you_read_only_filtered(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    viewer_of = await make_engagement(db, "Watched", member=me, designation="viewer")
    operator_of = await make_engagement(db, "Mine", member=me, designation="operator")
    for eid in (viewer_of, operator_of):
        await make_shape(db, eid)
        await make_assertion(db, eid)
        await make_render(db, eid)
        await make_shaping_job(db, eid)
    needs_you = await get_zone(client, "needs_you")
    assert {i["engagement_id"] for i in needs_you["items"]} == {str(operator_of)}
    assert needs_you["total_count"] == 3
    # A viewer still sees the engagement's work in the read-only zones.
    active = await get_zone(client, "active")
    recent = await get_zone(client, "recent")
    assert {i["engagement_id"] for i in active["items"]} == {str(viewer_of), str(operator_of)}
    assert recent["total_count"] == 2


async def test_recent_completed_renders(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    old = await make_render(db, eid, completed_at=T0, display_number=1, title="First")
    new = await make_render(
        db,
        eid,
        completed_at=T0 + timedelta(hours=2),
        reviewed_at=T0,
        display_number=2,
        title="Second",
    )
    await make_render(db, eid, state="producing")
    await make_render(db, eid, state="failed")
    body = await get_zone(client, "recent")
    assert [i["artifact_id"] for i in body["items"]] == [str(new), str(old)]
    assert body["items"][0]["artifact_label"] == "Render #2: Second"
    assert body["items"][0]["artifact_kind"] == "render"
    assert body["items"][0]["completed_at"].startswith("2026-11-01T14:00:00")
    assert body["total_count"] == 2


async def test_recent_with_download_url(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    blob = await make_render(
        db,
        eid,
        content_kind="binary_blob",
        files=[("plan.csv", "text/csv", b"a,b\n1,2\n")],
        completed_at=T0 + timedelta(minutes=1),
    )
    bundle = await make_render(
        db,
        eid,
        content_kind="multi_file",
        files=[("a.txt", "text/plain", b"A"), ("b.txt", "text/plain", b"B")],
    )
    body = await get_zone(client, "recent")
    urls = {i["artifact_id"]: i["download_url"] for i in body["items"]}
    assert urls == {
        str(blob): f"/engagements/{eid}/renders/{blob}/content",
        str(bundle): f"/engagements/{eid}/renders/{bundle}/content",
    }
    download = await client.get(urls[str(blob)])
    assert download.status_code == 200
    assert download.content == b"a,b\n1,2\n"
    assert download.headers["content-type"].startswith("text/csv")
    assert (await client.get(urls[str(bundle)])).status_code == 200


async def test_recent_without_download_url(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    await make_render(db, eid, content_kind="inline_dict", inline_content={"rating": "fair"})
    (item,) = (await get_zone(client, "recent"))["items"]
    assert item["download_url"] is None


async def test_recent_cross_engagement(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    stranger = await make_person(db)
    mine = [await make_engagement(db, f"Mine {n}", member=me) for n in range(3)]
    theirs = await make_engagement(db, "Theirs", member=stranger)
    expected = [
        await make_render(db, eid, completed_at=T0 + timedelta(minutes=n))
        for n, eid in enumerate(mine)
    ]
    await make_render(db, theirs, completed_at=T0 + timedelta(hours=5))
    body = await get_zone(client, "recent")
    assert [i["artifact_id"] for i in body["items"]] == [str(r) for r in reversed(expected)]
    assert body["total_count"] == 3


async def _many_active(db: AsyncConnection, me: Any, count: int) -> list[uuid.UUID]:
    eid = await make_engagement(db, member=me)
    return [
        await make_shaping_job(db, eid, started_at=T0 + timedelta(seconds=n)) for n in range(count)
    ]


async def test_pages_are_what_the_models_write(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """Every kind, every progress mode, awkward text and times, with and without a next page:
    get_zone checks each page is byte for byte what the response model would write."""
    me = await sign_in(client, db)
    eid = await make_engagement(db, 'Café "Nord" \\ 北 🚧', member=me)
    odd = 'Ünïcode "quoted" \\ back\\slash\ttab 🚧'
    at = [T0 + timedelta(microseconds=n) for n in (0, 1, 999_999)] + [T0 + timedelta(hours=1)]
    await make_shaping_job(db, eid, started_at=at[0], context={"phase": {"key": "fetching"}})
    await make_shaping_job(db, eid, started_at=at[1], context={"phase": {"key": odd}})
    await make_render_job(
        db, eid, started_at=at[2], context={"composite": {"children": 3, "failed": 1, "partial": 1}}
    )
    await make_render_job(db, eid, started_at=at[3], summary_counts={"processed": 1, "total": 3})
    await make_external(db, eid, started_at=at[3], provider=odd, description=odd)
    await make_shape(db, eid, created_at=at[0], title=odd, shape_type="deck_section")
    await make_assertion(db, eid, created_at=at[1], statement=odd)
    await make_render(db, eid, created_at=at[2], completed_at=at[3], title=odd)
    await make_render(
        db, eid, content_kind="binary_blob", files=[("a.bin", "application/octet-stream", b"x")]
    )
    for zone in ZONES:
        whole = await get_zone(client, zone, limit=100)
        assert whole["items"] and whole["next_cursor"] is None
        first = await get_zone(client, zone, limit=1)
        assert first["next_cursor"] is not None
        await get_zone(client, zone, limit=1, cursor=first["next_cursor"])
    # Labels keep quotes, backslashes and non-ASCII text (whitespace runs become one space).
    active = await get_zone(client, "active")
    assert any(" ".join(odd.split()) in item["item_label"] for item in active["items"])


async def test_pagination_limit(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    await _many_active(db, me, 7)
    page = await get_zone(client, "active", limit=3)
    assert len(page["items"]) == 3
    assert page["total_count"] == 7
    assert page["next_cursor"]
    default = await get_zone(client, "active")
    assert len(default["items"]) == 7


async def test_pagination_cursor(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    ids = await _many_active(db, me, 7)
    first = await get_zone(client, "active", limit=3)
    second = await get_zone(client, "active", limit=3, cursor=first["next_cursor"])
    assert [i["item_id"] for i in first["items"]] == [str(i) for i in ids[::-1][:3]]
    assert [i["item_id"] for i in second["items"]] == [str(i) for i in ids[::-1][3:6]]
    assert second["total_count"] == 7


async def test_pagination_exhausted(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    ids = await _many_active(db, me, 6)
    first = await get_zone(client, "active", limit=3)
    second = await get_zone(client, "active", limit=3, cursor=first["next_cursor"])
    assert len(second["items"]) == 3
    assert second["next_cursor"] is None
    assert [i["item_id"] for i in first["items"] + second["items"]] == [str(i) for i in ids[::-1]]


async def test_pagination_same_microsecond_across_pages(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    a = await make_engagement(db, "A", member=me)
    b = await make_engagement(db, "B", member=me)
    moment = T0 + timedelta(microseconds=123457)
    ids = [await make_shaping_job(db, a, started_at=moment) for _ in range(20)]
    ids += [await make_render_job(db, b, started_at=moment) for _ in range(20)]
    ids += [await make_external(db, a, started_at=moment) for _ in range(20)]
    for limit in (1, 7, 50):
        walked = [i["item_id"] for i in await walk(client, "active", limit)]
        assert walked == sorted((str(i) for i in ids), key=uuid.UUID, reverse=True)


async def test_walk_sees_every_item_once_when_new_items_arrive(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    ids = [await make_shape(db, eid, created_at=T0 + timedelta(seconds=n)) for n in range(10)]
    first = await get_zone(client, "needs_you", limit=4)
    # New work arrives between pages: it is newer, so it belongs before the walk's position.
    await make_shape(db, eid, created_at=T0 + timedelta(hours=1))
    seen = [i["item_id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await get_zone(client, "needs_you", limit=4, cursor=cursor)
        seen += [i["item_id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [str(i) for i in reversed(ids)]


BAD_LIMITS = ["0", "101", "-1", "abc", "1.5", "", "1e2", "99999999999999999999999"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("limit", BAD_LIMITS)
async def test_bad_limit_is_422(
    client: httpx.AsyncClient, db: AsyncConnection, zone: str, limit: str
) -> None:
    await sign_in(client, db)
    response = await client.get(f"/me/dashboard/{zone}", params={"limit": limit})
    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "cursor",
    # An empty cursor= means no cursor (tests/api/test_hostile_input.py).
    ["garbage", "!!!!", "a" * 5000, "é", "AAAA", "%00", "eyJrIjoxfQ", "x" * 51, "="],
)
async def test_malformed_cursor_is_400(
    client: httpx.AsyncClient, db: AsyncConnection, cursor: str
) -> None:
    await sign_in(client, db)
    for zone in ZONES:
        response = await client.get(f"/me/dashboard/{zone}", params={"cursor": cursor})
        assert response.status_code == 400, (zone, cursor, response.text)
        assert response.json()["detail"]


async def test_tampered_and_foreign_cursors_are_400(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    await _many_active(db, me, 3)
    cursor = (await get_zone(client, "active", limit=1))["next_cursor"]
    for position in range(len(cursor)):
        flipped = "B" if cursor[position] != "B" else "C"
        tampered = cursor[:position] + flipped + cursor[position + 1 :]
        response = await client.get("/me/dashboard/active", params={"cursor": tampered})
        assert response.status_code == 400, (position, tampered)
    for other in ("needs_you", "recent"):
        response = await client.get(f"/me/dashboard/{other}", params={"cursor": cursor})
        assert response.status_code == 400
        assert "another dashboard zone" in response.json()["detail"]


async def test_a_page_reads_a_bounded_number_of_rows(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """With 10 populated engagements (3,000 rows per source table, a tenth of them in the
    dashboard's states) a zone's first page reads a few hundred rows, in its custom plan and
    in the generic one a pooled connection keeps: counted by EXPLAIN ANALYZE, not timed (the
    benchmark times the zones, `python -m bench`); reading every row would be thousands."""
    me = await sign_in(client, db)
    for n in range(10):
        await make_engagement(db, f"Engagement {n}", member=me)
    stranger = await make_person(db)
    for n in range(5):
        await make_engagement(db, f"Noise {n}", member=stranger)
    # 2,000 rows per source table per engagement, a tenth of them in the dashboard states.
    for table, columns, active_value in (
        ("shaping_jobs", "shape_type, status, started_at", "'dispatched'"),
        ("render_jobs", "render_type, status, started_at", "'queued'"),
        ("external_production_records", "provider, status, started_at", "'awaiting_external'"),
    ):
        done = "'received'" if table == "external_production_records" else "'completed'"
        await db.execute(
            text(
                f"INSERT INTO {table} (engagement_id, {columns}) "
                f"SELECT e.id, 'kind', CASE WHEN g % 10 = 0 THEN {active_value} ELSE {done} END, "
                "now() - g * interval '1 minute' FROM engagements e, generate_series(1, 2000) g"
            )
        )
    await db.execute(
        text(
            "INSERT INTO shapes (engagement_id, shape_type, title, state, created_at) "
            "SELECT e.id, 'site_plan', 'Shape ' || g, CASE WHEN g % 10 = 0 "
            "THEN 'pending_confirmation' ELSE 'confirmed' END, now() - g * interval '1 minute' "
            "FROM engagements e, generate_series(1, 2000) g"
        )
    )
    await db.execute(
        text(
            "INSERT INTO renders (engagement_id, title, display_number, state, content_kind, "
            "created_at, completed_at) SELECT e.id, 'Render ' || g, g, 'produced', 'inline_dict', "
            "now() - g * interval '1 minute', now() - g * interval '1 minute' "
            "FROM engagements e, generate_series(1, 2000) g"
        )
    )
    await db.execute(text("ANALYZE"))
    explain = "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) "
    for zone in ZONES:
        assert len((await get_zone(client, zone))["items"]) == 50
        sql, args = page_query(db.dialect, Zone(zone), me.id, 50, after=None)
        custom = (await db.exec_driver_sql(explain + sql, args)).scalar_one()
        await db.exec_driver_sql(f"PREPARE page AS {sql}")
        await db.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        generic = (await db.exec_driver_sql(f"{explain} EXECUTE page('{me.id}')")).scalar_one()
        await db.exec_driver_sql("RESET plan_cache_mode")
        await db.exec_driver_sql("DEALLOCATE page")
        for plan in (plan_summary(custom[0]), plan_summary(generic[0])):
            assert plan["rows_scanned"] < ROWS_A_PAGE_READS, (zone, plan["biggest_scans"])
            assert plan["rows_scanned"] < ROWS_A_PAGE_READS, (zone, plan)
