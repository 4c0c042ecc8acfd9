"""Headers: hostile ones never give a 5xx, /healthz answers every probe method, and personal
answers are never stored by a cache."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.fixtures.data import (
    as_,
    make_engagement,
    make_person,
    make_render_job,
    make_session,
    make_shape,
)

HUGE_DIGITS = "9" * 5000


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
async def test_healthz_answers_every_probe_method(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/healthz")
    assert response.status_code == 200
    assert "HEAD" in response.headers["allow"]
    if method == "HEAD":
        assert response.content == b""
    else:
        assert response.json()["status"] == "ok"


async def test_other_methods_on_healthz_are_405_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {"content-length": HUGE_DIGITS},
        {"content-length": "-1"},
        {"host": "["},
        {"host": "[", "origin": "http://["},
        {"origin": "http://[::1"},
        {"origin": "\u00e9" * 3000},  # sent as latin-1 bytes, as a raw client may
        {"sec-fetch-site": "x" * 10000},
        {"x-request-id": "\u00ff" * 70},
        {"cookie": "loomworks_session=" + "x" * 9000},
        {"cookie": "loomworks_device=" + "x.y" * 3000},
        {"if-none-match": '"' + "x" * 9000 + '"'},
        {"last-event-id": HUGE_DIGITS},
    ],
    ids=lambda headers: ",".join(headers),
)
async def test_hostile_headers_are_never_a_5xx(
    client: httpx.AsyncClient, db: AsyncConnection, headers: dict[str, str]
) -> None:
    token = await make_session(db, await make_person(db))
    for method, path in (
        ("POST", "/auth/login"),
        ("GET", "/me"),
        ("GET", "/me/dashboard/active"),
        ("DELETE", "/me/sessions"),
        ("GET", "/healthz"),
    ):
        sent = {**as_(token), **headers} if "cookie" not in headers else headers
        raw = {name: value.encode("latin-1") for name, value in sent.items()}
        request = client.build_request(
            method, path, headers=raw, content=b'{"email":"a@b.c","password":"x"}'
        )
        response = await client.send(request)
        assert response.status_code < 500, (method, path, response.text)
        if response.status_code >= 400:
            assert response.json()["detail"]


async def test_a_huge_last_event_id_resumes_nothing_rather_than_failing(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    token = await make_session(db, await make_person(db))
    # An open event stream cannot be read through the ASGI transport; a missing session is
    # checked first, so a bad cookie shows that the header is parsed without a 500.
    response = await client.get(
        "/me/dashboard/events", headers={**as_(token + "x"), "last-event-id": HUGE_DIGITS}
    )
    assert response.status_code == 401


async def test_personal_answers_are_private_and_never_stored(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    me = await make_person(db)
    eid = await make_engagement(db, member=me)
    job = await make_render_job(db, eid)
    shape = await make_shape(db, eid)
    token = await make_session(db, me)
    for path in (
        "/me",
        "/me/memberships",
        "/me/sessions",
        f"/engagements/{eid}/jobs/{job}",
        f"/engagements/{eid}/shapes/{shape}",
        f"/engagements/{eid}/decisions",
    ):
        response = await client.get(path, headers=as_(token))
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "private, no-store", path
    # The zones and counts keep their conditional polling headers.
    for path in ("/me/dashboard/needs_you", "/me/dashboard/counts"):
        response = await client.get(path, headers=as_(token))
        assert response.headers["cache-control"] == "private, no-cache", path
        assert response.headers["etag"]
