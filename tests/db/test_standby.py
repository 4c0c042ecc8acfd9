"""A real streaming standby of the test database: it replays the primary's writes and refuses
its own, holds them back while replay is paused, and catches up after a restart."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.tables import persons
from loomworks.platform.engine import create_engine
from loomworks.platform.faults import is_unavailable
from tests.fixtures.data import make_person
from tests.fixtures.replica import REPLICA_TIMEOUTS, wait_until_replayed
from tests.fixtures.standby import SLOT_PREFIX, Standby, embedded_standby

# Before any fixture connects: a standby is made only of the embedded test database.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("LOOMWORKS_TEST_DATABASE_URL")),
    reason="a standby is made only of the embedded test database, not an external one",
)

CATCH_UP_SECONDS = 5.0


@pytest.fixture
async def replica(standby: Standby) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(standby.url, pool_size=2, timeouts=REPLICA_TIMEOUTS)
    yield engine
    await engine.dispose()


async def _scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def _email(engine: AsyncEngine, person_id: uuid.UUID) -> str | None:
    async with engine.connect() as conn:
        query = select(persons.c.email).where(persons.c.id == person_id)
        return (await conn.execute(query)).scalar_one_or_none()


async def _current_lsn(db: AsyncConnection) -> int:
    lsn: int = (await db.execute(text("SELECT pg_current_wal_lsn()"))).scalar_one()  # asyncpg: int
    return lsn


async def _until(engine: AsyncEngine, condition: str, lsn: int = 0) -> None:
    """Wait until `condition` (SQL, maybe with :lsn) holds on the standby."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        async with engine.connect() as conn:
            if (await conn.execute(text(f"SELECT {condition}"), {"lsn": lsn})).scalar_one():
                return
        assert time.monotonic() < deadline, f"not within {CATCH_UP_SECONDS} s: {condition}"
        await asyncio.sleep(0.05)


async def _visible(engine: AsyncEngine, person_id: uuid.UUID) -> str:
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while (email := await _email(engine, person_id)) is None:
        assert time.monotonic() < deadline, "the primary's row never reached the standby"
        await asyncio.sleep(0.05)
    return email


async def test_the_standby_replays_the_primarys_writes_and_refuses_its_own(
    db: AsyncConnection, replica: AsyncEngine
) -> None:
    # Whatever earlier tests wrote (the migration tests drop and rebuild every table) is
    # replayed first, so the tables exist on the standby.
    await wait_until_replayed(db, replica)
    assert await _scalar(replica, "SELECT pg_is_in_recovery()") is True
    assert await _scalar(replica, "SHOW transaction_read_only") == "on"
    slot = await db.execute(
        text("SELECT active FROM pg_replication_slots WHERE slot_name LIKE :prefix"),
        {"prefix": SLOT_PREFIX + "%"},
    )
    assert slot.scalars().all() == [True]

    person = await make_person(db, email="ada@example.test")
    assert await _visible(replica, person.id) == "ada@example.test"

    async with replica.connect() as conn:
        with pytest.raises(sa_exc.DBAPIError) as refused:
            await conn.execute(insert(persons).values(email="bea@example.test", display_name="Bea"))
    assert getattr(refused.value.orig, "sqlstate", None) == "25006"  # read_only_sql_transaction


async def test_paused_replay_holds_back_received_writes_until_resumed(
    db: AsyncConnection, replica: AsyncEngine
) -> None:
    await wait_until_replayed(db, replica)
    await _scalar(replica, "SELECT pg_wal_replay_pause()")
    await _until(replica, "pg_get_wal_replay_pause_state() = 'paused'")

    person = await make_person(db)
    lsn = await _current_lsn(db)
    # The write has reached the standby; only the pause keeps it from view.
    await _until(replica, "pg_last_wal_receive_lsn() >= :lsn", lsn)
    await asyncio.sleep(0.2)
    assert await _email(replica, person.id) is None
    async with replica.connect() as conn:
        replayed = await conn.execute(text("SELECT pg_last_wal_replay_lsn()"))
        assert replayed.scalar_one() < lsn

    await _scalar(replica, "SELECT pg_wal_replay_resume()")
    assert await _visible(replica, person.id) == person.email


async def test_a_stopped_standby_refuses_connections_and_catches_up_once_started(
    db: AsyncConnection, standby: Standby
) -> None:
    standby.stop()
    assert not standby.running
    engine = create_engine(standby.url, pool_size=1, timeouts=REPLICA_TIMEOUTS)
    try:
        with pytest.raises(Exception) as refused:
            await _scalar(engine, "SELECT 1")
        assert is_unavailable(refused.value), refused.value

        # Written while the standby is down: its slot keeps the WAL on the primary.
        person = await make_person(db)
        await db.execute(text("CHECKPOINT"))

        standby.start()
        assert standby.running
        assert await _visible(engine, person.id) == person.email
    finally:
        await engine.dispose()


def _standby_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(pgdata) in (process.info["cmdline"] or []):
            found.append(process)
    return found


async def test_leaving_the_block_stops_the_standby_removes_it_and_drops_its_slot(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    pgdata = tmp_path / "pgdata"
    with pytest.raises(RuntimeError, match="boom"), embedded_standby(database_url, pgdata) as sb:
        assert sb.running
        assert _standby_processes(pgdata.resolve())
        async with engine.connect() as conn:
            slots = await conn.execute(
                text("SELECT count(*) FROM pg_replication_slots WHERE active")
            )
            assert slots.scalar_one() >= 1
        raise RuntimeError("boom")

    assert not pgdata.exists()
    assert not _standby_processes(pgdata.resolve())
    async with engine.connect() as conn:
        names = await conn.execute(text("SELECT slot_name FROM pg_replication_slots"))
        # Only the session's `standby` fixture's slot, if that one is up.
        assert len(names.scalars().all()) <= 1
