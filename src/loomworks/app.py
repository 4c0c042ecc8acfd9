"""create_app(): the FastAPI application with its routers, error handlers and engine lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from uvicorn.config import STARTUP_FAILURE

from loomworks.api.errors import install_error_handlers
from loomworks.api.routers import auth, dashboard, engagements, health, jobs, me, renders
from loomworks.db.engine import BadDatabaseURL, DatabaseTimeouts, async_url, create_engine
from loomworks.demo.simulator import run_simulator
from loomworks.settings import Settings, first_error

log = logging.getLogger(__name__)


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
        app.state.engine = create_engine(
            url, pool_size=settings.db_pool_size, timeouts=DatabaseTimeouts.for_service(settings)
        )
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
            await _dispose(app.state.engine, settings)

    app = FastAPI(
        title="Loomworks",
        summary="One call per dashboard zone across all of an operator's engagements.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for module in (health, auth, me, dashboard, engagements, jobs, renders):
        app.include_router(module.router)
    app.include_router(dashboard.engagement_router)
    return app


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
