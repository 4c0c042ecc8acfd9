"""Liveness that means something: the database answers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from loomworks.api.deps import Conn
from loomworks.api.schemas.errors import errors

router = APIRouter(tags=["health"], responses=errors(503))


@router.get("/healthz")
async def healthz(conn: Conn) -> dict[str, str]:
    """200 when the database answers a query; 503 JSON when it does not."""
    await conn.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
