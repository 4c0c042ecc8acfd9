"""/docs and /redoc in a real browser ask nothing of any other origin: every request the
page makes (scripts, styles, fonts, images, the OpenAPI document) goes to this service."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import Site

if TYPE_CHECKING:
    from playwright.async_api import ConsoleMessage, Page, Request

# What shows that each page has drawn the API, not only loaded its script.
DRAWN = {
    "/docs": ".swagger-ui .opblock",
    "/redoc": 'img[alt="redocly logo"]',  # the sidebar's last element, drawn after the rest
}


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@pytest.mark.parametrize("path", list(DRAWN))
async def test_docs_ask_no_other_origin(page: Page, site: Site, path: str) -> None:
    requested: list[str] = []
    refused: list[str] = []

    def on_request(request: Request) -> None:
        requested.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    await page.goto(f"{site.url}{path}")
    await page.wait_for_selector(DRAWN[path], state="attached", timeout=20_000)
    await page.wait_for_load_state("networkidle")

    own = _origin(site.url)
    network = [url for url in requested if urlsplit(url).scheme not in ("data", "blob")]
    assert f"{site.url}/openapi.json" in network, network  # it did fetch the document
    assert [url for url in network if _origin(url) != own] == []
    # Nothing was merely blocked by the pages' Content-Security-Policy: nothing tried.
    assert refused == []
