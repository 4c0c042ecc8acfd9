"""The dashboard page in a real browser against the real app (the `browser` fixture and the
server helper are in tests/fixtures/browser.py). Every browser context a test opens is watched:
a test whose pages raised an uncaught error or logged one fails with the error's text."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.db.people import Person
from loomworks.platform.settings import Settings
from tests.fixtures.browser import PageErrors, served
from tests.fixtures.data import make_engagement, make_person, make_session, make_shape

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page


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
    async with served(create_app(settings)) as url:
        yield Site(url=url, settings=settings)


class NewContext(Protocol):
    async def __call__(self, **options: Any) -> BrowserContext: ...


@pytest.fixture
def page_errors() -> PageErrors:
    """The errors the test's pages raised; `page_errors.allow(...)` accepts a provoked one."""
    return PageErrors()


@pytest.fixture
async def new_context(
    browser: Browser, site: Site, page_errors: PageErrors
) -> AsyncIterator[NewContext]:
    """Opens browser contexts on the site (`browser.new_context`'s options) whose every page,
    popups included, is watched for errors; after the test it closes them, which delivers
    any event still on its way, and fails the test if any page raised or logged an error."""
    opened: list[BrowserContext] = []

    async def new(**options: Any) -> BrowserContext:
        context = await browser.new_context(**{"base_url": site.url, **options})
        context.set_default_timeout(5000)
        page_errors.watch(context)
        opened.append(context)
        return context

    yield new
    for context in opened:
        await context.close()
    if page_errors.found:
        pytest.fail(page_errors.report(), pytrace=False)


@pytest.fixture
async def context(new_context: NewContext) -> BrowserContext:
    return await new_context(accept_downloads=True)


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def signed_in(
    conn: AsyncConnection, context: BrowserContext, site: Site, person: Person
) -> None:
    """Give the browser a session cookie for `person` (signing in through the form is tested
    once; the other tests start signed in)."""
    token = await make_session(conn, person)
    await context.add_cookies([{"name": "loomworks_session", "value": token, "url": site.url}])


async def one_waiting_shape(
    conn: AsyncConnection, context: BrowserContext, site: Site, title: str = "North wing footprint"
) -> uuid.UUID:
    """A person signed in to `context` whose one engagement ("Harbour") has one shape waiting
    for them; the shape's id."""
    person = await make_person(conn)
    eid = await make_engagement(conn, "Harbour", member=person)
    shape = await make_shape(conn, eid, title=title)
    await signed_in(conn, context, site, person)
    return shape
