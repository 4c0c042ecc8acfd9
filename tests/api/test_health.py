"""/healthz tells the truth about the database."""

from __future__ import annotations

import httpx

from loomworks.app import create_app
from loomworks.platform.settings import Settings


async def test_healthz_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_healthz_503_when_database_unreachable(tmp_path: object) -> None:
    settings = Settings(database_url=f"postgresql://nobody:@/nowhere?host={tmp_path}")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable; try again shortly."}
    assert response.headers["retry-after"] == "5"
