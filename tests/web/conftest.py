"""The dashboard page in a real browser: the app on a real uvicorn server on a loopback port,
driven by Playwright through an installed Chromium (Debian's `chromium`, or Chrome/Chromium on
macOS). Without a browser these tests skip; under CI=true a missing browser fails them."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.app import create_app
from loomworks.db.people import Person
from loomworks.settings import Settings
from tests.fixtures.data import make_session

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
# Quiet, offline, and allowed to run as root in a container.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_browser() -> str | None:
    explicit = os.environ.get("LOOMWORKS_TEST_BROWSER")
    if explicit:
        return explicit
    for candidate in CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("google-chrome")


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("playwright is not installed")
    path = find_browser()
    if path is None:
        _missing("no Chromium or Chrome found (on Debian: apt-get install chromium)")
    assert path is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Site:
    url: str
    settings: Settings


@pytest.fixture
async def site(
    request: pytest.FixtureRequest, database_url: str, engine: AsyncEngine
) -> AsyncIterator[Site]:
    """The app on a free loopback port; it polls every second unless a test asks otherwise."""
    poll = getattr(request, "param", 1)
    settings = Settings(database_url=database_url, db_pool_size=4, poll_interval_seconds=poll)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield Site(url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def context(browser: Browser, site: Site) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(base_url=site.url, accept_downloads=True)
    context.set_default_timeout(5000)
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def signed_in(conn: object, context: BrowserContext, site: Site, person: Person) -> None:
    """Give the browser a session cookie for `person` (signing in through the form is tested
    once; the other tests start signed in)."""
    token = await make_session(conn, person)  # type: ignore[arg-type]
    await context.add_cookies([{"name": "loomworks_session", "value": token, "url": site.url}])
