"""create_app(): the FastAPI application with its routers, error handlers and engine lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from loomworks.api.docs import install_offline_docs
from loomworks.api.errors import install_error_handlers
from loomworks.api.limits import install_input_limits
from loomworks.api.routers import auth, dashboard, engagements, health, jobs, me, renders
from loomworks.db.engine import create_engine
from loomworks.demo.simulator import run_simulator
from loomworks.security import hashing_pool
from loomworks.settings import Settings


def create_app(
    settings: Settings, *, database_url: str | None = None, demo: bool = False
) -> FastAPI:
    """Build the app for `database_url` (default: settings.database_url); `demo` also runs
    the demo job simulator for as long as the app is up."""
    url = database_url or settings.database_url
    if not url:
        raise ValueError("create_app needs a database URL (the CLI starts the embedded server)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_engine(url, pool_size=settings.db_pool_size)
        app.state.hashing = hashing_pool(settings.hash_concurrency)
        app.state.cursor_key = None  # loaded on first use, so the app starts while the DB is down
        simulator = None
        if demo:
            simulator = asyncio.create_task(
                run_simulator(app.state.engine, tick_seconds=settings.demo_tick_seconds)
            )
        try:
            yield
        finally:
            if simulator is not None:
                simulator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await simulator
            await app.state.engine.dispose()
            app.state.hashing.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="Loomworks",
        summary="One call per dashboard zone across all of an operator's engagements.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_input_limits(app)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(settings.allowed_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "If-None-Match", "Last-Event-ID"],
            expose_headers=["ETag", "Retry-After", "X-Poll-Interval"],
        )
    for module in (health, auth, me, dashboard, engagements, jobs, renders):
        app.include_router(module.router)
    app.include_router(dashboard.engagement_router)
    install_offline_docs(app)
    return app


def app_from_env() -> FastAPI:
    """For process managers: `uvicorn --factory loomworks.app:app_from_env` (needs
    LOOMWORKS_DATABASE_URL; the embedded server is the CLI's job)."""
    return create_app(Settings())
