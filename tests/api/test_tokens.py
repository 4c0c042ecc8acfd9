"""Personal access tokens (SPEC section 12): made with a session, shown once, stored only as a
hash, scoped, revoked and expired at once, and exempt from the cookie-only cross-site check."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import access_tokens, persons
from tests.fixtures.data import (
    as_,
    make_engagement,
    make_person,
    make_session,
    make_shape,
    sign_in,
)

EVIL = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _new_token(
    client: httpx.AsyncClient, scopes: list[str], **extra: object
) -> dict[str, object]:
    response = await client.post("/me/tokens", json={"name": "script", "scopes": scopes, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_token_is_shown_once_and_stored_only_as_its_hash(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await sign_in(client, db)
    made = await _new_token(client, ["read", "decide"], expires_in_days=30)
    secret = str(made["token"])
    assert secret.startswith("lw_") and len(secret) > 40
    assert made["scopes"] == ["read", "decide"]
    assert made["last_used_at"] is None

    listed = await client.get("/me/tokens")
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "private, no-store"
    (item,) = listed.json()["items"]
    assert item["id"] == made["id"] and "token" not in item

    # No column of the row holds the secret, whole or in part.
    row = (await db.execute(select(access_tokens))).one()
    for value in row:
        assert secret not in str(value) and secret[3:] not in str(value)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["decide"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["admin"]},
        {"name": "", "scopes": ["read"]},
        {"name": "x" * 101, "scopes": ["read"]},
        {"name": "x", "scopes": ["read"], "expires_in_days": 0},
        {"name": "x", "scopes": ["read"], "expires_in_days": 366},
    ],
)
async def test_bad_token_requests_are_422(
    client: httpx.AsyncClient, db: AsyncConnection, body: dict[str, object]
) -> None:
    await sign_in(client, db)
    response = await client.post("/me/tokens", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_scopes_decide_what_a_token_may_do(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    person = await sign_in(client, db)
    eid = await make_engagement(db, member=person)
    shape_id = await make_shape(db, eid)
    reader = str((await _new_token(client, ["read"]))["token"])
    decider = str((await _new_token(client, ["read", "decide"]))["token"])
    client.cookies.clear()
    confirm = f"/engagements/{eid}/shapes/{shape_id}/confirm"

    assert (await client.get("/me", headers=bearer(reader))).json()["id"] == str(person.id)
    zone = await client.get("/me/dashboard/needs_you", headers=bearer(reader))
    assert zone.json()["total_count"] == 1
    refused = await client.post(confirm, headers=bearer(reader))
    assert refused.status_code == 403 and "decide" in refused.json()["detail"]
    # A bearer request is not a browser's: no cross-site refusal.
    decided = await client.post(confirm, headers={**bearer(decider), **EVIL})
    assert decided.status_code == 200, decided.text
    # Managing tokens needs a session.
    assert (await client.get("/me/tokens", headers=bearer(decider))).status_code == 403
    made = await client.post(
        "/me/tokens", json={"name": "x", "scopes": ["read"]}, headers=bearer(decider)
    )
    assert made.status_code == 403


async def test_the_cross_site_check_still_holds_for_cookies(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, member=person)
    shape_id = await make_shape(db, eid)
    token = await make_session(db, person)
    response = await client.post(
        f"/engagements/{eid}/shapes/{shape_id}/confirm", headers={**as_(token), **EVIL}
    )
    assert response.status_code == 403


# Where a token is checked: by the dependencies (/me), or inside the dashboard's statements.
CHECKED_AT = ("/me", "/me/dashboard/needs_you", "/me/dashboard/counts")


async def _refused(client: httpx.AsyncClient, secret: str) -> None:
    for path in CHECKED_AT:
        for headers in ({}, {"if-none-match": "*"}):
            response = await client.get(path, headers={**bearer(secret), **headers})
            assert response.status_code == 401, (path, response.text)
            assert response.json() == {"detail": "Token is unknown, expired or revoked."}


async def test_revoked_expired_disabled_and_bad_tokens_are_401_at_once(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await sign_in(client, db)
    first, second, third = [await _new_token(client, ["read"]) for _ in range(3)]
    for made in (first, second, third):
        for path in CHECKED_AT:
            response = await client.get(path, headers=bearer(str(made["token"])))
            assert response.status_code == 200, (path, response.text)
    assert (await client.delete(f"/me/tokens/{first['id']}")).status_code == 204
    await _refused(client, str(first["token"]))

    await db.execute(
        update(access_tokens)
        .where(access_tokens.c.id == uuid.UUID(str(second["id"])))
        .values(expires_at=text("now() - interval '1 second'"))
    )
    await _refused(client, str(second["token"]))
    assert [t["id"] for t in (await client.get("/me/tokens")).json()["items"]] == [third["id"]]
    client.cookies.clear()
    # A disabled person's token is refused (disabled in SQL, which also revokes it).
    await db.execute(update(persons).where(persons.c.id == me.id).values(disabled_at=func.now()))
    await _refused(client, str(third["token"]))
    for bad in ["lw_nope", "x" * 5000, "not-ours"]:
        await _refused(client, bad)
    for path in CHECKED_AT:  # an empty token is no token: not signed in
        assert (await client.get(path, headers=bearer(""))).status_code == 401


async def test_a_token_may_delete_itself_and_nothing_else(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await sign_in(client, db)
    own = await _new_token(client, ["read"])
    other = await _new_token(client, ["read"])
    client.cookies.clear()
    secret = bearer(str(own["token"]))
    assert (await client.delete(f"/me/tokens/{other['id']}", headers=secret)).status_code == 403
    assert (await client.delete(f"/me/tokens/{own['id']}", headers=secret)).status_code == 204
    assert (await client.get("/me", headers=secret)).status_code == 401


async def test_someone_elses_token_is_404(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    await sign_in(client, db)
    theirs = await _new_token(client, ["read"])
    await sign_in(client, db, "bob@example.test")
    assert (await client.delete(f"/me/tokens/{theirs['id']}")).status_code == 404
    assert (await client.delete(f"/me/tokens/{uuid.uuid4()}")).status_code == 404


@pytest.mark.parametrize("path", CHECKED_AT)
async def test_last_used_is_noted_at_most_once_a_minute(
    client: httpx.AsyncClient, db: AsyncConnection, path: str
) -> None:
    await sign_in(client, db)
    made = await _new_token(client, ["read"])
    headers = bearer(str(made["token"]))

    async def last_used() -> object:
        return (await db.execute(select(access_tokens.c.last_used_at))).scalar_one()

    assert (await client.get(path, headers=headers)).status_code == 200
    first = await last_used()
    assert first is not None
    await client.get(path, headers=headers)
    assert await last_used() == first  # within the minute: no new write
    await db.execute(
        update(access_tokens).values(last_used_at=text("now() - interval '2 minutes'"))
    )
    await client.get(path, headers=headers)
    assert await last_used() != first
