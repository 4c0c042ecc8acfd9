"""Triage over real HTTP: snoozes (mine only, every status, the wake-up), claims (every status,
the claimed filter, deciding over a claim), oldest first and overdue."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.platform.settings import Settings
from tests.fixtures.contract import zone_body
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


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def _snooze_url(item_id: uuid.UUID, kind: str = "pending_shape") -> str:
    return f"/me/snoozes/{kind}/{item_id}"


async def _needs_you(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get("/me/dashboard/needs_you", params=params, headers=headers or {})
    return zone_body("needs_you", response)


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


async def _needs_you_count(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    counts = (await client.get("/me/dashboard/counts", headers=headers or {})).json()
    total: int = counts["zones"]["needs_you"]["total"]
    return total


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    """Wait for `check` with a generous deadline (the machine may be loaded)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


# --- snoozes ----------------------------------------------------------------------------------


async def test_anonymous_401(client: httpx.AsyncClient) -> None:
    item = uuid.uuid4()
    answers = [
        await client.put(_snooze_url(item), json={"until": _later(hours=1)}),
        await client.delete(_snooze_url(item)),
        await client.get("/me/snoozes"),
        await client.post(f"/engagements/{uuid.uuid4()}/shapes/{item}/claim"),
        await client.delete(f"/engagements/{uuid.uuid4()}/shapes/{item}/claim"),
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert all("detail" in a.json() for a in answers)


async def test_snooze_hides_the_item_from_me_only_until_i_bring_it_back(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    casey = await make_person(db, name="Casey")
    colleague = as_(await make_session(db, casey))
    eid = await make_engagement(db, "Harbour", member=me)
    await join(db, casey, eid, "operator")
    shape = await make_shape(db, eid, title="North wing")
    other = await make_shape(db, eid, title="South wing")
    before = await client.get("/me/dashboard/needs_you")
    until = _later(hours=2)

    response = await client.put(_snooze_url(shape), json={"until": until})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engagement_id"] == str(eid) and body["item_id"] == str(shape)
    assert body["item_kind"] == "pending_shape"
    mine = await _needs_you(client)
    assert _ids(mine) == [str(other)] and mine["total_count"] == 1
    assert await _needs_you_count(client) == 1
    theirs = await _needs_you(client, colleague)
    assert sorted(_ids(theirs)) == sorted([str(shape), str(other)])
    assert theirs["total_count"] == 2 and await _needs_you_count(client, colleague) == 2
    stale = await client.get(
        "/me/dashboard/needs_you", headers={"if-none-match": before.headers["etag"]}
    )
    assert stale.status_code == 200  # the snooze moved my ETag

    listed = await client.get("/me/snoozes")
    assert listed.headers["cache-control"] == "private, no-store"
    [entry] = listed.json()["items"]
    assert entry["item_label"] == "North wing" and entry["engagement_name"] == "Harbour"

    assert (await client.delete(_snooze_url(shape))).status_code == 204
    assert (await client.delete(_snooze_url(shape))).status_code == 204  # not snoozed: fine
    assert (await _needs_you(client))["total_count"] == 2
    assert (await client.get("/me/snoozes")).json() == {"items": []}


@pytest.mark.parametrize(
    "body",
    [
        {"until": "2020-01-01T00:00:00Z"},
        {"until": "P1D"},
        {},
        {"until": "2999-01-01T00:00:00Z"},
        {"until": "tomorrow"},
        {"until": _later(hours=1), "extra": 1},
    ],
)
async def test_snooze_until_must_be_within_30_days_ahead(
    client: httpx.AsyncClient, db: AsyncConnection, body: dict[str, Any]
) -> None:
    me = await sign_in(client, db)
    shape = await make_shape(db, await make_engagement(db, member=me))
    response = await client.put(_snooze_url(shape), json=body)
    assert response.status_code == 422
    assert "detail" in response.json()
    assert (await _needs_you(client))["total_count"] == 1


async def test_snooze_statuses_404_403_409(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    mine = await make_engagement(db, "Mine", member=me)
    watched = await make_engagement(db, "Watched", member=me, designation="viewer")
    theirs = await make_engagement(db, "Secret", member=await make_person(db))
    body = {"until": _later(hours=1)}
    their_shape = await make_shape(db, theirs, title="Secret wing")
    answers = {
        "unknown": await client.put(_snooze_url(uuid.uuid4()), json=body),
        "not a member": await client.put(_snooze_url(their_shape), json=body),
        "wrong kind": await client.put(_snooze_url(their_shape, "held_assertion"), json=body),
        "no such kind table": await client.put(
            _snooze_url(their_shape, "review_report"), json=body
        ),
    }
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 404)
    assert len({a.text for a in answers.values()}) == 1
    viewer = await client.put(_snooze_url(await make_shape(db, watched)), json=body)
    assert viewer.status_code == 403
    decided = await client.put(
        _snooze_url(await make_shape(db, mine, state="confirmed")), json=body
    )
    assert decided.status_code == 409
    assert (await client.put(_snooze_url(uuid.uuid4(), "bogus"), json=body)).status_code == 422
    assert (await client.get("/me/snoozes")).json() == {"items": []}


async def test_snooze_list_only_shows_engagements_i_still_see(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, "Leaving", member=me)
    kept = await make_engagement(db, "Staying", member=me)
    first = await make_assertion(db, kept, statement="Kept one")
    await client.put(_snooze_url(await make_shape(db, eid)), json={"until": _later(hours=1)})
    await client.put(_snooze_url(first, "held_assertion"), json={"until": _later(minutes=30)})
    await db.exec_driver_sql("DELETE FROM engagement_memberships WHERE engagement_id = $1", (eid,))
    items = (await client.get("/me/snoozes")).json()["items"]
    assert [item["item_label"] for item in items] == ["Kept one"]
    assert "Leaving" not in (await client.get("/me/snoozes")).text


async def test_a_decision_ends_the_snooze(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    await client.put(_snooze_url(shape), json={"until": _later(hours=1)})
    assert (await client.post(f"/engagements/{eid}/shapes/{shape}/confirm")).status_code == 200
    assert (await client.get("/me/snoozes")).json() == {"items": []}
    undecided = await db.exec_driver_sql("SELECT count(*) FROM snoozes")
    assert undecided.scalar_one() == 0


async def test_the_item_comes_back_at_until_with_a_new_etag(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    shape = await make_shape(db, await make_engagement(db, member=me))
    await client.put(_snooze_url(shape), json={"until": _later(seconds=2)})
    hidden = await client.get("/me/dashboard/needs_you")
    assert zone_body("needs_you", hidden)["total_count"] == 0

    async def back() -> bool:
        page = await client.get(
            "/me/dashboard/needs_you", headers={"if-none-match": hidden.headers["etag"]}
        )
        return page.status_code == 200 and _ids(zone_body("needs_you", page)) == [str(shape)]

    await _eventually(back)
    assert await _needs_you_count(client) == 1


# --- claims -----------------------------------------------------------------------------------


@pytest.fixture
async def short_claims(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"claim_seconds": 2}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _team(db: AsyncConnection) -> tuple[uuid.UUID, dict[str, str], dict[str, str], Any]:
    ada = await make_person(db, name="Ada")
    casey = await make_person(db, name="Casey Colleague")
    eid = await make_engagement(db, "Harbour", member=ada)
    await join(db, casey, eid, "operator")
    return eid, as_(await make_session(db, ada)), as_(await make_session(db, casey)), casey


async def test_claim_is_shown_to_colleagues_and_refused_to_them(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, ada, casey, casey_person = await _team(db)
    shape = await make_shape(db, eid)
    url = f"/engagements/{eid}/shapes/{shape}/claim"
    before = await client.get("/me/dashboard/needs_you", headers=ada)

    taken = await client.post(url, headers=casey)
    assert taken.status_code == 200, taken.text
    assert taken.json()["claimed_by"] == {
        "id": str(casey_person.id),
        "display_name": "Casey Colleague",
    }
    again = await client.post(url, headers=casey)  # extends
    assert again.status_code == 200
    assert again.json()["claimed_until"] >= taken.json()["claimed_until"]

    [item] = (await _needs_you(client, ada))["items"]
    assert item["claimed_by"]["display_name"] == "Casey Colleague"
    assert item["claimed_until"] is not None
    detail = (await client.get(f"/engagements/{eid}/shapes/{shape}", headers=ada)).json()
    assert detail["claimed_by"]["id"] == str(casey_person.id)
    moved = await client.get(
        "/me/dashboard/needs_you", headers={**ada, "if-none-match": before.headers["etag"]}
    )
    assert moved.status_code == 200

    for refused in (await client.post(url, headers=ada), await client.delete(url, headers=ada)):
        assert refused.status_code == 409
        assert "Casey Colleague" in refused.json()["detail"]
    assert (await client.delete(url, headers=casey)).status_code == 204
    assert (await client.delete(url, headers=casey)).status_code == 204  # none holds
    [item] = (await _needs_you(client, ada))["items"]
    assert item["claimed_by"] is None and item["claimed_until"] is None


async def test_claim_statuses_404_403_409(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    mine = await make_engagement(db, member=me)
    watched = await make_engagement(db, member=me, designation="viewer")
    theirs = await make_engagement(db, "Secret", member=await make_person(db))
    their_shape = await make_shape(db, theirs)
    for url in (
        f"/engagements/{theirs}/shapes/{their_shape}/claim",
        f"/engagements/{mine}/shapes/{their_shape}/claim",
        f"/engagements/{mine}/shapes/{uuid.uuid4()}/claim",
    ):
        for method in ("POST", "DELETE"):
            response = await client.request(method, url)
            assert response.status_code == 404, (method, url)
            assert "Secret" not in response.text
    viewer_url = f"/engagements/{watched}/shapes/{await make_shape(db, watched)}/claim"
    assert (await client.post(viewer_url)).status_code == 403
    decided = await make_shape(db, mine, state="confirmed")
    assert (await client.post(f"/engagements/{mine}/shapes/{decided}/claim")).status_code == 409


async def test_claimed_filter_and_its_total_count(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, ada, casey, _ = await _team(db)
    a, b, c = [await make_shape(db, eid, created_at=T0 + timedelta(minutes=n)) for n in range(3)]
    await client.post(f"/engagements/{eid}/shapes/{a}/claim", headers=ada)
    await client.post(f"/engagements/{eid}/shapes/{b}/claim", headers=casey)
    expected = {"mine": [a], "others": [b], "none": [c]}
    await client.put(_snooze_url(c), json={"until": _later(hours=1)}, headers=casey)
    assert (await _needs_you(client, casey, claimed="none"))["total_count"] == 0
    for claimed, items in expected.items():
        page = await _needs_you(client, ada, claimed=claimed)
        assert _ids(page) == [str(i) for i in items], claimed
        assert page["total_count"] == len(items)
    assert (await _needs_you(client, ada))["total_count"] == 3
    for bad in ({"claimed": "all"}, {"order": "random"}, {"claimed": ""}):
        response = await client.get("/me/dashboard/needs_you", params=bad, headers=ada)
        assert response.status_code == 422, bad


async def test_claimed_filter_lists_each_item_once_and_refuses_the_signed_out(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """The claimed filters count from the claims, not the counters: the answer is still one
    statement head, not one per counter (which repeated every item), nor none for a caller
    without a live session (which was a 500)."""
    eid, ada, _, _ = await _team(db)
    other = await make_engagement(db, "Riverside", member=await make_person(db, name="Bo"))
    await join(db, (await make_person(db, name="Cy")), other, "operator")
    shape = await make_shape(db, eid)
    await make_assertion(db, eid)  # a second counter row in the same engagement
    await client.post(f"/engagements/{eid}/shapes/{shape}/claim", headers=ada)
    for claimed, expected in (("mine", [str(shape)]), ("others", [])):
        page = await _needs_you(client, ada, claimed=claimed)
        assert (_ids(page), page["total_count"]) == (expected, len(expected)), claimed
    for headers in ({}, {"Cookie": "loomworks_session=not-a-session"}, as_("lw_not-a-token")):
        response = await client.get(
            "/me/dashboard/needs_you", params={"claimed": "mine"}, headers=headers
        )
        assert response.status_code == 401, headers
        assert "detail" in response.json()


async def test_deciding_over_a_colleagues_claim(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, ada, casey, _ = await _team(db)
    shape = await make_shape(db, eid)
    await client.post(f"/engagements/{eid}/shapes/{shape}/claim", headers=casey)
    refused = await client.post(f"/engagements/{eid}/shapes/{shape}/confirm", headers=ada)
    assert refused.status_code == 409
    assert "Casey Colleague" in refused.json()["detail"]
    assert (await _needs_you(client, ada))["total_count"] == 1  # nothing decided
    taken = await client.post(
        f"/engagements/{eid}/shapes/{shape}/confirm", headers=ada, json={"override_claim": True}
    )
    assert taken.status_code == 200
    claims = await db.exec_driver_sql("SELECT count(*) FROM claims")
    assert claims.scalar_one() == 0


async def test_the_claimer_decides_and_the_claim_ends(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, ada, _, _ = await _team(db)
    shape = await make_shape(db, eid)
    await client.post(f"/engagements/{eid}/shapes/{shape}/claim", headers=ada)
    assert (
        await client.post(f"/engagements/{eid}/shapes/{shape}/reject", headers=ada)
    ).status_code == 200
    claims = await db.exec_driver_sql("SELECT count(*) FROM claims")
    assert claims.scalar_one() == 0


async def test_a_claim_lapses_after_claim_seconds(
    short_claims: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, ada, casey, _ = await _team(db)
    shape = await make_shape(db, eid)
    client = short_claims
    assert (
        await client.post(f"/engagements/{eid}/shapes/{shape}/claim", headers=casey)
    ).status_code == 200

    async def lapsed() -> bool:
        [item] = (await _needs_you(client, ada))["items"]
        return item["claimed_by"] is None

    await _eventually(lapsed)
    assert (
        await client.post(f"/engagements/{eid}/shapes/{shape}/claim", headers=ada)
    ).status_code == 200


# --- order and overdue ------------------------------------------------------------------------


async def _walk(client: httpx.AsyncClient, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = await _needs_you(client, **params, **({"cursor": cursor} if cursor else {}))
        seen += _ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_oldest_first_walks_exactly_with_ties(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    made = []
    for n in range(7):  # three share one timestamp, across page boundaries
        made.append(
            (
                T0 + timedelta(seconds=min(n, 3)),
                await make_shape(db, eid, created_at=T0 + timedelta(seconds=min(n, 3))),
            )
        )
    made += [
        (
            T0 + timedelta(seconds=1),
            await make_assertion(db, eid, created_at=T0 + timedelta(seconds=1)),
        )
    ]
    oldest = [str(i) for _, i in sorted(made, key=lambda p: (p[0], p[1]))]
    assert await _walk(client, order="oldest", limit=2) == oldest
    assert await _walk(client, order="newest", limit=3) == oldest[::-1]
    first = await _needs_you(client, order="oldest", limit=2)
    crossed = await client.get(
        "/me/dashboard/needs_you", params={"cursor": first["next_cursor"], "limit": 2}
    )
    assert crossed.status_code == 400  # a cursor is bound to its order


async def test_overdue_items_and_their_count(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    old = await make_shape(db, eid, created_at=datetime.now(UTC) - timedelta(days=2))
    fresh = await make_shape(db, eid, created_at=datetime.now(UTC) - timedelta(hours=1))
    snoozed_old = await make_assertion(db, eid, created_at=datetime.now(UTC) - timedelta(days=3))
    await client.put(_snooze_url(snoozed_old, "held_assertion"), json={"until": _later(hours=1)})
    items = {item["item_id"]: item["overdue"] for item in (await _needs_you(client))["items"]}
    assert items == {str(old): True, str(fresh): False}
    counts = (await client.get("/me/dashboard/counts")).json()
    assert counts["zones"]["needs_you"]["overdue"] == 1
    assert counts["zones"]["needs_you"]["total"] == 2
    assert counts["engagements"][0]["zones"]["needs_you"]["overdue"] == 1
