"""create_app(): the FastAPI application with its routers, error handlers and engine lifespan."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import NoReturn

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE

from loomworks.api.deps.reads import ReplicaFallback
from loomworks.api.http.access import AccessMiddleware
from loomworks.api.http.docs import install_offline_docs
from loomworks.api.http.errors import install_error_handlers
from loomworks.api.http.limits import install_input_limits
from loomworks.api.http.transport import remember_server_send
from loomworks.api.routers import (
    auth,
    dashboard,
    decisions,
    engagements,
    events,
    health,
    jobs,
    me,
    renders,
    tokens,
    triage,
    webhooks,
)
from loomworks.api.routers.page import install_page
from loomworks.db.login import SignInGates
from loomworks.db.replicas import ReadRouter, Replica
from loomworks.live.hub import EventHub
from loomworks.live.waker import wake_forever
from loomworks.live.webhooks import SENDER_CONNECTIONS, WebhookSender
from loomworks.platform import metrics
from loomworks.platform.engine import DatabaseTimeouts, create_engine
from loomworks.platform.security import hashing_pool
from loomworks.platform.settings import Settings, first_error
from loomworks.platform.shutdown import Shutdown
from loomworks.platform.urls import BadDatabaseURL, async_url

log = logging.getLogger(__name__)

API_NAME = "loomworks-api"  # the application_name of the service's database connections
BACKGROUND_NAME = "loomworks-background"  # and of the webhook sender's and the waker's

# Work that runs beside the API for as long as it is up, on the app's engine (the CLI passes
# the demo simulator this way, so the app itself knows nothing of the demo).
BackgroundWork = Callable[[AsyncEngine], Awaitable[None]]


class LoomworksAPI(FastAPI):
    """FastAPI, taking note of the server's own `send` before any middleware wraps it, so a
    response can cut off a client that stopped reading (api/http/transport.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        remember_server_send(scope, send)
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    database_url: str | None = None,
    background: Sequence[BackgroundWork] = (),
) -> FastAPI:
    """Build the app for `database_url` (default: settings.database_url). Each of
    `background` is started as a task once the engine exists and cancelled on shutdown."""
    url = database_url or settings.database_url
    if not url:
        raise ValueError("create_app needs a database URL (the CLI starts the embedded server)")
    app = LoomworksAPI(
        title="Loomworks",
        summary="One call per dashboard zone across all of an operator's engagements.",
        version="0.1.0",
        lifespan=_lifespan(settings, url, background),
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(ReplicaFallback)  # first, so innermost: it re-runs only the route
    install_input_limits(app)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(settings.allowed_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "If-None-Match", "Last-Event-ID"],
            expose_headers=["ETag", "Retry-After", "X-Poll-Interval"],
        )
    # Requests are matched against the routers in this order, and the dashboard's reads are
    # the hottest after /healthz: each router passed on the way costs every read time
    # (docs/benchmarks.md). It is also the order of /docs: the product's main calls first.
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard.engagement_router)
    for module in (
        auth,
        me,
        tokens,
        webhooks,
        events,
        decisions,
        engagements,
        jobs,
        renders,
        triage,
    ):
        app.include_router(module.router)
    install_offline_docs(app)
    install_page(app)
    observers = (metrics.observe_request,) if settings.metrics else ()
    app.add_middleware(AccessMiddleware, observers=observers)
    if settings.metrics and settings.metrics_port is None:
        metrics.install_metrics_route(app)
    return app


def _lifespan(
    settings: Settings, url: str, background: Sequence[BackgroundWork]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What the app holds while it is up (engines, event hub, background tasks), opened at
    start-up and closed at shutdown whatever state the database is in."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _open(app, settings, url)
        tasks = [asyncio.ensure_future(work(app.state.engine)) for work in background]
        tasks.append(asyncio.ensure_future(app.state.shutdown.watch()))
        tasks.append(asyncio.ensure_future(wake_forever(app.state.background_engine)))
        if app.state.reads.replicas:
            tasks.append(asyncio.ensure_future(app.state.reads.watch()))
        try:
            async with AsyncExitStack() as stack:
                if settings.metrics:
                    metrics.watch_pool(app.state.engine, database="primary")
                    for replica in app.state.reads.replicas:
                        metrics.watch_pool(replica.engine, database=replica.name)
                if settings.metrics and settings.metrics_port is not None:
                    stack.enter_context(metrics.metrics_server(settings))
                yield
        finally:
            await _cancel(tasks)
            await app.state.events.close()
            await app.state.webhooks.close()
            engines = (app.state.engine, app.state.background_engine)
            for engine in (*engines, *(r.engine for r in app.state.reads.replicas)):
                await _dispose(engine, settings)
            app.state.hashing.shutdown(wait=False, cancel_futures=True)
            metrics.process_exited()

    return lifespan


def _open(app: FastAPI, settings: Settings, url: str) -> None:
    """Nothing here connects: the app starts while the database is down."""
    timeouts = DatabaseTimeouts.for_service(settings)
    app.state.engine = create_engine(
        url, pool_size=settings.db_pool_size, timeouts=timeouts, application_name=API_NAME
    )
    # The same pool, each connection in autocommit while it is lent: a dashboard read is one
    # statement and needs no BEGIN and ROLLBACK around it (api/deps/reads.DashboardCaller).
    app.state.autocommit_engine = app.state.engine.execution_options(isolation_level="AUTOCOMMIT")
    app.state.reads = read_router(app.state.engine, settings, timeouts)
    app.state.hashing = hashing_pool(settings.hash_concurrency)
    app.state.sign_in_gates = SignInGates.for_pool(settings.db_pool_size)
    app.state.cursor_key = None  # loaded on first use
    # The process's one LISTEN connection for event streams; it connects (and reconnects)
    # in the background.
    # When the server exits, open downloads and streams end before its graceful bound.
    app.state.shutdown = Shutdown(settings.shutdown_timeout_seconds)
    app.state.events = EventHub(
        app.state.engine,
        shutdown=app.state.shutdown,
        heartbeat_seconds=settings.events_heartbeat_seconds,
        queue_size=settings.events_queue_size,
        settle=app.state.reads.settle if app.state.reads.replicas else None,
    )
    app.state.events.start()
    # Background work (the webhook sender and the triage waker) has a small pool of its own:
    # the requests' pool, and its gauges, are the requests' alone. Every process sends
    # webhooks and wakes snoozes; they share the work through the database.
    app.state.background_engine = create_engine(
        url,
        pool_size=SENDER_CONNECTIONS + 1,
        timeouts=timeouts,
        application_name=BACKGROUND_NAME,
    )
    app.state.webhooks = WebhookSender(app.state.background_engine, settings)
    app.state.webhooks.start()


def read_router(primary: AsyncEngine, settings: Settings, timeouts: DatabaseTimeouts) -> ReadRouter:
    """The replicas of LOOMWORKS_READ_DATABASE_URLS, numbered as listed ("replica 1", ...)."""
    replicas = [
        Replica(
            f"replica {number}",
            create_engine(
                replica_url,
                pool_size=settings.db_pool_size,
                timeouts=timeouts,
                application_name=API_NAME,
            ),
        )
        for number, replica_url in enumerate(settings.read_urls, start=1)
    ]
    return ReadRouter(
        primary,
        replicas,
        max_lag=settings.max_replica_lag_seconds,
        probe_every=settings.replica_probe_seconds,
        probe_timeout=settings.db_connect_timeout_seconds,
    )


async def _cancel(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Cancel the background tasks and wait for them, so none outlives the engine; one that
    had already crashed is logged rather than allowed to stop the shutdown."""
    for task in tasks:
        task.cancel()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.error("background task had failed", exc_info=outcome)


async def _dispose(engine: AsyncEngine, settings: Settings) -> None:
    """Close the pool, but never wait on a hung database past the connect timeout: shutdown
    must finish whatever state the database is in."""
    try:
        async with asyncio.timeout(settings.db_connect_timeout_seconds):
            await engine.dispose()
    except TimeoutError:
        log.warning("database did not answer while closing connections; leaving them")


def app_from_env() -> FastAPI:
    """For process managers: `uvicorn --factory loomworks.app:app_from_env` (needs
    LOOMWORKS_DATABASE_URL; the embedded server is the CLI's job)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        _refuse_to_start(f"invalid setting {first_error(exc)}")
    if not settings.database_url:
        _refuse_to_start(
            "LOOMWORKS_DATABASE_URL is not set; uvicorn needs an external database "
            "(`loomworks serve` runs the embedded one)"
        )
    try:
        async_url(settings.database_url)
    except BadDatabaseURL as exc:
        _refuse_to_start(f"LOOMWORKS_DATABASE_URL: {exc}")
    return create_app(settings)


def _refuse_to_start(message: str) -> NoReturn:
    print(f"loomworks: error: {message}", file=sys.stderr, flush=True)
    # uvicorn's code for "this worker can never start": its supervisor stops rather than
    # restarting the worker in a loop.
    raise SystemExit(STARTUP_FAILURE)
