"""GET /metrics: off unless LOOMWORKS_METRICS=true; Prometheus text with requests, latency,
the pool and decisions; no session needed; on a port of its own when one is set."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.platform.settings import Settings
from tests.fixtures.data import make_engagement, make_shape, sign_in


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def _client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_metrics_are_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_count_requests_without_a_session(
    settings: Settings, engine: AsyncEngine
) -> None:
    app = create_app(settings.model_copy(update={"metrics": True}))
    async for client in _client_for(app):
        healthz = {"route": "/healthz", "method": "GET", "status": "200"}
        before = await client.get("/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        await client.get("/healthz")
        await client.get("/healthz")
        after = (await client.get("/metrics")).text
        moved = sample(after, "loomworks_http_requests_total", **healthz) - sample(
            before.text, "loomworks_http_requests_total", **healthz
        )
        assert moved == 2
        assert sample(after, "loomworks_http_request_duration_seconds_count", **healthz) >= 2
        # The pool gauges exist; no connection is held between requests.
        assert sample(after, "loomworks_db_pool_checked_out", database="primary") == 0


async def test_a_committed_decision_is_counted_by_kind(
    settings: Settings, engine: AsyncEngine, db: AsyncConnection
) -> None:
    app = create_app(settings.model_copy(update={"metrics": True}))
    async for client in _client_for(app):
        me = await sign_in(client, db)
        eid = await make_engagement(db, member=me)
        shape = await make_shape(db, eid)
        labels = {"item_kind": "pending_shape", "decision": "confirm"}
        before = sample((await client.get("/metrics")).text, "loomworks_decisions_total", **labels)
        url = f"/engagements/{eid}/shapes/{shape}/confirm"
        assert (await client.post(url)).status_code == 200
        assert (await client.post(url)).status_code == 200  # a repeat, not a new decision
        after = sample((await client.get("/metrics")).text, "loomworks_decisions_total", **labels)
        assert after - before == 1


async def test_metrics_on_their_own_port_leave_the_app(
    settings: Settings, engine: AsyncEngine
) -> None:
    port = _free_port()
    app = create_app(settings.model_copy(update={"metrics": True, "metrics_port": port}))
    async for client in _client_for(app):
        assert (await client.get("/metrics")).status_code == 404
        await client.get("/healthz")
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert sample(scraped.text, "loomworks_http_requests_total", route="/healthz") >= 1
    # Gone with the app.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
