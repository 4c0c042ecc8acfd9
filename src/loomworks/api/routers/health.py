"""Liveness that means something: the database answers, promptly."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from loomworks.api.deps import Engine
from loomworks.api.schemas.errors import errors
from loomworks.platform.faults import connection, ping

router = APIRouter(tags=["health"], responses=errors(503))

# A load balancer gives up on a probe after a few seconds; answer 503 before it does, even
# when the database accepts connections but never replies (hung). The query's own bound is
# shorter, so it is what normally fires.
HEALTH_CHECK_SECONDS = 2.5
HEALTH_QUERY_SECONDS = 1.5


@router.get("/healthz")
async def healthz(engine: Engine) -> dict[str, str]:
    """200 when the database answers a query; 503 JSON when it does not."""
    async with asyncio.timeout(HEALTH_CHECK_SECONDS), connection(engine) as conn:
        await ping(conn, within=HEALTH_QUERY_SECONDS)
    return {"status": "ok", "database": "ok"}
