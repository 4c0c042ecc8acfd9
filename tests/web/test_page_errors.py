"""The watch on every web test's pages (tests/web/conftest.py, `new_context`): what it counts
as the page's error, what it leaves alone, and that a popup is watched as well. Each test
empties what was found once it has checked it, so that its own teardown passes."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, Route

from tests.fixtures.browser import PageErrors
from tests.web.conftest import Site


async def test_an_uncaught_error_and_a_console_error_are_found_with_their_text(
    page: Page, page_errors: PageErrors
) -> None:
    await page.goto("/login")
    async with page.expect_event("pageerror"):
        await page.evaluate("setTimeout(() => { throw new Error('the zone went missing'); })")
    async with page.expect_event("console", lambda message: message.text == "no registry"):
        await page.evaluate("console.error('no registry')")
    assert len(page_errors.found) == 2, page_errors.found
    uncaught, logged = page_errors.found
    assert uncaught.startswith(f"uncaught in {page.url}: Error: the zone went missing")
    assert logged.endswith(": no registry")
    assert "the zone went missing" in page_errors.report()
    page_errors.found.clear()


async def test_a_popup_is_watched_too(
    page: Page, context: BrowserContext, page_errors: PageErrors
) -> None:
    await page.goto("/login")
    async with page.expect_popup() as opened:
        await page.evaluate("window.open('/login')")
    popup = await opened.value
    async with popup.expect_event("pageerror"):
        await popup.evaluate("setTimeout(() => { throw new Error('in the popup'); })")
    assert [line for line in page_errors.found if "in the popup" in line], page_errors.found
    page_errors.found.clear()


async def test_an_error_status_the_page_handles_and_an_allowed_line_are_not_errors(
    page: Page, page_errors: PageErrors
) -> None:
    await page.goto("/login")
    async with page.expect_event("console", lambda message: "404" in message.text):
        assert await page.evaluate("fetch('/no-such-thing').then((r) => r.status)") == 404
    page_errors.allow("^expected: ")
    async with page.expect_event("console", lambda message: "provoked" in message.text):
        await page.evaluate("console.error('expected: a provoked failure')")
    assert page_errors.found == []


async def test_a_5xx_answer_is_found_with_its_request_unless_its_status_is_allowed(
    page: Page, site: Site, page_errors: PageErrors
) -> None:
    # The service never answers 500; a route stands in for a bug that makes it.
    async def answer(route: Route) -> None:
        status = int(route.request.url.rsplit("/", 1)[1])
        await route.fulfill(status=status, content_type="application/json", body="{}")

    await page.route("**/provoked/*", answer)
    await page.goto("/login")
    page_errors.allow_status(503)
    for status in (503, 500):
        async with page.expect_response(f"**/provoked/{status}"):
            fetched = f"fetch('/provoked/{status}', {{method: 'POST'}}).then((r) => r.status)"
            assert await page.evaluate(fetched) == status
    assert page_errors.found == [f"POST {site.url}/provoked/500 answered 500"]
    assert "/provoked/500 answered 500" in page_errors.report()
    page_errors.found.clear()
