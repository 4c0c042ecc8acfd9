"""The migrations build exactly the tables the code describes, and unwind cleanly."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, TextClause, inspect, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex

from loomworks.core.states import TokenScope
from loomworks.core.webhooks import OWNER_DISABLED, outbox_by_registry
from loomworks.db import outbox
from loomworks.db.counters import (
    RENAME_FUNCTION_SQL,
    apply_function_sql,
    audiences_by_registry,
    counted_by_registry,
    counters_deleted_sql,
    downloads_by_registry,
    files_function_sql,
    function_sql,
    kind_zones_by_registry,
    membership_versions_sql,
    truncate_function_sql,
)
from loomworks.db.people import DISABLED_FUNCTION_SQL
from loomworks.db.search import FUNCTION_SQL
from loomworks.db.tables import access_tokens, metadata, sessions, webhook_deliveries, webhooks
from loomworks.db.tokens import create_token
from loomworks.platform.migrate import alembic_config, downgrade_to_base, upgrade_to_head
from tests.fixtures.data import make_person, make_session
from tests.fixtures.webhooks import pinged_webhook

# Indexes on expressions (the search indexes): Alembic compares their text, which PostgreSQL
# rewrites (casts, brackets), so test_expression_indexes_match_table_metadata compares them.
EXPRESSION_INDEXES: list[Index] = [
    index
    for table in metadata.sorted_tables
    for index in sorted(table.indexes, key=lambda index: str(index.name))
    if not all(isinstance(expression, Column | TextClause) for expression in index.expressions)
]
_EXPRESSION_INDEX_NAMES = {index.name for index in EXPRESSION_INDEXES}


def _compared(_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and name in _EXPRESSION_INDEX_NAMES)


def _diff(sync_conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        sync_conn, opts={"compare_type": True, "include_object": _compared}
    )
    return compare_metadata(context, metadata)


def _tables(sync_conn: Connection) -> set[str]:
    return set(inspect(sync_conn).get_table_names())


async def test_migrations_match_table_metadata(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_downgrade_then_upgrade_round_trip(engine: AsyncEngine) -> None:
    await downgrade_to_base(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) == {"alembic_version"}
    await upgrade_to_head(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) >= {table.name for table in metadata.sorted_tables}
        assert await conn.run_sync(_diff) == []


async def test_counter_triggers_count_what_the_registry_declares(engine: AsyncEngine) -> None:
    """A source added to loomworks.core.kinds without the migration that counts it fails here."""
    async with engine.connect() as conn:
        installed = dict(
            (
                await conn.execute(
                    text(
                        "SELECT proname, prosrc FROM pg_proc "
                        "WHERE proname LIKE 'dashboard\\_count\\_%'"
                    )
                )
            ).all()
        )
    expected = {
        "dashboard_count_render_files": files_function_sql(downloads_by_registry()),
        "dashboard_count_engagements": RENAME_FUNCTION_SQL,
    }
    expected = {name: sql.split("$$")[1] for name, sql in expected.items()}
    for table, counted in counted_by_registry().items():
        expected[f"dashboard_count_{table}"] = function_sql(table, counted).split("$$")[1]
        expected[f"dashboard_count_truncate_{table}"] = truncate_function_sql(table, counted).split(
            "$$"
        )[1]
    assert installed == expected


async def test_outbox_triggers_record_what_the_registry_declares(engine: AsyncEngine) -> None:
    """A source added to loomworks.core.kinds without the migration that records its webhook
    events fails here."""
    async with engine.connect() as conn:
        installed = dict(
            (
                await conn.execute(
                    text(
                        "SELECT proname, prosrc FROM pg_proc "
                        "WHERE proname LIKE 'webhook\\_outbox\\_%'"
                    )
                )
            ).all()
        )
    expected = {
        f"webhook_outbox_{table}": outbox.function_sql(table, recorded).split("$$")[1]
        for table, recorded in outbox_by_registry().items()
    }
    assert installed == expected


async def test_person_versions_follow_what_the_registry_declares(engine: AsyncEngine) -> None:
    """A kind, zone or audience changed without the migration that re-installs the version
    triggers fails here."""
    names = ("dashboard_apply", "dashboard_counts_deleted", "dashboard_membership_versions")
    async with engine.connect() as conn:
        installed = dict(
            (
                await conn.execute(
                    text("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(:names)"),
                    {"names": list(names)},
                )
            ).all()
        )
    kinds, audiences = kind_zones_by_registry(), audiences_by_registry()
    expected = {
        "dashboard_apply": apply_function_sql(kinds, audiences),
        "dashboard_counts_deleted": counters_deleted_sql(kinds, audiences)[0],
        "dashboard_membership_versions": membership_versions_sql(audiences)[0],
    }
    assert installed == {name: sql.split("$$")[1] for name, sql in expected.items()}


async def test_expression_indexes_match_table_metadata(engine: AsyncEngine) -> None:
    """Each index on an expression that db/tables.py declares is the migrated one, as
    PostgreSQL itself reads both: the declared one is built under a scratch name (and rolled
    back) and the two definitions compared; no other expression index is installed."""
    assert EXPRESSION_INDEXES  # the search indexes (db/search.py)
    definition = text("SELECT indexdef FROM pg_indexes WHERE indexname = :name")
    async with engine.connect() as conn:
        installed = dict(
            (
                await conn.execute(
                    text(
                        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i "
                        "JOIN pg_class c ON c.oid = i.indexrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = 'public' AND i.indexprs IS NOT NULL"
                    )
                )
            ).all()
        )
        declared = {}
        for index in EXPRESSION_INDEXES:
            ddl = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
            scratch = "drift_check_index"
            await conn.exec_driver_sql(ddl.replace(f" {index.name} ", f" {scratch} ", 1))
            built = (await conn.execute(definition, {"name": scratch})).scalar_one()
            await conn.rollback()
            declared[index.name] = built.replace(f" {scratch} ", f" {index.name} ", 1)
    assert installed == declared


async def test_search_function_is_what_the_code_declares(engine: AsyncEngine) -> None:
    """search_trigrams() as migrated is db/search.py's FUNCTION_SQL, which the search
    indexes and the zone statements both call."""
    async with engine.connect() as conn:
        installed = (
            await conn.execute(text("SELECT prosrc FROM pg_proc WHERE proname = 'search_trigrams'"))
        ).scalar_one()
    assert installed == FUNCTION_SQL.split("$$")[1]


async def test_disabling_a_person_does_what_the_code_declares(engine: AsyncEngine) -> None:
    """The function behind the trigger on persons.disabled_at, as migrated, is db/people.py's
    (a migration keeps a frozen copy; a change to either without the other fails here)."""
    async with engine.connect() as conn:
        installed = (
            await conn.execute(text("SELECT prosrc FROM pg_proc WHERE proname = 'person_disabled'"))
        ).scalar_one()
    assert installed == DISABLED_FUNCTION_SQL.split("$$")[1]


async def test_the_migration_switches_off_webhooks_of_people_disabled_before_it(
    engine: AsyncEngine,
) -> None:
    """Webhooks of a person disabled before 0018 (who kept receiving) are off after it, their
    pending deliveries ended; an enabled person's are untouched."""

    def downgrade(sync_conn: Connection) -> None:
        command.downgrade(alembic_config(sync_conn), "0017")

    async with engine.connect() as conn:
        await conn.run_sync(downgrade)
        await conn.commit()
    try:
        async with engine.begin() as conn:
            hooks = {}
            for name in ("gone", "here"):
                person = await make_person(conn, name=name)
                hook = await pinged_webhook(conn, person.id)
                hooks[name] = hook.id
            await conn.execute(
                text("UPDATE persons SET disabled_at = now() WHERE display_name = 'gone'")
            )
    finally:
        await upgrade_to_head(engine)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(webhooks.c.id, webhooks.c.active, webhooks.c.deactivated_reason)
        )
        states = await conn.execute(
            select(webhook_deliveries.c.webhook_id, webhook_deliveries.c.state)
        )
        assert {row.id: (row.active, row.deactivated_reason) for row in rows} == {
            hooks["gone"]: (False, OWNER_DISABLED),
            hooks["here"]: (True, None),
        }
        assert dict(states.all()) == {hooks["gone"]: "failed", hooks["here"]: "pending"}


async def test_the_migration_revokes_sessions_and_tokens_of_people_disabled_before_it(
    engine: AsyncEngine,
) -> None:
    """A person disabled in SQL before 0019 kept live (refused) sessions and tokens, which
    clearing disabled_at would have revived: after it they are revoked; an enabled
    person's are untouched."""

    def downgrade(sync_conn: Connection) -> None:
        command.downgrade(alembic_config(sync_conn), "0018")

    async with engine.connect() as conn:
        await conn.run_sync(downgrade)
        await conn.commit()
    try:
        async with engine.begin() as conn:
            people = {}
            for name in ("gone", "here"):
                person = await make_person(conn, name=name)
                await make_session(conn, person)
                await create_token(
                    conn,
                    person_id=person.id,
                    name="bot",
                    scopes=(TokenScope.READ,),
                    lifetime=timedelta(days=1),
                )
                people[person.id] = name
            await conn.execute(
                text("UPDATE persons SET disabled_at = now() WHERE display_name = 'gone'")
            )
            # 0018's trigger refused them but did not revoke them.
            assert await _revoked(conn, people) == {("gone", False), ("here", False)}
    finally:
        await upgrade_to_head(engine)
    async with engine.connect() as conn:
        assert await _revoked(conn, people) == {("gone", True), ("here", False)}


async def _revoked(conn: AsyncConnection, people: dict[uuid.UUID, str]) -> set[tuple[str, bool]]:
    """(person, revoked) of every session and token, for the people named in `people`."""
    found = set()
    for table in (sessions, access_tokens):
        rows = await conn.execute(select(table.c.person_id, table.c.revoked_at.is_not(None)))
        found |= {(people[person_id], revoked) for person_id, revoked in rows}
    return found
