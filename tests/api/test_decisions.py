"""Deciding on needs_you items over real HTTP: every decision of every kind, every answer,
exactly one winner among concurrent deciders, the history, bulk decisions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import decisions, external_production_records, renders
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
    sign_in,
)


@dataclass(frozen=True)
class Case:
    kind: str
    collection: str
    decision: str
    state: str  # what the decision reports the item became
    make: Callable[[AsyncConnection, uuid.UUID], Awaitable[uuid.UUID]]


async def _failed_external(db: AsyncConnection, eid: uuid.UUID) -> uuid.UUID:
    return await make_external(db, eid, status="failed", completed_at=T0, description="Lidar")


CASES = [
    Case("pending_shape", "shapes", "confirm", "confirmed", make_shape),
    Case("pending_shape", "shapes", "reject", "rejected", make_shape),
    Case("held_assertion", "assertions", "commit", "committed", make_assertion),
    Case("held_assertion", "assertions", "withdraw", "withdrawn", make_assertion),
    Case("produced_render_for_review", "renders", "accept", "accepted", make_render),
    Case(
        "produced_render_for_review",
        "renders",
        "request-changes",
        "changes_requested",
        make_render,
    ),
    Case("external_failure", "external-productions", "retry", "retried", _failed_external),
    Case("external_failure", "external-productions", "dismiss", "dismissed", _failed_external),
]


def _url(eid: uuid.UUID, case: Case, item_id: uuid.UUID, decision: str | None = None) -> str:
    return f"/engagements/{eid}/{case.collection}/{item_id}/{decision or case.decision}"


async def _needs_you(client: httpx.AsyncClient) -> dict[str, Any]:
    return zone_body("needs_you", await client.get("/me/dashboard/needs_you"))


# --- anonymous, non-member, viewer, bad input -----------------------------------------------------


async def test_anonymous_401(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/engagements/{uuid.uuid4()}/shapes/{uuid.uuid4()}/confirm")
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_non_member_and_unknown_item_are_the_same_404(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    mine = await make_engagement(db, "Mine", member=me)
    other = await make_engagement(db, "Theirs", member=await make_person(db))
    their_shape = await make_shape(db, other)
    answers = [
        await client.post(f"/engagements/{other}/shapes/{their_shape}/confirm"),
        await client.post(f"/engagements/{mine}/shapes/{their_shape}/confirm"),
        await client.post(f"/engagements/{mine}/shapes/{uuid.uuid4()}/confirm"),
        await client.post(f"/engagements/{uuid.uuid4()}/shapes/{their_shape}/confirm"),
        await client.get(f"/engagements/{other}/shapes/{their_shape}"),
        await client.get(f"/engagements/{mine}/shapes/{their_shape}"),
    ]
    assert [a.status_code for a in answers] == [404] * 6
    assert len({a.text for a in answers}) == 1
    assert str(their_shape) not in answers[0].text
    state = await db.execute(select(func.count()).select_from(decisions))
    assert state.scalar_one() == 0


async def test_viewer_403_changes_nothing(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me, designation="viewer")
    shape = await make_shape(db, eid)
    response = await client.post(f"/engagements/{eid}/shapes/{shape}/confirm")
    assert response.status_code == 403
    assert "viewer" in response.json()["detail"].lower()
    detail = (await client.get(f"/engagements/{eid}/shapes/{shape}")).json()
    assert detail["waiting"] is True and detail["actions"] == []


@pytest.mark.parametrize(
    "body",
    [
        '{"note": "' + "x" * 2001 + '"}',
        '{"note": 5}',
        '{"comment": "hi"}',
        "[]",
        "not json",
    ],
)
async def test_bad_body_422_changes_nothing(
    client: httpx.AsyncClient, db: AsyncConnection, body: str
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    response = await client.post(
        f"/engagements/{eid}/shapes/{shape}/confirm",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "detail" in response.json()
    assert (await _needs_you(client))["total_count"] == 1


# --- every decision of every kind -----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.collection}-{c.decision}")
async def test_each_decision(client: httpx.AsyncClient, db: AsyncConnection, case: Case) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    item = await case.make(db, eid)
    before = await _needs_you(client)
    (waiting,) = before["items"]
    assert waiting["item_kind"] == case.kind
    assert waiting["detail_url"] == f"/engagements/{eid}/{case.collection}/{item}"
    offered = {a["decision"]: a for a in waiting["actions"]}
    assert offered[case.decision] == {
        "decision": case.decision,
        "label": offered[case.decision]["label"],
        "method": "POST",
        "url": _url(eid, case, item),
    }
    assert offered[case.decision]["label"][0].isupper()

    response = await client.post(_url(eid, case, item), json={"note": "Looks right."})
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["decision"] == case.decision
    assert decided["state"] == case.state
    assert decided["item_id"] == str(item) and decided["item_kind"] == case.kind
    assert decided["decided_by"] == {"id": str(me.id), "display_name": me.display_name}
    assert decided["note"] == "Looks right."

    after = await _needs_you(client)
    assert after["items"] == [] and after["total_count"] == 0
    detail = (await client.get(f"/engagements/{eid}/{case.collection}/{item}")).json()
    assert detail["waiting"] is False and detail["actions"] == []
    assert detail["last_decision"] == decided
    # Its wording no longer asks for a decision: it says who took which.
    assert "waiting for you" not in detail["detail"].lower()
    assert me.display_name in detail["detail"] and "nothing left to decide" in detail["detail"]
    history = (await client.get(f"/engagements/{eid}/decisions")).json()
    assert history["items"] == [decided] and history["total_count"] == 1


async def test_retry_starts_a_new_record_and_dismiss_only_resolves(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    retried = await _failed_external(db, eid)
    dismissed = await _failed_external(db, eid)
    retry = (await client.post(f"/engagements/{eid}/external-productions/{retried}/retry")).json()
    await client.post(f"/engagements/{eid}/external-productions/{dismissed}/dismiss")
    active = zone_body("active", await client.get("/me/dashboard/active"))
    (running,) = active["items"]
    assert running["item_id"] == retry["follow_up_id"]
    assert running["item_kind"] == "external_polling"
    assert "Lidar" in running["item_label"]
    row = (
        await db.execute(
            select(external_production_records).where(
                external_production_records.c.id == uuid.UUID(retry["follow_up_id"])
            )
        )
    ).one()
    assert (row.retry_of, row.status, row.provider) == (
        retried,
        "awaiting_external",
        "Acme Surveys",
    )
    records = await db.execute(select(func.count()).select_from(external_production_records))
    assert records.scalar_one() == 3


# --- repeats and conflicts ------------------------------------------------------------------------


async def test_same_person_same_decision_is_a_safe_repeat(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    first = await client.post(f"/engagements/{eid}/shapes/{shape}/confirm")
    again = await client.post(f"/engagements/{eid}/shapes/{shape}/confirm")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    other = await client.post(f"/engagements/{eid}/shapes/{shape}/reject")
    assert other.status_code == 409
    assert "already confirmed" in other.json()["detail"].lower()
    count = await db.execute(select(func.count()).select_from(decisions))
    assert count.scalar_one() == 1


async def test_someone_else_gets_409_naming_who_and_when(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    colleague = await make_person(db, name="Casey Colleague")
    eid = await make_engagement(db, member=me)
    await join(db, colleague, eid, "owner")
    render = await make_render(db, eid)
    theirs = as_(await make_session(db, colleague))
    won = await client.post(f"/engagements/{eid}/renders/{render}/request-changes", headers=theirs)
    assert won.status_code == 200
    lost = await client.post(f"/engagements/{eid}/renders/{render}/accept")
    assert lost.status_code == 409
    detail = lost.json()["detail"]
    at = won.json()["decided_at"]
    assert "sent back for changes by Casey Colleague" in detail
    assert f"{at[11:16]} UTC" in detail and at[:10] in detail


async def test_409_when_job_code_changed_the_item(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    render = await make_render(db, eid, reviewed_at=T0)
    response = await client.post(f"/engagements/{eid}/renders/{render}/accept")
    assert response.status_code == 409
    assert "no longer waits" in response.json()["detail"]


# --- exactly one winner ---------------------------------------------------------------------------


async def _deciders(db: AsyncConnection, eid: uuid.UUID, n: int) -> list[dict[str, str]]:
    """The cookie headers of `n` new operators of the engagement."""
    people = []
    for i in range(n):
        person = await make_person(db, name=f"Decider {i}")
        await join(db, person, eid, "operator")
        people.append(as_(await make_session(db, person)))
    return people


@pytest.mark.parametrize("round_", range(5))
async def test_concurrent_deciders_exactly_one_wins(
    wide_client: httpx.AsyncClient, db: AsyncConnection, round_: int
) -> None:
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    deciders = await _deciders(db, eid, 8)
    shape = await make_shape(db, eid)
    choices = ["confirm", "reject"]
    answers = await asyncio.gather(
        *(
            wide_client.post(f"/engagements/{eid}/shapes/{shape}/{choices[i % 2]}", headers=who)
            for i, who in enumerate(deciders)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 7
    (winner,) = [a.json() for a in answers if a.status_code == 200]
    for loser in (a for a in answers if a.status_code == 409):
        assert winner["decided_by"]["display_name"] in loser.json()["detail"]
    rows = await db.execute(select(decisions.c.item_id))
    assert [r.item_id for r in rows] == [shape]


async def test_concurrent_double_submit_by_one_person_records_once(
    wide_client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    (who,) = await _deciders(db, eid, 1)
    render = await make_render(db, eid)
    answers = await asyncio.gather(
        *(
            wide_client.post(f"/engagements/{eid}/renders/{render}/accept", headers=who)
            for _ in range(8)
        )
    )
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.json()["decision_id"] for a in answers}) == 1
    rows = await db.execute(select(func.count()).select_from(decisions))
    assert rows.scalar_one() == 1
    reviewed = await db.execute(select(renders.c.review_outcome).where(renders.c.id == render))
    assert reviewed.scalar_one() == "accepted"


# --- bulk ---------------------------------------------------------------------------------------


async def test_bulk_decides_each_entry_on_its_own(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    watched = await make_engagement(db, "Watched", member=me, designation="viewer")
    secret = await make_engagement(db, "Secret", member=await make_person(db))
    shape = await make_shape(db, eid)
    assertion = await make_assertion(db, eid)
    decided = await make_shape(db, eid, state="confirmed")
    viewed = await make_shape(db, watched)
    hidden = await make_shape(db, secret)

    def entry(engagement: uuid.UUID, kind: str, item: uuid.UUID, decision: str) -> dict[str, Any]:
        return {
            "engagement_id": str(engagement),
            "item_kind": kind,
            "item_id": str(item),
            "decision": decision,
        }

    body = {
        "decisions": [
            entry(eid, "pending_shape", shape, "confirm"),
            entry(eid, "held_assertion", assertion, "confirm"),  # not a decision on assertions
            entry(eid, "pending_shape", decided, "reject"),
            entry(watched, "pending_shape", viewed, "confirm"),
            entry(secret, "pending_shape", hidden, "confirm"),
            entry(eid, "no_such_kind", shape, "confirm"),
            {**entry(eid, "held_assertion", assertion, "commit"), "note": "Checked on site."},
        ]
    }
    response = await client.post("/me/dashboard/needs_you/decisions", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["item_id"] for r in results] == [e["item_id"] for e in body["decisions"]]
    assert [r["status"] for r in results] == [200, 422, 409, 403, 404, 422, 200]
    assert results[0]["decision"]["state"] == "confirmed"
    assert results[6]["decision"]["note"] == "Checked on site."
    assert all(r["detail"] for r in results if r["status"] != 200)
    assert str(hidden) not in results[4]["detail"]
    assert (await _needs_you(client))["total_count"] == 0


@pytest.mark.parametrize("count", [0, 101])
async def test_bulk_size_is_1_to_100(
    client: httpx.AsyncClient, db: AsyncConnection, count: int
) -> None:
    await sign_in(client, db)
    entry = {
        "engagement_id": str(uuid.uuid4()),
        "item_kind": "pending_shape",
        "item_id": str(uuid.uuid4()),
        "decision": "confirm",
    }
    response = await client.post(
        "/me/dashboard/needs_you/decisions", json={"decisions": [entry] * count}
    )
    assert response.status_code == 422


# --- history ------------------------------------------------------------------------------------


async def test_history_pages_newest_first_for_members_and_viewers(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shapes = [await make_shape(db, eid, created_at=T0 + timedelta(seconds=n)) for n in range(5)]
    for shape in shapes:
        assert (await client.post(f"/engagements/{eid}/shapes/{shape}/confirm")).status_code == 200
    walked: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/engagements/{eid}/decisions", params=params)).json()
        assert page["total_count"] == 5
        walked += [item["item_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == [str(s) for s in reversed(shapes)]

    viewer = await make_person(db)
    await join(db, viewer, eid, "viewer")
    seen = await client.get(
        f"/engagements/{eid}/decisions", headers=as_(await make_session(db, viewer))
    )
    assert seen.status_code == 200 and seen.json()["total_count"] == 5
    zone_cursor = zone_body("needs_you", await client.get("/me/dashboard/needs_you"))
    assert zone_cursor["next_cursor"] is None
    outsider = as_(await make_session(db, await make_person(db)))
    assert (await client.get(f"/engagements/{eid}/decisions", headers=outsider)).status_code == 404
    bad = await client.get(f"/engagements/{eid}/decisions", params={"cursor": "AAAA"})
    assert bad.status_code == 400


async def test_cross_site_decisions_are_refused_and_change_nothing(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    url = f"/engagements/{eid}/shapes/{shape}/confirm"
    entry = {"engagement_id": str(eid), "item_kind": "pending_shape", "item_id": str(shape)}
    bulk = {"decisions": [{**entry, "decision": "confirm"}]}
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
        refused = await client.post(url, headers=headers)
        assert refused.status_code == 403 and "Cross-site" in refused.json()["detail"]
        refused_bulk = await client.post(
            "/me/dashboard/needs_you/decisions", json=bulk, headers=headers
        )
        assert refused_bulk.status_code == 403
    assert (await _needs_you(client))["total_count"] == 1
    same_site = await client.post(url, headers={"origin": "http://testserver"})
    assert same_site.status_code == 200
