"""The page's routes and files beside the API: HTML at / and /login, every asset from this
service, and unknown paths still answered with the JSON 404 every API client expects."""

from __future__ import annotations

import re

import httpx
import pytest

from loomworks.api.routers.page import STATIC_DIR


@pytest.mark.parametrize("path", ["/", "/login"])
async def test_the_page_is_served_without_a_session(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert '<label for="email">Email</label>' in answer.text
    assert '<label for="password">Password</label>' in answer.text
    assert ">Sign in</button>" in answer.text


async def test_every_asset_comes_from_this_service(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    assets = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert "/static/app.js" in assets
    assert "/static/app.css" in assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert (await client.get(asset)).status_code == 200, asset
    # Every module app.js imports, and those they import: each served as JavaScript, and every
    # module in the package among them (none left behind unloaded).
    sources: dict[str, str] = {}
    waiting = ["app.js"]
    while waiting:
        module = waiting.pop()
        if module in sources:
            continue
        answer = await client.get(f"/static/{module}")
        assert answer.status_code == 200, module
        assert "javascript" in answer.headers["content-type"]
        sources[module] = answer.text
        waiting.extend(re.findall(r'from "\./([\w.]+)"', answer.text))
    assert set(sources) == {path.name for path in STATIC_DIR.glob("*.js")}
    for source in sources.values():
        assert "http://" not in source
        assert "https://" not in source


@pytest.mark.parametrize("path", ["/nope", "/static/nope.js", "/me/dashboard/nope", "/static/"])
async def test_unknown_paths_stay_json(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert "detail" in answer.json()


async def test_the_api_still_answers_json_to_anonymous_callers(client: httpx.AsyncClient) -> None:
    answer = await client.get("/me/dashboard/active")
    assert answer.status_code == 401
    assert answer.json()["detail"]
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert "/login" not in paths
