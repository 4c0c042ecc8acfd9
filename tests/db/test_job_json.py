"""Job JSON is always an object: the schema refuses anything else, migration 0008 repairs
what was stored before, and progress writes never turn a stored value into an array."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Table, null, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.jobs import JOB_TABLES, record_counts, record_phase
from loomworks.platform.migrate import alembic_config, upgrade_to_head
from tests.fixtures.data import make_engagement, make_external, make_render_job, make_shaping_job

NOT_OBJECTS = ["null", "[]", '"text"', "42", '[{"phase": {"key": "fetching"}}]']
JSON_COLUMNS = [
    ("shape_production", "context"),
    ("shape_production", "summary_counts"),
    ("render_production", "context"),
    ("render_production", "summary_counts"),
    ("external_polling", "context"),
]
MAKERS = {
    "shape_production": make_shaping_job,
    "render_production": make_render_job,
    "external_polling": make_external,
}


async def _store(conn: AsyncConnection, table: Table, job_id: Any, column: str, raw: str) -> None:
    await conn.execute(
        text(f"UPDATE {table.name} SET {column} = CAST(:raw AS jsonb) WHERE id = :id"),
        {"raw": raw, "id": job_id},
    )


@pytest.mark.parametrize(("kind", "column"), JSON_COLUMNS)
@pytest.mark.parametrize("raw", NOT_OBJECTS)
async def test_schema_refuses_non_objects(
    db: AsyncConnection, kind: str, column: str, raw: str
) -> None:
    job = await MAKERS[kind](db, await make_engagement(db))
    with pytest.raises(IntegrityError, match=f"{column}_object"):
        await _store(db, JOB_TABLES[kind], job, column, raw)


async def test_contract_columns_alone_and_sql_null_stay_valid(db: AsyncConnection) -> None:
    eid = await make_engagement(db)
    await make_shaping_job(db, eid)
    render = await make_render_job(db, eid, context=null(), summary_counts=null())
    external = await make_external(db, eid, context=null())
    assert (await db.execute(select(JOB_TABLES["shape_production"].c.context))).scalar() == {}
    for kind, job in (("render_production", render), ("external_polling", external)):
        table = JOB_TABLES[kind]
        assert (
            await db.execute(select(table.c.context).where(table.c.id == job))
        ).scalar_one() is None
    await record_phase(db, "render_production", render, "fetching")
    await record_counts(db, "render_production", render, processed=1, total=2)
    table = JOB_TABLES["render_production"]
    query = select(table.c.context, table.c.summary_counts).where(table.c.id == render)
    row = (await db.execute(query)).one()
    assert row.context == {"phase": {"key": "fetching"}}
    assert row.summary_counts == {"processed": 1, "total": 2}


@pytest.mark.parametrize(("kind", "column"), JSON_COLUMNS)
@pytest.mark.parametrize("raw", NOT_OBJECTS)
async def test_writes_take_a_stored_non_object_as_empty(
    engine: AsyncEngine, kind: str, column: str, raw: str
) -> None:
    """Should a non-object get past the schema (a database restored from before migration
    0008), a progress write still leaves an object with the new progress in it."""
    table = JOB_TABLES[kind]
    async with engine.connect() as conn:
        try:
            job = await MAKERS[kind](conn, await make_engagement(conn))
            await conn.execute(
                text(f"ALTER TABLE {table.name} DROP CONSTRAINT ck_{table.name}_{column}_object")
            )
            await _store(conn, table, job, column, raw)
            if column == "context":
                await record_phase(conn, kind, job, "persisting")
                expected: dict[str, Any] = {"phase": {"key": "persisting"}}
            else:
                await record_counts(conn, kind, job, processed=2, total=5)
                expected = {"processed": 2, "total": 5}
            stored = (
                await conn.execute(select(table.c[column]).where(table.c.id == job))
            ).scalar_one()
            assert stored == expected
        finally:
            await conn.rollback()


def _revision_before_0008() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    down = script.get_revision("0008").down_revision
    assert isinstance(down, str)
    return down


async def test_migration_repairs_stored_non_objects(engine: AsyncEngine) -> None:
    before = _revision_before_0008()

    def downgrade(sync_conn: Connection) -> None:
        command.downgrade(alembic_config(sync_conn), before)

    async with engine.connect() as conn:
        await conn.run_sync(downgrade)
        await conn.commit()
    try:
        async with engine.begin() as conn:
            eid = await make_engagement(conn)
            jobs = {}
            for n, raw in enumerate(NOT_OBJECTS):
                for kind in MAKERS:
                    job = await MAKERS[kind](conn, eid)
                    for table_kind, column in JSON_COLUMNS:
                        if table_kind == kind:
                            await _store(conn, JOB_TABLES[kind], job, column, raw)
                    jobs[(kind, n)] = job
            kept = await make_shaping_job(
                conn, eid, context={"phase": {"key": "fetching"}}, summary_counts={"total": 3}
            )
    finally:
        await upgrade_to_head(engine)
    async with engine.connect() as conn:
        for (kind, _), job in jobs.items():
            table = JOB_TABLES[kind]
            for table_kind, column in JSON_COLUMNS:
                if table_kind == kind:
                    stored = (
                        await conn.execute(select(table.c[column]).where(table.c.id == job))
                    ).scalar_one()
                    assert stored == {}, (kind, column)
        shaping = JOB_TABLES["shape_production"]
        row = (
            await conn.execute(
                select(shaping.c.context, shaping.c.summary_counts).where(shaping.c.id == kept)
            )
        ).one()
        assert row.context == {"phase": {"key": "fetching"}}
        assert row.summary_counts == {"total": 3}
