"""What a dashboard read costs the database, and the session checked inside its statement:
one round trip per read on one database (zones, per-engagement zones, counts, 304 polls),
with sign-out, expiry and revocation answered 401 as before, ahead of any 404 or 400."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.api.http.errors import NotFound
from loomworks.db.tables import sessions
from loomworks.platform.security import token_hash
from tests.fixtures.data import (
    T0,
    as_,
    make_engagement,
    make_person,
    make_render,
    make_session,
    make_shape,
    make_shaping_job,
    sign_in,
)
from tests.fixtures.round_trips import round_trips

ZONES = ("active", "needs_you", "recent")
# Requests made before counting, so every pooled connection has prepared the statement (a
# connection's first use of a statement prepares it: one more round trip, once).
WARM_UP = 4
NOT_FOUND = NotFound().detail
SESSION_ENDED = "Session is unknown, expired or signed out; sign in again."

Read = tuple[str, dict[str, Any], dict[str, str]]


async def _two_of_each(db: AsyncConnection, eid: Any) -> None:
    for minutes in (0, 1):
        at = T0 + timedelta(minutes=minutes)
        await make_shaping_job(db, eid, started_at=at)
        await make_shape(db, eid, created_at=at)
        await make_render(db, eid, completed_at=at)


async def _reads(client: httpx.AsyncClient, zone: str, eid: Any) -> dict[str, Read]:
    """Every kind of dashboard read of `zone`, and each one's 304 poll."""
    first = (await client.get(f"/me/dashboard/{zone}", params={"limit": 1})).json()
    assert first["next_cursor"], first
    reads: dict[str, Read] = {
        "first page": (f"/me/dashboard/{zone}", {"limit": 1}, {}),
        "later page": (f"/me/dashboard/{zone}", {"limit": 1, "cursor": first["next_cursor"]}, {}),
        "filtered": (f"/me/dashboard/{zone}", {"engagement_id": str(eid)}, {}),
        "one engagement": (f"/engagements/{eid}/dashboard/{zone}", {}, {}),
        "searched": (f"/me/dashboard/{zone}", {"q": "a", "limit": 1}, {}),
        "searched in one engagement": (f"/engagements/{eid}/dashboard/{zone}", {"q": "a"}, {}),
        "counts": ("/me/dashboard/counts", {}, {}),
    }
    for name, (url, params, _) in list(reads.items()):
        etag = (await client.get(url, params=params)).headers["etag"]
        reads[f"{name}, 304"] = (url, params, {"if-none-match": etag})
    return reads


@pytest.mark.parametrize("credential", ["session cookie", "access token"])
@pytest.mark.parametrize("zone", ZONES)
async def test_every_dashboard_read_is_one_round_trip(
    client: httpx.AsyncClient, db: AsyncConnection, app: FastAPI, zone: str, credential: str
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    await _two_of_each(db, eid)
    if credential == "access token":  # checked (and its use noted) inside the statement too
        made = await client.post("/me/tokens", json={"name": "script", "scopes": ["read"]})
        client.cookies.clear()
        client.headers["authorization"] = f"Bearer {made.json()['token']}"
    for name, (url, params, headers) in (await _reads(client, zone, eid)).items():
        for _ in range(WARM_UP):
            await client.get(url, params=params, headers=headers)
        with round_trips(app.state.engine) as seen:
            response = await client.get(url, params=params, headers=headers)
        assert response.status_code == (304 if headers else 200), (name, response.text)
        # One statement, sent and answered once: no session lookup, BEGIN or ROLLBACK.
        assert seen == ["bind_execute"], (name, seen)


async def _dashboard_statuses(client: httpx.AsyncClient, token: str, eid: Any) -> set[int]:
    statuses = set()
    for url in (
        *(f"/me/dashboard/{zone}" for zone in ZONES),
        *(f"/engagements/{eid}/dashboard/{zone}" for zone in ZONES),
        "/me/dashboard/counts",
    ):
        for headers in ({}, {"if-none-match": "*"}):
            response = await client.get(url, headers={**as_(token), **headers})
            if response.status_code == 401:
                assert response.json() == {"detail": SESSION_ENDED}, url
            statuses.add(response.status_code)
    return statuses


async def test_signed_out_expired_and_revoked_sessions_read_nothing(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, member=person)
    await _two_of_each(db, eid)
    signed_out, expired, revoked = (
        await make_session(db, person),
        await make_session(db, person, lifetime=timedelta(seconds=-1)),
        await make_session(db, person),
    )
    assert await _dashboard_statuses(client, signed_out, eid) == {200, 304}
    assert (await client.post("/auth/logout", headers=as_(signed_out))).status_code == 204
    await db.execute(
        update(sessions)
        .where(sessions.c.token_hash == token_hash(revoked))
        .values(revoked_at=sessions.c.created_at)
    )
    for token in (signed_out, expired, revoked, "forged"):
        assert await _dashboard_statuses(client, token, eid) == {401}, token


async def test_401_before_404_before_400(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    """Who is asking is settled first, then what they may see, then what they asked for."""
    me = await make_person(db)
    stranger = await make_person(db)
    theirs = await make_engagement(db, "Not mine", member=stranger)
    mine = await make_engagement(db, "Mine", member=me)
    token = await make_session(db, me)
    ended = await make_session(db, me, lifetime=timedelta(seconds=-1))
    bad = {"cursor": "AQMAAnot-a-cursor"}
    for zone in ZONES:
        for url, params in (
            (f"/engagements/{theirs}/dashboard/{zone}", bad),
            (f"/me/dashboard/{zone}", {**bad, "engagement_id": str(theirs)}),
            (f"/me/dashboard/{zone}", bad),
        ):
            response = await client.get(url, params=params, headers=as_(ended))
            assert response.status_code == 401, (url, response.text)
        outsider = await client.get(
            f"/engagements/{theirs}/dashboard/{zone}", params=bad, headers=as_(token)
        )
        assert outsider.status_code == 404 and outsider.json() == {"detail": NOT_FOUND}
        member = await client.get(
            f"/engagements/{mine}/dashboard/{zone}", params=bad, headers=as_(token)
        )
        assert member.status_code == 400 and "cursor" in member.json()["detail"]
        for headers in ({}, {"if-none-match": "*"}):
            response = await client.get(
                f"/engagements/{theirs}/dashboard/{zone}", headers={**as_(token), **headers}
            )
            assert response.status_code == 404 and response.json() == {"detail": NOT_FOUND}
