"""One embedded PostgreSQL per test session, migrated once; every test starts from empty tables."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.platform.embedded import embedded_server
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head
from loomworks.platform.settings import Settings
from tests.fixtures.data import empty_tables

# The `browser` fixture, for the page's tests in tests/web and tests/faults; `standby`, a
# streaming replica of the session's database.
pytest_plugins = ["tests.fixtures.browser", "tests.fixtures.replica"]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A throwaway external database can stand in; its tables are emptied after every test.
    external = os.environ.get("LOOMWORKS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with embedded_server(tmp_path_factory.mktemp("pg") / "pgdata", delete_on_exit=True) as url:
        yield url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=4)
    await upgrade_to_head(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "engine" not in request.fixturenames:
        return
    engine: AsyncEngine = request.getfixturevalue("engine")
    async with engine.connect() as conn:
        await empty_tables(await conn.execution_options(isolation_level="AUTOCOMMIT"))


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose every statement commits at once, so the app sees test data."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, db_pool_size=2)


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def empty_database(database_url: str, engine: AsyncEngine) -> AsyncIterator[str]:
    """The URL of a new, empty database (no schema) on the test server, dropped afterwards."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = await engine.execution_options(isolation_level="AUTOCOMMIT").connect()
    await admin.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.close()
