"""The installation's own secrets, made by the first migration."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import instance_secrets


async def load_cursor_key(conn: AsyncConnection) -> bytes:
    """The installation's cursor signing key."""
    key: bytes = (
        await conn.execute(
            select(instance_secrets.c.secret).where(instance_secrets.c.name == "cursor")
        )
    ).scalar_one()
    return key
