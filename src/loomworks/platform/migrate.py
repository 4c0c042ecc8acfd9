"""Run the Alembic migrations from code (the CLI, the app's start-up and the tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# The project's top-level alembic/ in a source checkout; an installed wheel carries the same
# folder inside the package (pyproject.toml, force-include), so it migrates by itself.
_PACKAGE = Path(__file__).resolve().parents[1]
MIGRATIONS = next(
    (place for place in (_PACKAGE / "alembic", _PACKAGE.parents[1] / "alembic") if place.is_dir()),
    _PACKAGE.parents[1] / "alembic",
)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["configure_logging"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    await _run(engine, lambda config: command.upgrade(config, "head"))


async def downgrade_to_base(engine: AsyncEngine) -> None:
    await _run(engine, lambda config: command.downgrade(config, "base"))


async def _run(engine: AsyncEngine, step: Callable[[Config], None]) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(lambda sync_conn: step(alembic_config(sync_conn)))
        await conn.commit()
