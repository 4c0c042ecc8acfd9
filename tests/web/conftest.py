"""The dashboard page in a real browser against the real app (the `browser` fixture, the
watched `new_context` and the server helper are in tests/fixtures/browser.py). Every browser
context a test opens is watched: a test whose pages raised an uncaught error, logged one or
got a 5xx answer fails with the error's text."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.db.people import Person
from loomworks.platform.settings import Settings
from tests.fixtures.browser import NewContext, served
from tests.fixtures.data import make_engagement, make_person, make_session, make_shape

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page


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


@pytest.fixture
def new_context(site: Site, new_context: NewContext) -> NewContext:
    """The watched contexts of tests/fixtures/browser.py, on the site (their `base_url`).
    `site` comes first so that it stops after the contexts are closed, not before."""

    async def on_site(**options: Any) -> BrowserContext:
        return await new_context(**{"base_url": site.url, **options})

    return on_site


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
