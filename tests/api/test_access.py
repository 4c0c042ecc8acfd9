"""Request logs and X-Request-ID: one line per request with its route template, status,
duration and id; the client's id echoed when sane, a fresh one otherwise; streams pass
through unbuffered."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import Message, Receive, Scope, Send

from loomworks.api.http.access import AccessMiddleware
from tests.fixtures.data import make_engagement, make_shaping_job, sign_in


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "loomworks.access"]


async def test_a_request_without_an_id_gets_a_fresh_one(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loomworks.access")
    first = await client.get("/me")
    second = await client.get("/me")
    assert first.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    (line, _) = access_lines(caplog)
    assert line.getMessage().startswith("GET /me 401 ")
    assert line.__dict__["request_id"] == first.headers["x-request-id"]


async def test_a_sane_incoming_id_is_echoed_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loomworks.access")
    response = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:42"})
    assert response.headers["x-request-id"] == "lb-7f3a:42"
    (line,) = access_lines(caplog)
    assert line.getMessage().endswith(" request_id=lb-7f3a:42")


@pytest.mark.parametrize("bad", ["x" * 65, "two words", "tab\there", "caf\u00e9", ""])
async def test_an_insane_incoming_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": bad.encode()})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_the_line_names_the_route_template_not_the_ids(
    client: httpx.AsyncClient, db: AsyncConnection, caplog: pytest.LogCaptureFixture
) -> None:
    me = await sign_in(client, db)
    eid = await make_engagement(db, member=me)
    job = await make_shaping_job(db, eid)
    caplog.set_level(logging.INFO, logger="loomworks.access")
    assert (await client.get(f"/engagements/{eid}/jobs/{job}")).status_code == 200
    assert (await client.get("/no/such/path")).status_code == 404
    routed, unmatched = access_lines(caplog)
    assert routed.__dict__["route"] == "/engagements/{engagement_id}/jobs/{job_id}"
    assert routed.__dict__["method"] == "GET" and routed.__dict__["status"] == 200
    assert routed.__dict__["duration_ms"] >= 0
    assert str(eid) not in routed.getMessage()
    assert unmatched.__dict__["route"] == "<unmatched>"
    assert unmatched.__dict__["status"] == 404


async def test_a_streamed_response_is_passed_on_chunk_by_chunk() -> None:
    """The first chunk reaches the client while the app still holds the second: nothing
    waits for the whole body."""
    first_chunk_sent = asyncio.Event()

    async def streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await asyncio.wait_for(first_chunk_sent.wait(), 5)
        await send({"type": "http.response.body", "body": b"two", "more_body": False})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b"one":
            first_chunk_sent.set()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: Scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    await AccessMiddleware(streaming_app)(scope, receive, send)
    assert [m.get("body") for m in sent] == [None, b"one", b"two"]
    assert (b"x-request-id", scope["state"]["request_id"].encode()) in sent[0]["headers"]


async def test_a_crash_is_logged_as_500() -> None:
    observed: list[tuple[str, str, int, float]] = []

    async def crashing_app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    async def nowhere(message: Message) -> None:
        pass

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    middleware = AccessMiddleware(crashing_app, observers=(lambda *seen: observed.append(seen),))
    with pytest.raises(RuntimeError):
        await middleware({"type": "http", "method": "POST", "headers": []}, receive, nowhere)
    assert [(m, r, s) for m, r, s, _ in observed] == [("POST", "<unmatched>", 500)]
