"""The dashboard page as an operator uses it, in headless Chromium against the real app."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import shapes, shaping_jobs
from tests.fixtures.browser import PageErrors
from tests.fixtures.data import (
    PASSWORD,
    join,
    make_engagement,
    make_external,
    make_person,
    make_render,
    make_render_job,
    make_session,
    make_shape,
    make_shaping_job,
)
from tests.web.conftest import Site, one_waiting_shape, signed_in

NOW = datetime.now(UTC)  # a fixed moment for ordering; "x min ago" tests read the clock
ZONES = ("active", "needs_you", "recent")


def zone(page: Page, name: str) -> Locator:
    return page.locator(f'section[data-zone="{name}"]')


def item(page: Page, zone_name: str, text_: str) -> Locator:
    return zone(page, zone_name).locator(".items > li", has_text=text_)


async def shape_state(db: AsyncConnection, shape_id: uuid.UUID) -> str:
    return str((await db.execute(select(shapes.c.state).where(shapes.c.id == shape_id))).scalar())


async def test_sign_in_wrong_password_throttle_and_sign_out(
    page: Page, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db, "ops@example.test", name="Olive Operator")
    await make_engagement(db, "Harbour", member=person)

    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url.endswith("/login")
    await page.get_by_label("Email").fill("ops@example.test")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#sign-in-error")).to_contain_text("wrong")

    # The throttle's 429 shows its wait (the answer is stubbed: ten real failures are slow).
    await page.route(
        "**/auth/login",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "120", "Content-Type": "application/json"},
            body='{"detail": "Too many attempts."}',
        ),
    )
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#sign-in-error")).to_have_text(
        "Too many attempts. Try again in 2 min."
    )
    await page.unroute("**/auth/login")

    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text("Olive Operator")).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile("^Needs you"))).to_be_visible()
    assert page.url == f"{site.url}/"
    await expect(zone(page, "needs_you").locator(".empty")).to_have_text("Nothing waits for you.")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert (await page.request.get("/me")).status == 401
    await page.reload()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()


async def test_zones_show_seeded_items_and_a_download_downloads(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, "Harbour", member=person)
    await make_shaping_job(
        db, eid, started_at=datetime.now(UTC) - timedelta(minutes=3), shape_type="deck_sections"
    )
    await make_shape(db, eid, title="North wing footprint")
    payload = b"%PDF-1.4 elevation drawing"
    await make_render(
        db,
        eid,
        title="East elevation",
        display_number=1,
        reviewed_at=NOW,
        content_kind="binary_blob",
        files=[("east.pdf", "application/pdf", payload)],
    )
    await make_render(db, eid, title="Cost summary", display_number=2, reviewed_at=NOW)
    await signed_in(db, context, site, person)

    await page.goto("/")
    job = item(page, "active", "Shaping: Deck sections")
    await expect(job).to_contain_text("Harbour")
    await expect(job.locator("time")).to_have_text("3 min ago")
    assert await job.locator("time").get_attribute("title")
    # Its title opens the job's detail inside the page: status and timings, never raw JSON.
    await job.get_by_role("button", name="Shaping: Deck sections").click()
    dialog = page.get_by_role("dialog", name="Shaping: Deck sections")
    await expect(dialog).to_contain_text("Running")
    await expect(dialog).to_contain_text("Harbour")
    await expect(dialog.locator("time")).to_have_text("3 min ago")
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()
    await expect(item(page, "needs_you", "North wing footprint")).to_contain_text("confirm")
    await expect(zone(page, "recent").locator(".items > li")).to_have_count(2)
    await expect(zone(page, "recent").locator(".total")).to_have_text("2")
    # Only the render with a file offers a download.
    await expect(item(page, "recent", "Cost summary").get_by_role("link")).to_have_count(0)
    link = item(page, "recent", "East elevation").get_by_role("link", name=re.compile("Download"))
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    path = await download.path()
    assert path.read_bytes() == payload


async def test_only_counted_progress_draws_a_bar_and_writes_show_up_live(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, "Harbour", member=person)
    counted = await make_shaping_job(
        db, eid, shape_type="deck_sections", summary_counts={"processed": 3, "total": 10}
    )
    await make_shaping_job(db, eid, shape_type="site_plan", context={"phase": {"key": "fetching"}})
    await make_render_job(
        db,
        eid,
        render_type="cost_plan",
        context={"composite": {"children": 4, "failed": 1, "partial": 0}},
    )
    await make_external(db, eid, provider="Acme Surveys")
    await signed_in(db, context, site, person)

    await page.goto("/")
    await expect(zone(page, "active").locator(".items > li")).to_have_count(4)
    bars = zone(page, "active").locator("progress, [role=progressbar]")
    await expect(bars).to_have_count(1)
    bar = item(page, "active", "Deck sections").locator("progress")
    await expect(bar).to_have_attribute("max", "10")
    assert await bar.evaluate("node => node.value") == 3
    for label in ("Site plan", "Cost plan", "Acme Surveys"):
        other = item(page, "active", label)
        await expect(other.locator("progress, [role=progressbar]")).to_have_count(0)
        await expect(other.locator(".hint")).not_to_be_empty()
        assert "%" not in await other.inner_text()

    # A progress write in the database reaches the open page without a reload.
    await db.execute(
        update(shaping_jobs)
        .where(shaping_jobs.c.id == counted)
        .values(summary_counts={"processed": 7, "total": 10}, progress_updated_at=text("now()"))
    )
    await expect(bar).to_have_js_property("value", 7, timeout=2000)
    await expect(item(page, "active", "Deck sections").locator(".hint")).to_contain_text("7 of 10")


@pytest.mark.parametrize("site", [60], indirect=True)
async def test_a_decision_removes_the_item_and_a_quicker_colleague_is_named(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db, name="Olive Operator")
    colleague = await make_person(db, name="Casey Colleague")
    eid = await make_engagement(db, "Harbour", member=person)
    await join(db, colleague, eid, "operator")
    mine = await make_shape(db, eid, title="North wing footprint", created_at=NOW)
    theirs = await make_shape(db, eid, title="South wing footprint", created_at=NOW - timedelta(1))
    await signed_in(db, context, site, person)
    # No live updates in this test: the page must not learn of the colleague's decision
    # before the click (polling is every 60 s here, and the event stream is refused).
    await page.route("**/me/dashboard/events", lambda route: route.abort())

    await page.goto("/")
    north = item(page, "needs_you", "North wing footprint")
    await expect(north.get_by_label(re.compile("^Note"))).to_be_hidden()  # closed until asked
    await north.get_by_role("button", name=re.compile("^Add note")).click()
    await north.get_by_label(re.compile("^Note")).fill("Matches the survey.")
    await north.get_by_role("button", name="Confirm", exact=True).click()
    await expect(north).to_have_count(0)
    assert await shape_state(db, mine) == "confirmed"

    token = await make_session(db, colleague)
    async with httpx.AsyncClient(base_url=site.url, cookies={"loomworks_session": token}) as http:
        answer = await http.post(f"/engagements/{eid}/shapes/{theirs}/reject", json={})
        assert answer.status_code == 200
    south = item(page, "needs_you", "South wing footprint")
    await south.get_by_role("button", name="Confirm", exact=True).click()
    await expect(south.locator(".outcome")).to_contain_text(
        "Already rejected by Casey Colleague at"
    )
    await expect(south.get_by_role("button", name="Confirm")).to_have_count(0)
    assert await shape_state(db, theirs) == "rejected"


async def test_bulk_decisions_and_a_viewer_has_no_buttons(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=person)
    archive = await make_engagement(db, "Archive", member=person, designation="viewer")
    first = await make_shape(db, harbour, title="North wing footprint", created_at=NOW)
    second = await make_shape(db, harbour, title="South wing footprint", created_at=NOW)
    await make_shape(db, archive, title="Archive plan")
    await make_render(db, archive, title="Archive report", reviewed_at=None)
    await signed_in(db, context, site, person)

    await page.goto("/")
    await expect(zone(page, "needs_you").locator(".items > li")).to_have_count(2)
    # The viewer's engagement is visible (recent) but nothing in it can be decided.
    archived = item(page, "recent", "Archive report")
    await expect(archived).to_be_visible()
    await expect(archived.get_by_role("button")).to_have_count(0)
    await expect(zone(page, "needs_you")).not_to_contain_text("Archive")
    await expect(
        page.get_by_role("button", name=re.compile(r"^Archive \(view only\)"))
    ).to_be_visible()

    for title in ("North wing footprint", "South wing footprint"):
        await item(page, "needs_you", title).get_by_role("checkbox").check()
    await page.locator("#bulk").get_by_role("button", name="Confirm 2").click()
    await expect(zone(page, "needs_you").locator(".items > li")).to_have_count(0)
    await expect(zone(page, "needs_you").locator(".empty")).to_be_visible()
    assert await shape_state(db, first) == await shape_state(db, second) == "confirmed"


async def test_load_more_walks_a_zone_and_filters_live_in_the_url(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=person)
    other = await make_engagement(db, "Quarry", member=person)
    for n in range(23):
        await make_render(
            db,
            harbour,
            title=f"Drawing {n:02d}",
            display_number=n + 1,
            reviewed_at=NOW,
            completed_at=NOW - timedelta(minutes=n),
        )
    await make_render(db, other, title="Quarry survey", display_number=1, reviewed_at=NOW)
    await signed_in(db, context, site, person)

    await page.goto("/")
    rows = zone(page, "recent").locator(".items > li")
    more = zone(page, "recent").get_by_role("button", name="Load more")
    await expect(rows).to_have_count(10)
    await expect(zone(page, "recent").locator(".total")).to_have_text("24")
    await more.click()
    await expect(rows).to_have_count(20)
    await more.click()
    await expect(rows).to_have_count(24)
    await expect(more).to_be_hidden()
    titles = await rows.locator(".item-title").all_inner_texts()
    assert len(set(titles)) == 24

    await page.get_by_role("button", name=re.compile("^Quarry")).click()
    await expect(rows).to_have_count(1)
    assert f"engagement_id={other}" in page.url
    await page.reload()
    await expect(rows).to_have_count(1)
    await expect(page.get_by_role("button", name=re.compile("^Quarry"))).to_have_attribute(
        "aria-pressed", "true"
    )


async def test_keyboard_only_decision(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    shape = await one_waiting_shape(db, context, site)

    await page.goto("/")
    confirm = item(page, "needs_you", "North wing footprint").get_by_role("button", name="Confirm")
    await expect(confirm).to_be_visible()
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await confirm.evaluate("node => node === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Confirm button")
    outline = await confirm.evaluate("node => getComputedStyle(node).outlineStyle")
    assert outline != "none"
    await page.keyboard.press("Enter")
    await expect(item(page, "needs_you", "North wing footprint")).to_have_count(0)
    assert await shape_state(db, shape) == "confirmed"


async def test_the_skip_link_leads_past_the_navigation_to_what_each_view_shows(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    await one_waiting_shape(db, context, site)
    await page.goto("/")
    await expect(item(page, "needs_you", "North wing footprint")).to_be_visible()
    skip = page.locator(".skip-link")
    await page.keyboard.press("Tab")  # the first stop on the page
    await expect(skip).to_be_focused()
    await expect(skip).to_have_text("Skip to the zones")
    await expect(skip).to_be_in_viewport()  # off-screen until focused
    await page.keyboard.press("Enter")
    zones = page.locator("#zones")
    await expect(zones).to_be_focused()
    await expect(zones).to_be_visible()
    assert page.url == f"{site.url}/"  # no fragment: no history entry, no redraw
    # The next stop is in a zone: the views' buttons and the filters were passed.
    await page.keyboard.press("Tab")
    in_a_zone = "node => node !== document.activeElement && node.contains(document.activeElement)"
    assert await zones.evaluate(in_a_zone)

    # Done hides the zones: the link leads to my decisions instead.
    await page.goto("/?view=done")
    await expect(page.locator("#done")).to_be_visible()
    await expect(zones).to_be_hidden()
    await page.keyboard.press("Tab")
    await expect(skip).to_be_focused()
    await expect(skip).to_have_text("Skip to my decisions")
    await page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name=re.compile("^Done"))
    await expect(heading).to_be_focused()
    await expect(heading).to_be_visible()

    # The sign-in form has nothing before it to pass, and no skip link.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#email")).to_be_focused()
    await expect(skip).to_be_hidden()


async def test_outage_banner_comes_and_goes(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection, page_errors: PageErrors
) -> None:
    person = await make_person(db)
    await make_engagement(db, "Harbour", member=person)
    await signed_in(db, context, site, person)
    # Without the event stream the page polls every second (the faults test covers the
    # stream), so the next poll meets the outage.
    await page.route("**/me/dashboard/events", lambda route: route.abort())
    await page.goto("/")
    await expect(page.get_by_role("heading", name=re.compile("^Active"))).to_be_visible()

    # What the service answers while its database is away (tests/faults has the real thing).
    page_errors.allow_status(503)
    await page.route(
        "**/me/dashboard/**",
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "5", "Content-Type": "application/json"},
            body='{"detail": "The database is unavailable; try again shortly."}',
        ),
    )
    banner = page.get_by_role("alert").filter(has_text="unavailable")
    await expect(banner).to_be_visible(timeout=3000)
    await page.unroute("**/me/dashboard/**")
    await expect(banner).to_be_hidden(timeout=3000)


# Whether the zones sit side by side in ZONES' order (or, `stacked`, one above the other),
# read from one layout of the page: three separate reads could straddle a relayout.
ZONES_LAID_OUT = """([names, stacked]) => {
  const boxes = names.map((name) =>
    document.querySelector(`section[data-zone="${name}"]`)?.getBoundingClientRect());
  if (boxes.some((box) => !box || !box.width)) return false;
  const [along, across] = stacked ? ["y", "x"] : ["x", "y"];
  return boxes.every((box, i) =>
    box[across] === boxes[0][across] && (i === 0 || boxes[i - 1][along] < box[along]));
}"""


async def test_zones_side_by_side_and_stacked_when_narrow(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    """Waits for the layout itself, not a moment: the first read settles (every zone drawn,
    fonts loaded) and the viewport's media query applies in the page's own time, so under
    load one snapshot taken too early would catch the page mid-layout."""
    person = await make_person(db)
    await make_engagement(db, "Harbour", member=person)
    await signed_in(db, context, site, person)
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto("/")
    for name in ZONES:
        await expect(zone(page, name).locator(".empty")).to_be_visible()
    await page.evaluate("document.fonts.ready.then(() => true)")
    names = [str(name) for name in ZONES]

    await page.wait_for_function(ZONES_LAID_OUT, arg=[names, False], timeout=15_000)
    await page.set_viewport_size({"width": 600, "height": 900})
    await page.wait_for_function(ZONES_LAID_OUT, arg=[names, True], timeout=15_000)
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.wait_for_function(ZONES_LAID_OUT, arg=[names, False], timeout=15_000)


@pytest.mark.parametrize("site", [60], indirect=True)
async def test_a_zone_changed_event_refetches_that_zone(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    """With the event stream up the page does not poll (every 60 s here): the service's own
    zone_changed event, sent when another connection commits, alone brings the new item."""
    person = await make_person(db)
    eid = await make_engagement(db, "Harbour", member=person)
    await make_shape(db, eid, title="North wing footprint")
    await signed_in(db, context, site, person)
    async with page.expect_request("**/me/dashboard/events"):
        await page.goto("/")
    await expect(item(page, "needs_you", "North wing footprint")).to_be_visible()
    await page.wait_for_timeout(300)  # the stream's open, and the catch-up read after it
    await make_shape(db, eid, title="South wing footprint")
    await expect(item(page, "needs_you", "South wing footprint")).to_be_visible(timeout=2000)
    await expect(zone(page, "needs_you").locator(".total")).to_have_text("2")
