"""GET /me/decisions: my own decisions across the engagements I still belong to, newest first,
paged like the zones, with undone_at and undo_url."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import engagement_memberships
from tests.fixtures.data import (
    T0,
    as_,
    join,
    make_assertion,
    make_engagement,
    make_person,
    make_session,
    make_shape,
    sign_in,
)

FIELDS = {
    "engagement_id",
    "engagement_name",
    "item_kind",
    "item_id",
    "item_label",
    "decision",
    "decided_at",
    "note",
    "undone_at",
    "undo_url",
}


async def _walk(client: httpx.AsyncClient, limit: int) -> tuple[list[dict[str, Any]], set[int]]:
    items: list[dict[str, Any]] = []
    totals = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/me/decisions", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "private, no-store"
        page = response.json()
        items += page["items"]
        totals.add(page["total_count"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items, totals


async def test_anonymous_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/me/decisions")
    assert response.status_code == 401 and "detail" in response.json()


async def test_mine_across_engagements_newest_first_paged(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    harbour = await make_engagement(db, "Harbour", member=me)
    quarry = await make_engagement(db, "Quarry", member=me, designation="owner")
    left = await make_engagement(db, "Left behind", member=me)
    colleague = await make_person(db)
    await join(db, colleague, harbour, "operator")
    theirs = as_(await make_session(db, colleague))

    urls = []
    for n in range(3):
        urls.append(f"/engagements/{harbour}/shapes/{await make_shape(db, harbour)}/confirm")
        assertion = await make_assertion(db, quarry, created_at=T0 + timedelta(seconds=n))
        urls.append(f"/engagements/{quarry}/assertions/{assertion}/commit")
    for url in urls:
        assert (await client.post(url, json={"note": "ok"})).status_code == 200
    await client.post(f"/engagements/{left}/shapes/{await make_shape(db, left)}/reject")
    await client.post(
        f"/engagements/{harbour}/shapes/{await make_shape(db, harbour)}/reject", headers=theirs
    )
    await db.execute(
        delete(engagement_memberships).where(
            engagement_memberships.c.person_id == me.id,
            engagement_memberships.c.engagement_id == left,
        )
    )

    items, totals = await _walk(client, limit=4)
    assert totals == {6}
    assert len(items) == 6 and len({i["decision_id"] for i in items}) == 6
    assert [i["decided_at"] for i in items] == sorted(
        (i["decided_at"] for i in items), reverse=True
    )
    assert {i["engagement_name"] for i in items} == {"Harbour", "Quarry"}
    assert all(set(item) >= FIELDS for item in items)
    assert all(i["decided_by"]["id"] == str(me.id) for i in items)
    assert all(i["undo_url"] and i["undone_at"] is None and i["note"] == "ok" for i in items)
    # The colleague sees only theirs.
    page = (await client.get("/me/decisions", headers=theirs)).json()
    assert page["total_count"] == 1 and page["items"][0]["decision"] == "reject"

    # An undone decision stays, marked, without an undo link.
    undone = (await client.post(items[0]["undo_url"])).json()
    first = (await client.get("/me/decisions", params={"limit": 1})).json()["items"][0]
    assert first["decision_id"] == undone["decision_id"]
    assert first["undone_at"] == undone["undone_at"] and first["undo_url"] is None


async def test_cursors_are_bound_to_the_list(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    for _ in range(2):
        await client.post(f"/engagements/{eid}/shapes/{await make_shape(db, eid)}/confirm")
    mine = (await client.get("/me/decisions", params={"limit": 1})).json()
    history = (await client.get(f"/engagements/{eid}/decisions", params={"limit": 1})).json()
    assert mine["next_cursor"] and history["next_cursor"]
    crossed = [
        await client.get("/me/decisions", params={"cursor": history["next_cursor"]}),
        await client.get(f"/engagements/{eid}/decisions", params={"cursor": mine["next_cursor"]}),
        await client.get("/me/decisions", params={"cursor": "AAAA"}),
    ]
    assert [a.status_code for a in crossed] == [400] * 3
    assert (await client.get("/me/decisions", params={"limit": 0})).status_code == 422
    assert (await client.get("/me/decisions", params={"cursor": ""})).status_code == 200
    assert str(uuid.UUID(mine["items"][0]["decision_id"]))
