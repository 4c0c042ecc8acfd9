"""A person's own sessions: list them, sign one out, sign out all the others; a signed-out
session's next request is 401 and its event streams end within a heartbeat."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.people import Person
from loomworks.db.tables import sessions
from tests.fixtures.data import as_, make_person, make_session
from tests.fixtures.live import LiveServer, live_events_server, open_stream

HEARTBEAT = 1.0


async def _sessions(client: httpx.AsyncClient, token: str) -> list[dict[str, object]]:
    response = await client.get("/me/sessions", headers=as_(token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def _three_sessions(db: AsyncConnection) -> tuple[Person, str, str, str]:
    me = await make_person(db)
    return me, await make_session(db, me), await make_session(db, me), await make_session(db, me)


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/me/sessions"),
        ("DELETE", "/me/sessions"),
        ("DELETE", f"/me/sessions/{uuid.uuid4()}"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 401
        assert response.json()["detail"]


async def test_lists_my_valid_sessions_and_marks_the_current_one(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me, first, second, _ = await _three_sessions(db)
    await make_session(db, me, timedelta(seconds=-1))  # expired: not listed
    await make_session(db, await make_person(db))  # someone else's
    second_id = next(i for i in await _sessions(client, second) if i["current"])["id"]
    ended = await client.delete(f"/me/sessions/{second_id}", headers=as_(first))
    assert ended.status_code == 204
    items = await _sessions(client, first)
    assert len(items) == 2  # the expired and the revoked ones are gone
    assert sum(bool(item["current"]) for item in items) == 1
    assert set(items[0]) == {"id", "created_at", "expires_at", "current"}


async def test_ending_one_session(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    _, first, second, third = await _three_sessions(db)
    others = await make_session(db, await make_person(db))
    theirs = (await _sessions(client, others))[0]["id"]
    assert (await client.delete(f"/me/sessions/{theirs}", headers=as_(first))).status_code == 404
    unknown = await client.delete(f"/me/sessions/{uuid.uuid4()}", headers=as_(first))
    assert unknown.status_code == 404
    assert unknown.json()["detail"]
    assert (await client.delete("/me/sessions/not-a-uuid", headers=as_(first))).status_code == 422

    current_of_second = next(i for i in await _sessions(client, second) if i["current"])
    ended = await client.delete(f"/me/sessions/{current_of_second['id']}", headers=as_(first))
    assert ended.status_code == 204
    assert (await client.get("/me", headers=as_(second))).status_code == 401
    assert (await client.get("/me", headers=as_(others))).status_code == 200
    # Again: it is no longer a session of mine that is signed in.
    again = await client.delete(f"/me/sessions/{current_of_second['id']}", headers=as_(first))
    assert again.status_code == 404
    assert len(await _sessions(client, third)) == 2


async def test_ending_every_other_session(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    _, first, second, third = await _three_sessions(db)
    others = await make_session(db, await make_person(db))
    assert (await client.delete("/me/sessions", headers=as_(second))).status_code == 204
    for token, status in ((first, 401), (third, 401), (second, 200), (others, 200)):
        assert (await client.get("/me", headers=as_(token))).status_code == status
    assert [item["current"] for item in await _sessions(client, second)] == [True]


async def test_ending_sessions_refuses_cross_site(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    _, first, second, _ = await _three_sessions(db)
    cross_site = {**as_(first), "sec-fetch-site": "cross-site"}
    assert (await client.delete("/me/sessions", headers=cross_site)).status_code == 403
    assert (await client.get("/me", headers=as_(second))).status_code == 200


@pytest.fixture
async def live(database_url: str, engine: AsyncEngine) -> AsyncIterator[LiveServer]:
    async with live_events_server(database_url, heartbeat=HEARTBEAT) as server:
        yield server


@pytest.mark.parametrize("how", ["one", "all others"])
async def test_an_ended_session_s_event_streams_end(
    live: LiveServer, db: AsyncConnection, how: str
) -> None:
    _, mine, doomed, _ = await _three_sessions(db)
    async with (
        open_stream(live, doomed) as stream,
        httpx.AsyncClient(base_url=live.url) as client,
        open_stream(live, mine) as kept,
    ):
        if how == "one":
            target = next(i for i in await _sessions(client, doomed) if i["current"])["id"]
            response = await client.delete(f"/me/sessions/{target}", headers=as_(mine))
        else:
            response = await client.delete("/me/sessions", headers=as_(mine))
        assert response.status_code == 204
        # Within one heartbeat (the check runs a little faster); generous for a busy machine.
        assert await stream.next(within=HEARTBEAT * 10) is None
        assert any("signed out" in comment for comment in stream.comments)
        await kept.next_comment(within=HEARTBEAT * 10)  # mine is still open


async def test_a_session_that_expires_is_not_listed(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me, first, _, _ = await _three_sessions(db)
    await db.execute(
        update(sessions)
        .where(sessions.c.person_id == me.id)
        .values(expires_at=func.now() - timedelta(seconds=1))
    )
    assert (await client.get("/me/sessions", headers=as_(first))).status_code == 401
