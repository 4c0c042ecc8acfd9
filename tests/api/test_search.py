"""`q` on every zone over real HTTP: what it matches (the label as returned, the engagement's
name, any case, `%` and `_` as themselves), its limits, how it combines with the other
filters, cursors bound to it, total_count, and nothing of anyone else's engagements."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.fixtures.contract import zone_body
from tests.fixtures.data import (
    T0,
    as_,
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


async def _zone(
    client: httpx.AsyncClient, zone: str, path: str | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get(path or f"/me/dashboard/{zone}", params=params)
    return zone_body(zone, response)


def _labels(body: dict[str, Any], key: str = "item_label") -> list[str]:
    return [item[key] for item in body["items"]]


async def test_anonymous_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/me/dashboard/needs_you", params={"q": "wing"})
    assert response.status_code == 401 and "detail" in response.json()


async def test_q_matches_the_label_as_returned_in_every_zone(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me)
    await make_shaping_job(db, eid, shape_type="site_plan")
    await make_shaping_job(db, eid, shape_type="roof_outline")
    await make_external(db, eid, provider="Skyline Lidar", description="Roof point cloud")
    await make_shape(db, eid, title="North wing footprint")
    await make_assertion(db, eid, statement="The survey covers the whole site.")
    await make_render(db, eid, title="Cost plan", display_number=7)
    await make_render(db, eid, title="Cost plan", display_number=8, state="failed")

    # A humanised key reads as its words; any case; the fixed words of a label too.
    assert _labels(await _zone(client, "active", q="SITE PLAN")) == ["Shaping: Site plan"]
    assert len((await _zone(client, "active", q="shaping: ")).get("items")) == 2
    assert _labels(await _zone(client, "active", q="cloud from sky")) == [
        "Roof point cloud from Skyline Lidar"
    ]
    assert _labels(await _zone(client, "needs_you", q="WING")) == ["North wing footprint"]
    assert _labels(await _zone(client, "needs_you", q="whole site")) == [
        "The survey covers the whole site."
    ]
    assert _labels(await _zone(client, "needs_you", q="render #7: cost")) == [
        "Render #7: Cost plan"
    ]
    recent = await _zone(client, "recent", q="#7")
    assert _labels(recent, "artifact_label") == ["Render #7: Cost plan"]
    assert recent["total_count"] == 1
    assert (await _zone(client, "recent", q="#8"))["items"] == []
    nothing = await _zone(client, "needs_you", q="nowhere at all")
    assert nothing["items"] == [] and nothing["total_count"] == 0 and nothing["next_cursor"] is None


async def test_q_matches_the_engagement_name_and_the_per_engagement_route(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    harbour = await make_engagement(db, "Harbour Bridge", member=me)
    depot = await make_engagement(db, "Depot", member=me)
    north = await make_shape(db, harbour, title="North wing")
    await make_shape(db, depot, title="South wing")
    both = await _zone(client, "needs_you", q="harbour")
    assert [item["item_id"] for item in both["items"]] == [str(north)]
    assert both["total_count"] == 1
    scoped = f"/engagements/{depot}/dashboard/needs_you"
    assert _labels(await _zone(client, "needs_you", scoped, q="wing")) == ["South wing"]
    assert (await _zone(client, "needs_you", scoped, q="harbour"))["items"] == []


async def test_percent_and_underscore_match_themselves(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me)
    await make_shape(db, eid, title="100% done")
    await make_shape(db, eid, title="100 done", created_at=T0 - timedelta(seconds=1))
    await make_shape(db, eid, title="a_b", created_at=T0 - timedelta(seconds=2))
    await make_shape(db, eid, title="axb", created_at=T0 - timedelta(seconds=3))
    await make_shape(db, eid, title="back\\slash", created_at=T0 - timedelta(seconds=4))
    assert _labels(await _zone(client, "needs_you", q="%")) == ["100% done"]
    assert _labels(await _zone(client, "needs_you", q="0%")) == ["100% done"]
    assert _labels(await _zone(client, "needs_you", q="_")) == ["a_b"]
    assert _labels(await _zone(client, "needs_you", q="\\")) == ["back\\slash"]


async def test_length_and_empty(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me)
    await make_shape(db, eid, title="North wing")
    await make_shape(db, eid, title="South wing", created_at=T0 - timedelta(seconds=1))
    for zone in ("active", "needs_you", "recent"):
        too_long = await client.get(f"/me/dashboard/{zone}", params={"q": "x" * 201})
        assert too_long.status_code == 422 and "detail" in too_long.json()
        scoped = await client.get(f"/engagements/{eid}/dashboard/{zone}", params={"q": "x" * 201})
        assert scoped.status_code == 422 and "detail" in scoped.json()
        nul = await client.get(f"/me/dashboard/{zone}", params={"q": "a\x00b"})
        assert nul.status_code == 422 and "detail" in nul.json()
        assert (
            await client.get(f"/me/dashboard/{zone}", params={"q": "x" * 200})
        ).status_code == 200
    everything = await _zone(client, "needs_you", q="")
    assert everything == await _zone(client, "needs_you")
    assert everything["total_count"] == 2
    # What is refused, the document says (a client generating from it sends no NUL).
    paths = (await client.get("/openapi.json")).json()["paths"]
    for zone in ("active", "needs_you", "recent"):
        for path in (f"/me/dashboard/{zone}", f"/engagements/{{engagement_id}}/dashboard/{zone}"):
            (q,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "q"]
            assert q["schema"]["maxLength"] == 200 and q["schema"]["pattern"] == "^[^\\u0000]*$"


async def test_q_combines_with_kind_engagement_claimed_and_order(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    harbour = await make_engagement(db, "Harbour", member=me)
    depot = await make_engagement(db, "Depot", member=me)
    old = await make_shape(db, harbour, title="Wing A", created_at=T0 - timedelta(hours=2))
    new = await make_shape(db, harbour, title="Wing B", created_at=T0)
    await make_assertion(db, harbour, statement="Wing assertion")
    elsewhere = await make_shape(db, depot, title="Wing C", created_at=T0 - timedelta(hours=1))
    await make_shape(db, harbour, title="Roof", created_at=T0 - timedelta(hours=3))

    kind = await _zone(client, "needs_you", q="wing", kind="pending_shape")
    assert [i["item_id"] for i in kind["items"]] == [str(new), str(elsewhere), str(old)]
    assert kind["total_count"] == 3
    one = await _zone(client, "needs_you", q="wing", kind="pending_shape", engagement_id=depot)
    assert [i["item_id"] for i in one["items"]] == [str(elsewhere)] and one["total_count"] == 1
    oldest = await _zone(client, "needs_you", q="wing", kind="pending_shape", order="oldest")
    assert [i["item_id"] for i in oldest["items"]] == [str(old), str(elsewhere), str(new)]

    claimed = await client.post(f"/engagements/{harbour}/shapes/{old}/claim")
    assert claimed.status_code == 200
    mine = await _zone(client, "needs_you", q="wing", claimed="mine")
    assert [i["item_id"] for i in mine["items"]] == [str(old)] and mine["total_count"] == 1
    unclaimed = await _zone(client, "needs_you", q="wing", claimed="none", kind="pending_shape")
    assert unclaimed["total_count"] == 2
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        await client.put(f"/me/snoozes/pending_shape/{new}", json={"until": until})
    ).status_code == 200
    after_snooze = await _zone(client, "needs_you", q="wing", kind="pending_shape")
    assert str(new) not in [i["item_id"] for i in after_snooze["items"]]
    assert after_snooze["total_count"] == 2


async def test_cursor_is_bound_to_its_q_and_walks_exactly(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me)
    wings = {str(await make_shape(db, eid, title=f"Wing {n}")) for n in range(5)}  # one instant
    await make_shape(db, eid, title="Roof")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "wing", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await _zone(client, "needs_you", **params)
        assert page["total_count"] == 5
        seen += [item["item_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        other = await client.get(
            "/me/dashboard/needs_you", params={"q": "roof", "limit": 2, "cursor": cursor}
        )
        assert other.status_code == 400 and "detail" in other.json()
        plain = await client.get("/me/dashboard/needs_you", params={"limit": 2, "cursor": cursor})
        assert plain.status_code == 400
    assert len(seen) == 5 and set(seen) == wings


async def test_etag_is_bound_to_q(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Harbour", member=me)
    await make_shape(db, eid, title="North wing")
    first = await client.get("/me/dashboard/needs_you", params={"q": "north"})
    again = await client.get(
        "/me/dashboard/needs_you",
        params={"q": "north"},
        headers={"if-none-match": first.headers["etag"]},
    )
    assert again.status_code == 304
    other = await client.get(
        "/me/dashboard/needs_you",
        params={"q": "south"},
        headers={"if-none-match": first.headers["etag"]},
    )
    assert other.status_code == 200 and other.json()["items"] == []


async def test_never_another_engagements_items(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    stranger = await make_person(db, name="Stranger")
    mine = await make_engagement(db, "Harbour", member=me)
    theirs = await make_engagement(db, "Harbour secret", member=stranger)
    viewing = await make_engagement(db, "Harbour viewing")
    await join(db, me, viewing, "viewer")
    await make_shape(db, mine, title="Wing mine")
    await make_shape(db, theirs, title="Wing theirs")
    await make_shape(db, viewing, title="Wing viewed")
    await make_render(db, theirs, title="Wing render", display_number=3)
    await make_shaping_job(db, theirs, shape_type="wing_plan")
    for zone in ("needs_you", "active", "recent"):
        for q in ("wing", "harbour", "secret", "%", "_", "3"):
            body = await _zone(client, zone, q=q)
            assert all(item["engagement_id"] == str(mine) for item in body["items"]), (zone, q)
            assert body["total_count"] == len(body["items"])
    assert _labels(await _zone(client, "needs_you", q="wing")) == ["Wing mine"]
    refused = await client.get(f"/engagements/{theirs}/dashboard/needs_you", params={"q": "wing"})
    assert refused.status_code == 404
    other = as_(await make_session(db, stranger))
    theirs_seen = await client.get("/me/dashboard/needs_you", params={"q": "wing"}, headers=other)
    labels = sorted(item["item_label"] for item in theirs_seen.json()["items"])
    assert labels == ["Render #3: Wing render", "Wing theirs"]
    assert {uuid.UUID(item["engagement_id"]) for item in theirs_seen.json()["items"]} == {theirs}
