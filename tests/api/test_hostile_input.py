"""Hostile input: oversized bodies, NUL and lone surrogates, odd limits and empty cursors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import login_failures
from tests.fixtures.data import make_engagement, make_render, make_shape, sign_in

LIMIT = 64 * 1024


class Chunks:
    """A request body streamed in 1 KiB chunks (chunked, no Content-Length); counts reads."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.read * 1024 < self.total:
            self.read += 1
            yield b" " * 1024


def _assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]


async def _failures(db: AsyncConnection) -> int:
    return int((await db.execute(select(func.count()).select_from(login_failures))).scalar_one())


async def test_declared_body_over_64_kib_is_413_unread_and_runs_nothing(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    body = Chunks(10 * 1024 * 1024)
    response = await client.post(
        "/auth/login",
        content=body,
        headers={"content-length": str(body.total), "content-type": "application/json"},
    )
    _assert_json_error(response, 413)
    assert body.read == 0
    assert await _failures(db) == 0


async def test_streamed_body_over_64_kib_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    body = Chunks(10 * 1024 * 1024)
    response = await client.post(
        "/auth/login", content=body, headers={"content-type": "application/json"}
    )
    _assert_json_error(response, 413)
    assert body.read == LIMIT // 1024 + 1
    assert await _failures(db) == 0


async def test_a_body_of_exactly_64_kib_is_read(client: httpx.AsyncClient) -> None:
    padding = " " * (LIMIT - len('{"email": "a@b.test", "password": "x"}'))
    body = '{"email": "a@b.test", "password": "x"}' + padding
    assert len(body) == LIMIT
    response = await client.post(
        "/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        r'{"email": "ada\u0000@example.test", "password": "x"}',
        r'{"email": "ada@example.test", "password": "\u0000"}',
        r'{"email": "\ud800@example.test", "password": "x"}',
        r'{"email": "ada@example.test", "password": "\udfff\ud800"}',
        r'{"email": {"\ud800": "\u0000"}, "password": ["\ud800"]}',
        r'{"\ud800": "x"}',
    ],
)
async def test_nul_and_lone_surrogates_are_422_and_never_echoed(
    client: httpx.AsyncClient, db: AsyncConnection, raw: str
) -> None:
    response = await client.post(
        "/auth/login", content=raw, headers={"content-type": "application/json"}
    )
    _assert_json_error(response, 422)
    json.loads(response.content.decode("utf-8"))  # valid UTF-8 JSON
    assert b"\\u0000" not in response.content and b"\\ud800" not in response.content
    for issue in response.json()["detail"]:
        assert set(issue) == {"type", "loc", "msg"}
    assert await _failures(db) == 0


async def test_validation_errors_do_not_echo_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login", json={"email": "x" * 400 + "@secret.test", "password": "hunter2"}
    )
    _assert_json_error(response, 422)
    assert "secret.test" not in response.text


async def test_a_too_long_text_is_counted_in_characters(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """Every free-text field says its limit in characters, optional ones too (pydantic words
    a limit on an optional validated string "at most N items after validation")."""
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    for url, body, limit in (
        (f"/engagements/{eid}/shapes/{shape}/confirm", {"note": "n" * 2001}, 2000),
        ("/me/tokens", {"name": "t" * 101, "scopes": ["read"]}, 100),
    ):
        response = await client.post(url, json=body)
        _assert_json_error(response, 422)
        messages = [problem["msg"] for problem in response.json()["detail"]]
        assert messages == [f"String should have at most {limit} characters"], messages


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    me = await sign_in(client, db)
    engagement = await make_engagement(db, member=me)
    for n in range(3):
        await make_render(db, engagement, display_number=n + 1)


@pytest.mark.parametrize(
    "limit",
    ["+5", " 5", "5 ", "5.0", "5_0", "0x5", "-1", "0", "101", "", "\u0665", "%00", "%ED%A0%80"],
)
async def test_limit_must_be_plain_digits_in_range(
    client: httpx.AsyncClient, signed_in: None, limit: str
) -> None:
    response = await client.get(f"/me/dashboard/recent?limit={limit}")
    _assert_json_error(response, 422)


@pytest.mark.parametrize("limit", ["1", "05", "100"])
async def test_plain_digit_limits_are_taken(
    client: httpx.AsyncClient, signed_in: None, limit: str
) -> None:
    response = await client.get(f"/me/dashboard/recent?limit={limit}")
    assert response.status_code == 200
    assert len(response.json()["items"]) == min(int(limit), 3)


async def test_empty_cursor_means_the_first_page(
    client: httpx.AsyncClient, signed_in: None
) -> None:
    first = await client.get("/me/dashboard/recent?limit=2")
    empty = await client.get("/me/dashboard/recent?limit=2&cursor=")
    assert empty.status_code == 200
    assert empty.json() == first.json()


@pytest.mark.parametrize("cursor", ["%00", "%ED%A0%80", "%F0%9F%92%A9", "a" * 200])
async def test_hostile_cursors_are_400(
    client: httpx.AsyncClient, signed_in: None, cursor: str
) -> None:
    _assert_json_error(await client.get(f"/me/dashboard/recent?cursor={cursor}"), 400)


@pytest.mark.parametrize(
    "raw", [b'{"email": "\xff\xfe@x.test", "password": "x"}', b"\xed\xa0\x80", b"\x00" * 10]
)
async def test_bodies_that_are_not_utf8_json_are_4xx_json(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await client.post(
        "/auth/login", content=raw, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
