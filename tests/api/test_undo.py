"""Undoing a decision over real HTTP: every answer of the undo route, the item exactly as it
was before, the history keeping both facts, counts, ETags and events following, and an undo
racing a colleague's decision on the same item."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.tables import decisions, external_production_records, metadata, shapes
from loomworks.platform.settings import Settings
from tests.api.test_decisions import CASES, Case, _deciders, _failed_external, _url
from tests.fixtures.contract import zone_body
from tests.fixtures.data import (
    as_,
    join,
    make_engagement,
    make_person,
    make_session,
    make_shape,
    sign_in,
)
from tests.fixtures.live import live_server, open_stream

TABLES = {
    "shapes": "shapes",
    "assertions": "assertions",
    "renders": "renders",
    "external-productions": "external_production_records",
}


def _undo_url(eid: uuid.UUID | str, decision_id: uuid.UUID | str) -> str:
    return f"/engagements/{eid}/decisions/{decision_id}/undo"


async def _row(db: AsyncConnection, table: Table, item_id: uuid.UUID) -> dict[str, Any]:
    row = (await db.execute(select(table).where(table.c.id == item_id))).one()
    return dict(row._mapping)


async def _needs_you(client: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    return zone_body("needs_you", await client.get("/me/dashboard/needs_you", headers=headers))


async def _decided(
    client: httpx.AsyncClient, db: AsyncConnection, case: Case = CASES[0]
) -> tuple[uuid.UUID, uuid.UUID, dict[str, Any]]:
    """A signed-in operator's engagement with one item of `case`, decided by them."""
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    item = await case.make(db, eid)
    answer = await client.post(_url(eid, case, item))
    assert answer.status_code == 200, answer.text
    return eid, item, answer.json()


async def test_anonymous_401(client: httpx.AsyncClient) -> None:
    response = await client.post(_undo_url(uuid.uuid4(), uuid.uuid4()))
    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.collection}-{c.decision}")
async def test_undo_puts_the_item_back_exactly(
    client: httpx.AsyncClient, db: AsyncConnection, case: Case
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    item = await case.make(db, eid)
    table = metadata.tables[TABLES[case.collection]]
    row_before = await _row(db, table, item)
    waiting = await _needs_you(client)
    active_before = zone_body("active", await client.get("/me/dashboard/active"))

    decided = (await client.post(_url(eid, case, item), json={"note": "Oops"})).json()
    assert decided["undo_url"] == _undo_url(eid, decided["decision_id"])
    until = datetime.fromisoformat(decided["undo_until"])
    at = datetime.fromisoformat(decided["decided_at"])
    assert until - at == timedelta(seconds=60)
    assert decided["undone_at"] is None

    response = await client.post(decided["undo_url"])
    assert response.status_code == 200, response.text
    undone = response.json()
    assert response.headers["cache-control"] == "private, no-store"
    assert undone["decision_id"] == decided["decision_id"]
    assert undone["undone_at"] is not None
    assert undone["undo_url"] is None and undone["undo_until"] is None

    assert await _row(db, table, item) == row_before
    assert await _needs_you(client) == waiting
    active = zone_body("active", await client.get("/me/dashboard/active"))
    assert active["items"] == active_before["items"]  # a retry's new record is gone from it
    if decided["follow_up_id"]:
        follow_up = await _row(db, external_production_records, decided["follow_up_id"])
        assert follow_up["status"] == "cancelled"
    detail = (await client.get(f"/engagements/{eid}/{case.collection}/{item}")).json()
    assert detail["waiting"] is True and detail["last_decision"] is None
    assert {a["decision"] for a in detail["actions"]} >= {case.decision}
    history = (await client.get(f"/engagements/{eid}/decisions")).json()
    assert history["items"] == [undone] and history["total_count"] == 1
    assert history["items"][0]["note"] == "Oops"


async def test_undo_again_is_200_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, shape, decided = await _decided(client, db)
    first = await client.post(decided["undo_url"])
    again = await client.post(decided["undo_url"])
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert (await _needs_you(client))["total_count"] == 1
    # Deciding again records a new decision, which can be undone in its turn.
    redo = (await client.post(f"/engagements/{eid}/shapes/{shape}/reject")).json()
    assert redo["decision_id"] != decided["decision_id"] and redo["state"] == "rejected"
    assert (await client.post(redo["undo_url"])).status_code == 200
    history = (await client.get(f"/engagements/{eid}/decisions")).json()
    assert [(i["decision"], bool(i["undone_at"])) for i in history["items"]] == [
        ("reject", True),
        ("confirm", True),
    ]
    assert (await _needs_you(client))["total_count"] == 1


async def test_someone_else_403_viewer_403_outsider_and_unknown_404(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, _shape, decided = await _decided(client, db)
    url = decided["undo_url"]
    colleague = await make_person(db, name="Casey Colleague")
    await join(db, colleague, eid, "owner")
    viewer = await make_person(db)
    await join(db, viewer, eid, "viewer")
    outsider = await make_person(db)
    elsewhere = await make_engagement(db, "Elsewhere", member=outsider)

    theirs = await client.post(url, headers=as_(await make_session(db, colleague)))
    assert theirs.status_code == 403
    assert "only the person who took" in theirs.json()["detail"].lower()
    assert (await client.post(url, headers=as_(await make_session(db, viewer)))).status_code == 403
    outsider_headers = as_(await make_session(db, outsider))
    not_found = [
        await client.post(url, headers=outsider_headers),
        await client.post(_undo_url(elsewhere, decided["decision_id"]), headers=outsider_headers),
        await client.post(_undo_url(eid, uuid.uuid4())),
        await client.post(_undo_url(uuid.uuid4(), decided["decision_id"])),
    ]
    assert [a.status_code for a in not_found] == [404] * 4
    assert len({a.text for a in not_found}) == 1
    assert (await client.post(_undo_url(eid, "not-a-uuid"))).status_code == 422
    # Nothing changed: the decision stands, and only its decider is offered the undo.
    assert (await _needs_you(client))["total_count"] == 0
    history = (
        await client.get(
            f"/engagements/{eid}/decisions", headers=as_(await make_session(db, colleague))
        )
    ).json()
    assert history["items"][0]["undone_at"] is None
    assert history["items"][0]["undo_url"] is None
    mine = (await client.get(f"/engagements/{eid}/decisions")).json()
    assert mine["items"][0]["undo_url"] == url


async def test_past_the_window_409_and_no_undo_url(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    eid, shape, decided = await _decided(client, db)
    # As if the decision had been taken two minutes ago (the item's stamp moves with it).
    earlier = func.now() - timedelta(minutes=2)
    await db.execute(update(decisions).values(decided_at=earlier))
    await db.execute(update(shapes).where(shapes.c.id == shape).values(decided_at=earlier))
    response = await client.post(decided["undo_url"])
    assert response.status_code == 409
    assert "undo is open for 1 minute" in response.json()["detail"]
    history = (await client.get(f"/engagements/{eid}/decisions")).json()
    assert history["items"][0]["undo_url"] is None and history["items"][0]["undo_until"] is None
    assert history["items"][0]["undone_at"] is None
    assert (await _needs_you(client))["total_count"] == 0


async def test_item_moved_on_409_changes_nothing(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    _eid, shape, decided = await _decided(client, db)
    await db.execute(update(shapes).where(shapes.c.id == shape).values(state="rejected"))
    response = await client.post(decided["undo_url"])
    assert response.status_code == 409
    assert "changed since (it is rejected)" in response.json()["detail"]
    row = (await db.execute(select(decisions.c.undone_at))).one()
    assert row.undone_at is None
    assert (await _needs_you(client))["total_count"] == 0


async def test_retry_whose_new_record_moved_on_409(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    retry = next(case for case in CASES if case.decision == "retry")
    _eid, failed, decided = await _decided(client, db, retry)
    records = external_production_records
    await db.execute(
        update(records)
        .where(records.c.id == uuid.UUID(decided["follow_up_id"]))
        .values(status="received")
    )
    response = await client.post(decided["undo_url"])
    assert response.status_code == 409
    assert "new production has moved on (it is received" in response.json()["detail"]
    resolved = await _row(db, records, failed)
    assert resolved["resolution"] == "retried"  # the failed record stays resolved


async def test_cross_site_undo_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    _eid, _shape, decided = await _decided(client, db)
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
        refused = await client.post(decided["undo_url"], headers=headers)
        assert refused.status_code == 403 and "Cross-site" in refused.json()["detail"]
    assert (await _needs_you(client))["total_count"] == 0
    same_site = await client.post(decided["undo_url"], headers={"origin": "http://testserver"})
    assert same_site.status_code == 200


async def test_counts_and_etags_follow_an_undo(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    waiting = await client.get("/me/dashboard/needs_you")
    counts_waiting = (await client.get("/me/dashboard/counts")).json()
    decided = (await client.post(f"/engagements/{eid}/shapes/{shape}/confirm")).json()
    gone = await client.get("/me/dashboard/needs_you")
    assert gone.headers["etag"] != waiting.headers["etag"]
    assert (await client.post(decided["undo_url"])).status_code == 200

    stale = await client.get(
        "/me/dashboard/needs_you", headers={"if-none-match": gone.headers["etag"]}
    )
    assert stale.status_code == 200
    assert stale.headers["etag"] not in (gone.headers["etag"], waiting.headers["etag"])
    assert stale.json() == waiting.json()
    assert (await client.get("/me/dashboard/counts")).json() == counts_waiting


async def test_an_undo_sends_zone_changed_events(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, member=person)
    failed = await _failed_external(db, eid)
    token = await make_session(db, person)
    settings = Settings(database_url=database_url, db_pool_size=2, events_heartbeat_seconds=0.5)
    async with live_server(settings) as live:
        await asyncio.wait_for(live.app.state.events.listening.wait(), timeout=5)
        async with httpx.AsyncClient(base_url=live.url, headers=as_(token)) as http:
            retried = await http.post(f"/engagements/{eid}/external-productions/{failed}/retry")
            assert retried.status_code == 200
            async with open_stream(live, token) as stream:
                assert (await http.post(retried.json()["undo_url"])).status_code == 200
                seen = set()
                while seen != {"needs_you", "active"}:
                    event = await stream.next(within=10)
                    assert event is not None and event.event == "zone_changed"
                    assert event.json["engagement_id"] == str(eid)
                    seen.add(event.json["zone"])


async def test_bulk_answers_carry_undo_urls(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    entry = {
        "engagement_id": str(eid),
        "item_kind": "pending_shape",
        "item_id": str(shape),
        "decision": "confirm",
    }
    response = await client.post("/me/dashboard/needs_you/decisions", json={"decisions": [entry]})
    (result,) = response.json()["results"]
    assert result["decision"]["undo_url"] == _undo_url(eid, result["decision"]["decision_id"])
    assert (await client.post(result["decision"]["undo_url"])).status_code == 200


# --- an undo racing a colleague's decision ------------------------------------------------------


@pytest.mark.parametrize("round_", range(5))
async def test_undo_racing_colleagues_gives_one_consistent_outcome(
    wide_client: httpx.AsyncClient, db: AsyncConnection, round_: int
) -> None:
    owner = await make_person(db)
    eid = await make_engagement(db, member=owner)
    me, *colleagues = await _deciders(db, eid, 4)
    shape = await make_shape(db, eid)
    decided = await wide_client.post(f"/engagements/{eid}/shapes/{shape}/confirm", headers=me)
    assert decided.status_code == 200
    tries = [
        wide_client.post(f"/engagements/{eid}/shapes/{shape}/reject", headers=who)
        for who in colleagues
    ]
    undone, *answers = await asyncio.gather(
        wide_client.post(decided.json()["undo_url"], headers=me), *tries
    )
    assert undone.status_code == 200, undone.text
    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([409] * 3, [200] + [409] * 2), statuses
    standing = [
        row.decision
        for row in await db.execute(
            select(decisions.c.decision).where(decisions.c.undone_at.is_(None))
        )
    ]
    state = (await db.execute(select(shapes.c.state).where(shapes.c.id == shape))).scalar_one()
    waiting = (await _needs_you(wide_client, **me))["total_count"]
    if statuses[0] == 200:  # a colleague decided after the undo: their decision stands
        assert (standing, state, waiting) == (["reject"], "rejected", 0)
    else:  # every colleague met the decision before the undo: the item waits again
        assert (standing, state, waiting) == ([], "pending_confirmation", 1)
        for loser in answers:
            assert "Decider 0" in loser.json()["detail"] or "no longer" in loser.json()["detail"]
    total = (await db.execute(select(func.count()).select_from(decisions))).scalar_one()
    assert total == 1 + len(standing)
