"""Alembic environment: migrates the connection it is handed, or the configured database."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from loomworks.db.tables import metadata
from loomworks.platform.engine import create_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_on_configured_database() -> None:
    from loomworks.platform.embedded import database_url_or_embedded
    from loomworks.platform.settings import Settings

    with database_url_or_embedded(Settings()) as url:
        engine = create_engine(url, pool_size=1)
        async with engine.connect() as conn:
            await conn.run_sync(run_on)
            await conn.commit()
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

handed_connection = config.attributes.get("connection")
if handed_connection is not None:
    run_on(handed_connection)
else:
    asyncio.run(run_on_configured_database())
