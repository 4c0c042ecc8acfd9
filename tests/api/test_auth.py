"""Sign-in, sign-out and what makes a session stop working."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import httpx
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import persons, sessions
from loomworks.platform.security import new_session_token, token_hash
from tests.fixtures.data import PASSWORD, make_engagement, make_person, make_session


async def test_anonymous_me_is_401_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_login_sets_http_only_cookie_and_stores_only_the_hash(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, "Ada@Example.test")
    response = await client.post(
        "/auth/login", json={"email": "ADA@example.test", "password": PASSWORD}
    )
    assert response.status_code == 204
    header = response.headers["set-cookie"]
    assert header.startswith("loomworks_session=")
    for attribute in ("HttpOnly", "SameSite=lax", "Path=/", "Max-Age="):
        assert attribute.lower() in header.lower()
    assert "secure" not in header.lower()
    token = response.cookies["loomworks_session"]
    stored = (await db.execute(select(sessions.c.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    me = await client.get("/me")
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.test"


async def test_wrong_email_and_wrong_password_look_the_same(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, "ada@example.test")
    timings: dict[str, list[float]] = {"wrong_password": [], "wrong_email": []}
    bodies = {}
    for _ in range(3):  # interleaved, and the fastest of each compared: a busy machine
        for case, email, password in (  # slows single requests, never a whole series
            ("wrong_password", "ada@example.test", "nope"),
            ("wrong_email", "nobody@example.test", PASSWORD),
        ):
            started = time.perf_counter()
            body = {"email": email, "password": password}
            response = await client.post("/auth/login", json=body)
            timings[case].append(time.perf_counter() - started)
            assert response.status_code == 401
            assert "set-cookie" not in response.headers
            bodies[case] = response.json()
    assert bodies["wrong_password"] == bodies["wrong_email"]
    # Both paths run one argon2 verification; an unknown email must not answer much faster.
    assert min(timings["wrong_email"]) > min(timings["wrong_password"]) / 4


async def test_login_bad_body_is_422(client: httpx.AsyncClient) -> None:
    for body in ({}, {"email": "a@b.c"}, {"email": 1, "password": []}, "not json"):
        response = await client.post("/auth/login", json=body)
        assert response.status_code == 422
        assert "detail" in response.json()


async def test_logout_revokes_the_session(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    person = await make_person(db)
    token = await make_session(db, person)
    client.cookies.set("loomworks_session", token)
    assert (await client.get("/me")).status_code == 200
    response = await client.post("/auth/logout")
    assert response.status_code == 204
    assert 'loomworks_session=""' in response.headers["set-cookie"]
    client.cookies.set("loomworks_session", token)
    assert (await client.get("/me")).status_code == 401


async def test_expired_session_is_401(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    person = await make_person(db)
    token = await make_session(db, person, lifetime=timedelta(seconds=-1))
    client.cookies.set("loomworks_session", token)
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.json()["detail"]


async def test_revoked_session_is_401(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    person = await make_person(db)
    token = await make_session(db, person)
    client.cookies.set("loomworks_session", token)
    assert (await client.get("/me/memberships")).status_code == 200
    await db.execute(update(sessions).values(revoked_at=sessions.c.created_at))
    assert (await client.get("/me/memberships")).status_code == 401


async def test_unknown_and_oversized_tokens_are_401(client: httpx.AsyncClient) -> None:
    for token in ("not-a-session", "x" * 5000):
        client.cookies.set("loomworks_session", token)
        response = await client.get("/me")
        assert response.status_code == 401
        assert "detail" in response.json()


async def test_secure_cookie_when_configured(
    client: httpx.AsyncClient, db: AsyncConnection, app: object
) -> None:
    app.state.settings.cookie_secure = True  # type: ignore[attr-defined]
    await make_person(db, "ada@example.test")
    response = await client.post(
        "/auth/login", json={"email": "ada@example.test", "password": PASSWORD}
    )
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_disabled_persons_session_is_401_on_the_dashboard_too(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """A live session of a disabled person is refused where the dependencies check it and
    where a zone's statement does. Nothing issues one any more, and disabling revokes theirs;
    this one is written by hand, as a row restored from a backup could be."""
    person = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=person)
    await db.execute(update(persons).values(disabled_at=func.now()))
    token = new_session_token()
    await db.execute(
        insert(sessions).values(
            person_id=person.id,
            token_hash=token_hash(token),
            expires_at=func.now() + timedelta(hours=1),
        )
    )
    client.cookies.set("loomworks_session", token)
    paths = [
        "/me",
        "/me/dashboard/needs_you",
        "/me/dashboard/counts",
        f"/engagements/{harbour}/dashboard/needs_you",
    ]
    for path in paths:
        for headers in ({}, {"if-none-match": "*"}):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, (path, response.text)
