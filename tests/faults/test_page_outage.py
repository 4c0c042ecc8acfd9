"""The dashboard page while its database is stopped: a banner says so, and it goes away by
itself when the database is back (no reload)."""

from __future__ import annotations

import asyncio
import re

from bench.db_outage import Postgres
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.app import create_app
from tests.faults.conftest import fault_settings
from tests.fixtures.browser import NewContext, PageErrors, served
from tests.fixtures.data import make_engagement, make_person, make_session


async def test_banner_while_the_database_is_stopped(
    new_context: NewContext, page_errors: PageErrors, migrated: Postgres, faulty_engine: AsyncEngine
) -> None:
    async with faulty_engine.begin() as conn:
        person = await make_person(conn)
        await make_engagement(conn, "Harbour", member=person)
        token = await make_session(conn, person)
    app = create_app(fault_settings(migrated, poll_interval_seconds=1))
    async with served(app) as url:
        context = await new_context(base_url=url)
        await context.add_cookies([{"name": "loomworks_session", "value": token, "url": url}])
        page = await context.new_page()
        await page.goto("/")
        await expect(page.get_by_role("heading", name=re.compile("^Active"))).to_be_visible()
        banner = page.get_by_role("alert").filter(has_text="unavailable")
        await expect(banner).to_be_hidden()

        # What the service answers while its database is stopped: the page's to handle.
        page_errors.allow_status(503)
        await asyncio.to_thread(migrated.stop)
        try:
            await expect(banner).to_be_visible(timeout=10_000)
        finally:
            await asyncio.to_thread(migrated.start)
        await expect(banner).to_be_hidden(timeout=15_000)
        # Still signed in: an outage is not a lost session.
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        await context.close()  # before its server stops (the fixture checks what it found)
