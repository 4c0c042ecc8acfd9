"""Property-based conformance: schemathesis generates valid and invalid requests for every
operation in the app's OpenAPI document and runs all of its checks (no 5xx, only documented
status codes, content types and headers, bodies that match their schemas, negative data
refused, auth enforced) against the real app over HTTP, signed in, on seeded data."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation.case import Case
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.platform.settings import Settings
from tests.fixtures.data import (
    PASSWORD,
    make_engagement,
    make_external,
    make_person,
    make_render,
    make_session,
    make_shape,
    make_shaping_job,
)

EMAIL = "schema@example.test"
# How long an event stream is read (its keep-alives come every half second here).
EVENT_STREAM_SECONDS = 1.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(settings: Settings, engine: AsyncEngine) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread with its own event loop."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings.model_copy(update={"events_heartbeat_seconds": 0.5})),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
async def session_token(db: AsyncConnection) -> str:
    """A signed-in operator with an engagement holding one item of every kind."""
    me = await make_person(db, EMAIL)
    engagement = await make_engagement(db, member=me, designation="owner")
    await make_shaping_job(db, engagement, context={"phase": {"key": "processing"}})
    await make_external(db, engagement)
    await make_shape(db, engagement)
    await make_render(db, engagement)
    await make_render(
        db,
        engagement,
        content_kind="binary_blob",
        display_number=2,
        files=[("plan.pdf", "application/pdf", b"%PDF-1.7")],
    )
    return await make_session(db, me)


# The document the app serves; building the app does not connect to the database.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="postgresql://unused@localhost/unused")).openapi()
)
schema.config.generation.update(max_examples=10)
# A cursor is opaque and signed: any string fits its schema, and one this service did not
# issue is a documented 400. So a schema-valid request may also be refused with a 400.
_accepts = schema.config.checks.positive_data_acceptance
_accepts.expected_statuses = [*_accepts.expected_statuses, "400"]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case: Case, session_token: str, live_server: str) -> None:
    # Where the case carries the session cookie (negative cases may leave it out on purpose),
    # it carries a real one. Signing out revokes its session: that gets a fresh one.
    if case.cookies and "loomworks_session" in case.cookies:
        fresh = case.path == "/auth/logout"
        case.cookies["loomworks_session"] = _fresh_session(live_server) if fresh else session_token
    # An event stream never ends: schemathesis reads one until the request's timeout.
    timeout = EVENT_STREAM_SECONDS if case.path == "/me/dashboard/events" else None
    # A webhook URL must resolve to a public address, and nothing resolves here (no DNS): a
    # schema-valid URL is then a documented 422, as it would be for an unknown host. A
    # snooze's `until` must lie within the next 30 days, which no schema can say: any other
    # date-time is a documented 422 too.
    refusing_valid = ("/me/webhooks", "/me/snoozes/{item_kind}/{item_id}")
    excluded = [positive_data_acceptance] if case.path in refusing_valid else []
    case.call_and_validate(
        base_url=live_server,
        excluded_checks=excluded,
        **({"timeout": timeout} if timeout else {}),
    )


def _fresh_session(base_url: str) -> str:
    response = httpx.post(
        f"{base_url}/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 204, response.text
    return response.cookies["loomworks_session"]
