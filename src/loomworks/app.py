"""create_app(): the FastAPI application with its routers, error handlers and engine lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.api.errors import install_error_handlers
from loomworks.api.routers import (
    auth,
    dashboard,
    decisions,
    engagements,
    health,
    jobs,
    me,
    renders,
)
from loomworks.db.engine import create_engine
from loomworks.settings import Settings

log = logging.getLogger(__name__)

# Work that runs beside the API for as long as it is up, on the app's engine (the CLI passes
# the demo simulator this way, so the app itself knows nothing of the demo).
BackgroundWork = Callable[[AsyncEngine], Awaitable[None]]


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_engine(url, pool_size=settings.db_pool_size)
        app.state.cursor_key = None  # loaded on first use, so the app starts while the DB is down
        tasks = [asyncio.ensure_future(work(app.state.engine)) for work in background]
        try:
            yield
        finally:
            await _cancel(tasks)
            await app.state.engine.dispose()

    app = FastAPI(
        title="Loomworks",
        summary="One call per dashboard zone across all of an operator's engagements.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for module in (health, auth, me, dashboard, decisions, engagements, jobs, renders):
        app.include_router(module.router)
    app.include_router(dashboard.engagement_router)
    return app


async def _cancel(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Cancel the background tasks and wait for them, so none outlives the engine; one that
    had already crashed is logged rather than allowed to stop the shutdown."""
    for task in tasks:
        task.cancel()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.error("background task had failed", exc_info=outcome)


def app_from_env() -> FastAPI:
    """For process managers: `uvicorn --factory loomworks.app:app_from_env` (needs
    LOOMWORKS_DATABASE_URL; the embedded server is the CLI's job)."""
    return create_app(Settings())
