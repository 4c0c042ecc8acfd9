"""Liveness that means something: the database answers, promptly."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from loomworks.api.deps import Engine
from loomworks.api.schemas.errors import errors
from loomworks.platform.faults import connection, ping

router = APIRouter(tags=["health"], responses=errors(503))

# A load balancer gives up on a probe after a few seconds; answer 503 before it does, even
# when the database accepts connections but never replies (hung). The query's own bound is
# shorter, so it is what normally fires.
HEALTH_CHECK_SECONDS = 2.5
HEALTH_QUERY_SECONDS = 1.5


_EXAMPLE = {"status": "ok", "database": "ok"}


async def healthz(engine: Engine, response: Response) -> dict[str, str]:
    """200 when the database answers a query; 503 JSON when it does not."""
    response.headers["Allow"] = "GET, HEAD, OPTIONS"
    response.headers["Cache-Control"] = "no-store"
    async with asyncio.timeout(HEALTH_CHECK_SECONDS), connection(engine) as conn:
        await ping(conn, within=HEALTH_QUERY_SECONDS)
    return _EXAMPLE


# Load balancers probe with GET, HEAD or OPTIONS: each answers the same check (HEAD without
# the body). Three operations, so each has an operation id of its own.
for _method in ("GET", "HEAD", "OPTIONS"):
    router.add_api_route(
        "/healthz",
        healthz,
        methods=[_method],
        name="healthz" if _method == "GET" else f"healthz_{_method.lower()}",
        summary=f"Liveness ({_method})",
        responses={200: {"content": {"application/json": {"example": _EXAMPLE}}}},
    )
