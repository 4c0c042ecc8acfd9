"""The database hung, restarting or out of connections: every request answers 200 or a
prompt 503 with Retry-After, never 500, and the service recovers without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.db.tables import render_jobs, shaping_jobs
from loomworks.demo.seed import seed_demo
from loomworks.demo.simulator import run_simulator
from loomworks.platform.faults import is_unavailable
from tests.faults.conftest import Postgres, fault_settings

UNAVAILABLE = {"detail": "The database is unavailable; try again shortly."}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE
    assert int(response.headers["retry-after"]) > 0


async def _until_ok(client: httpx.AsyncClient, path: str, within: float) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(path)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_hung_database_healthz_503_within_3_s_then_recovers(
    postgres: Postgres, faulty_app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    assert (await signed_in.get("/healthz")).status_code == 200
    assert (await signed_in.get("/me/dashboard/active")).status_code == 200
    with postgres.hung():
        started = time.monotonic()
        health = await signed_in.get("/healthz")
        health_seconds = time.monotonic() - started
        assert_unavailable(health)
        assert health_seconds < 3

        # A zone waits at most for its statement bound (5 s and a margin) on a connection
        # it already had; then the pool's dead connections are gone, and later requests
        # fail within the connect timeout.
        started = time.monotonic()
        assert_unavailable(await signed_in.get("/me/dashboard/active"))
        assert time.monotonic() - started < 6.5
        started = time.monotonic()
        assert_unavailable(await signed_in.get("/me/dashboard/active"))
        assert time.monotonic() - started < 3
    # No restart of anything: the same app answers again once the database does.
    assert (await _until_ok(signed_in, "/healthz", within=5)).status_code == 200
    assert (await _until_ok(signed_in, "/me/dashboard/active", within=5)).status_code == 200
    assert faulty_app.state.engine.pool.checkedout() == 0


async def test_restart_mid_traffic_answers_only_200_or_503(
    postgres: Postgres, signed_in: httpx.AsyncClient
) -> None:
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def traffic(path: str) -> None:
        while not stop.is_set():
            response = await signed_in.get(path)
            statuses[response.status_code] += 1
            if response.status_code == 503:
                assert_unavailable(response)
            await asyncio.sleep(0.01)

    paths = ["/healthz", "/me", "/me/dashboard/active", "/me/dashboard/recent"] * 2
    workers = [asyncio.create_task(traffic(path)) for path in paths]
    try:
        await asyncio.sleep(0.5)
        # Shutting down (57P01), refused while down, starting up (57P03), then up again.
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(1)
        await asyncio.to_thread(postgres.start)
        await asyncio.sleep(1)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0 and statuses[200] > 0, statuses
    for path in set(paths):
        assert (await _until_ok(signed_in, path, within=5)).status_code == 200


async def test_pool_exhausted_answers_503_fast(
    postgres: Postgres, faulty_engine: AsyncEngine, signed_in: httpx.AsyncClient
) -> None:
    app = create_app(fault_settings(postgres, db_pool_size=1, db_pool_timeout_seconds=0.5))
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            cookies=signed_in.cookies,
        )
        async with client:
            engine = app.state.engine
            async with engine.connect() as one, engine.connect() as two:
                await one.execute(text("SELECT 1"))
                await two.execute(text("SELECT 1"))
                for path in ("/healthz", "/me", "/me/dashboard/active"):
                    started = time.monotonic()
                    assert_unavailable(await client.get(path))
                    assert time.monotonic() - started < 1.5
            assert (await client.get("/me")).status_code == 200


async def test_statement_past_its_timeout_is_503(
    postgres: Postgres, faulty_engine: AsyncEngine, signed_in: httpx.AsyncClient
) -> None:
    """A live server cancels a statement stuck behind a lock (a long migration, say) at the
    statement timeout; the caller gets a 503, and the lock holder is untouched."""
    app = create_app(fault_settings(postgres, db_statement_timeout_seconds=0.5))
    async with app.router.lifespan_context(app), faulty_engine.connect() as locker:
        await locker.execute(text("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE"))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            cookies=signed_in.cookies,
        )
        async with client:
            started = time.monotonic()
            assert_unavailable(await client.get("/me"))
            assert time.monotonic() - started < 2
            await locker.rollback()
            assert (await client.get("/me")).status_code == 200


def _wrapped(error: Exception) -> DBAPIError:
    """An asyncpg error as SQLAlchemy hands it to the app."""
    try:
        try:
            raise error
        except Exception as cause:
            raise DBAPIError("SELECT 1", None, cause) from cause
    except DBAPIError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients already"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        _wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
        _wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        sa_exc.TimeoutError("QueuePool limit of size 1 overflow 1 reached"),
        # Seen once mid-restart: a connection left mid-operation by a cut-off ping.
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_unavailable_condition_is_recognised(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
        _wrapped(asyncpg.exceptions.UndefinedColumnError("no such column")),
        ValueError("a bug"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_bugs_are_not_taken_for_outages(error: Exception) -> None:
    assert not is_unavailable(error)


async def test_demo_simulator_survives_an_outage(
    postgres: Postgres, faulty_app: FastAPI, faulty_engine: AsyncEngine
) -> None:
    async with faulty_engine.begin() as conn:
        await seed_demo(conn)
    engine = faulty_app.state.engine
    simulator = asyncio.create_task(run_simulator(engine, tick_seconds=0.2, seed=1))
    try:
        with postgres.hung():
            await asyncio.sleep(3)
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(1)
        await asyncio.to_thread(postgres.start)
        assert not simulator.done()
        await faulty_engine.dispose()  # the test's own connections died with the restart
        async with faulty_engine.connect() as conn:
            before = await _job_count(conn)
        await asyncio.sleep(2)
        async with faulty_engine.connect() as conn:
            # Ticks again: jobs finish and new ones start, so the total grows.
            assert await _job_count(conn) > before
    finally:
        simulator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await simulator


async def _job_count(conn: AsyncConnection) -> int:
    count: int = (await conn.execute(select(func.count()).select_from(shaping_jobs))).scalar_one()
    return count + (await conn.execute(select(func.count()).select_from(render_jobs))).scalar_one()
