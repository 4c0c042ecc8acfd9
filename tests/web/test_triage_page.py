"""Triage on the page in a real browser: the search box kept in the URL, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import BrowserContext, Locator, Page, expect
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.fixtures.data import make_engagement, make_person, make_shape
from tests.web.conftest import Site, signed_in

NOW = datetime.now(UTC)


def titles(page: Page, zone: str) -> Locator:
    return page.locator(f'section[data-zone="{zone}"] .items > li .item-title')


async def test_search_box_filters_every_zone_and_lives_in_the_url(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=person)
    await make_shape(db, harbour, title="North wing", created_at=NOW)
    await make_shape(db, harbour, title="Roof 50% done", created_at=NOW - timedelta(minutes=1))
    await signed_in(db, context, site, person)

    await page.goto("/")
    await expect(titles(page, "needs_you")).to_have_count(2)
    await page.get_by_label("Search").fill("50%")
    await expect(titles(page, "needs_you")).to_have_text(["Roof 50% done"])
    await expect(page).to_have_url(f"{site.url}/?q=50%25")
    await page.reload()
    await expect(page.get_by_label("Search")).to_have_value("50%")
    await expect(titles(page, "needs_you")).to_have_text(["Roof 50% done"])
    await page.get_by_label("Search").fill("")
    await expect(titles(page, "needs_you")).to_have_count(2)


async def test_oldest_first_toggle(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=person)
    await make_shape(db, harbour, title="Newer", created_at=NOW)
    await make_shape(db, harbour, title="Older", created_at=NOW - timedelta(hours=2))
    await signed_in(db, context, site, person)

    await page.goto("/")
    await expect(titles(page, "needs_you")).to_have_text(["Newer", "Older"])
    toggle = page.get_by_role("button", name="Oldest first")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(titles(page, "needs_you")).to_have_text(["Older", "Newer"])
    assert "order=oldest" in page.url
    await page.reload()
    await expect(titles(page, "needs_you")).to_have_text(["Older", "Newer"])
