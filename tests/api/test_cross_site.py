"""State-changing routes refuse cross-site requests; CORS only for configured origins."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.db.tables import login_failures, sessions
from loomworks.platform.settings import Settings
from tests.fixtures.data import PASSWORD, make_person, make_session

EMAIL = "ada@example.test"
LOGIN = {"email": EMAIL, "password": PASSWORD}
REFUSED = [
    {"sec-fetch-site": "cross-site"},
    {"origin": "https://evil.example"},
    {"origin": "null"},
    {"origin": "http://testserver.evil.example"},
    {"origin": "https://testserver"},  # another scheme is another origin
]


async def _count(db: AsyncConnection, table: object) -> int:
    return int((await db.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize("headers", REFUSED)
async def test_cross_site_login_is_403_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncConnection, headers: dict[str, str]
) -> None:
    await make_person(db, EMAIL)
    response = await client.post("/auth/login", json=LOGIN, headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"]
    assert "set-cookie" not in response.headers
    assert await _count(db, sessions) == 0
    assert await _count(db, login_failures) == 0


@pytest.mark.parametrize("headers", REFUSED)
async def test_cross_site_logout_is_403_and_the_session_lives(
    client: httpx.AsyncClient, db: AsyncConnection, headers: dict[str, str]
) -> None:
    token = await make_session(db, await make_person(db, EMAIL))
    client.cookies.set("loomworks_session", token)
    response = await client.post("/auth/logout", headers=headers)
    assert response.status_code == 403
    assert (await client.get("/me")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl
        {"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        {"origin": "http://testserver:80"},
        {"sec-fetch-site": "none"},  # typed into the address bar, a bookmark
    ],
)
async def test_same_origin_and_plain_clients_sign_in(
    client: httpx.AsyncClient, db: AsyncConnection, headers: dict[str, str]
) -> None:
    await make_person(db, EMAIL)
    response = await client.post("/auth/login", json=LOGIN, headers=headers)
    assert response.status_code == 204


@pytest.fixture
async def cors_app(settings: Settings, engine: AsyncEngine) -> object:
    configured = settings.model_copy(
        update={"cors_origins": "https://app.example, https://ops.example:8443/"}
    )
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        yield app


async def test_allowed_origin_may_sign_in_with_credentials(
    cors_app: FastAPI, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    transport = httpx.ASGITransport(app=cors_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        preflight = await client.options(
            "/auth/login",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        response = await client.post(
            "/auth/login",
            json=LOGIN,
            headers={"origin": "https://ops.example:8443", "sec-fetch-site": "same-site"},
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "https://ops.example:8443"
        refused = await client.post(
            "/auth/login", json=LOGIN, headers={"origin": "https://evil.example"}
        )
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_logout_clears_a_secure_cookie_when_configured(
    client: httpx.AsyncClient, db: AsyncConnection, app: FastAPI
) -> None:
    app.state.settings.cookie_secure = True
    client.cookies.set("loomworks_session", await make_session(db, await make_person(db)))
    response = await client.post("/auth/logout")
    assert response.status_code == 204
    cleared = response.headers["set-cookie"].lower()
    assert "max-age=0" in cleared
    assert "secure" in cleared
