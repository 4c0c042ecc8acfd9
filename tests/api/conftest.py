"""Fixtures of the API tests beyond the session-wide ones in tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.app import create_app
from loomworks.platform.settings import Settings


@pytest.fixture
async def wide_client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose pool lets every concurrent decider hold its own connection."""
    app: FastAPI = create_app(settings.model_copy(update={"db_pool_size": 8}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
