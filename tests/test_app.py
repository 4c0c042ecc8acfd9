"""create_app runs background work beside the API for exactly as long as the app is up."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.app import create_app
from loomworks.platform.settings import Settings


async def test_background_work_runs_on_the_app_engine_until_shutdown(settings: Settings) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()
    seen: list[int] = []

    async def work(engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            seen.append((await conn.execute(text("SELECT 1"))).scalar_one())
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    app = create_app(settings, background=[work])
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(started.wait(), timeout=10)
        assert seen == [1]
        assert not cancelled.is_set()
    assert cancelled.is_set()


async def test_background_work_that_crashed_does_not_stop_shutdown(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def crash(engine: AsyncEngine) -> None:
        raise RuntimeError("boom")

    app = create_app(settings, background=[crash])
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0)
    assert "background task had failed" in caplog.text
