"""Prometheus metrics (docs/scaling.md): what the service counts, and how it is exposed.

The metric objects live at module level and are always counted (a counter increment is a
few hundred nanoseconds); `LOOMWORKS_METRICS` decides only whether anybody may read them.
Under several workers prometheus-client's multi-process mode applies: PROMETHEUS_MULTIPROC_DIR
(which `serve --workers` sets) must exist before this module is first imported, each
process writes its values there, and a scrape sums them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from sqlalchemy import event

if TYPE_CHECKING:  # the web framework only where the route is added: tools import this module
    from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.platform.settings import Settings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "loomworks_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "loomworks_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# livesum: the workers' pools add up; a worker that exits stops counting.
POOL_CHECKED_OUT = Gauge(
    "loomworks_db_pool_checked_out",
    "Pooled database connections in use, by database role.",
    ["database"],
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "loomworks_db_pool_overflow",
    "Connections open beyond the pool size (LOOMWORKS_DB_POOL_SIZE), by database role.",
    ["database"],
    multiprocess_mode="livesum",
)
DECISIONS = Counter(
    "loomworks_decisions",
    "Decisions taken (committed), by item kind and decision.",
    ["item_kind", "decision"],
)
UNDOS = Counter(
    "loomworks_undos",
    "Decisions undone (committed), by item kind and decision.",
    ["item_kind", "decision"],
)
LOGIN_THROTTLED = Counter(
    "loomworks_login_throttled",
    "Logins refused by the login throttle.",
)
EVENT_STREAMS = Gauge(
    "loomworks_event_streams",
    "Open GET /me/dashboard/events streams.",
    multiprocess_mode="livesum",
)
READ_ROUTES = Counter(
    "loomworks_read_routes",
    "Reads of zones, counts, details, history and downloads by the database that answered "
    "them (replica, primary), when read replicas are configured.",
    ["target"],
)
REPLICA_STALENESS = Gauge(
    "loomworks_replica_staleness_seconds",
    "How far behind the primary each read replica was at its last probe, at most "
    "(+Inf: down, promoted or not known); over LOOMWORKS_MAX_REPLICA_LAG_SECONDS it is skipped.",
    ["replica"],
    multiprocess_mode="livemax",
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """An access-middleware observer (loomworks.api.http.access)."""
    labels = (route, method, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def watch_pool(engine: AsyncEngine, *, database: str) -> None:
    """Keep the pool gauges current from the pool's own checkout/checkin events."""
    pool = engine.sync_engine.pool
    checked_out = POOL_CHECKED_OUT.labels(database)
    overflow = POOL_OVERFLOW.labels(database)

    def on_checkout(*_: Any) -> None:
        checked_out.inc()
        overflow.set(max(0, pool.overflow()))  # type: ignore[attr-defined]

    def on_checkin(*_: Any) -> None:
        checked_out.dec()
        overflow.set(max(0, pool.overflow()))  # type: ignore[attr-defined]

    event.listen(engine.sync_engine, "checkout", on_checkout)
    event.listen(engine.sync_engine, "checkin", on_checkin)


def _registry() -> CollectorRegistry:
    """This process's metrics, or every worker's summed when in multi-process mode."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def exposition() -> bytes:
    return generate_latest(_registry())


def install_metrics_route(app: FastAPI) -> None:
    """GET /metrics on the app itself; no session needed (scrapers have none)."""

    from fastapi import Response

    @app.get("/metrics", include_in_schema=False, response_model=None)
    def metrics() -> Any:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


@contextmanager
def metrics_server(settings: Settings) -> Iterator[None]:
    """prometheus-client's own HTTP server on LOOMWORKS_METRICS_HOST:PORT while the block
    runs. Under several workers the first to bind it serves everyone's sums; the others
    find the port taken and leave it to that one."""
    assert settings.metrics_port is not None
    try:
        server, thread = start_http_server(
            settings.metrics_port, addr=settings.metrics_host, registry=_registry()
        )
    except OSError as exc:
        log.info("metrics port %d not bound here (%s)", settings.metrics_port, exc)
        yield
        return
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def process_exited() -> None:
    """Stop counting this process's live gauges (multi-process mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
