"""Deciding with confidence in the page, in headless Chromium against the real app: an item's
detail with previews, the notice and its Undo, the Done view, the keyboard, and an SVG that
tries to run script."""

from __future__ import annotations

import re
import struct
import zlib

from playwright.async_api import BrowserContext, Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import renders, shapes
from tests.fixtures.browser import PageErrors
from tests.fixtures.data import make_engagement, make_person, make_render, make_shape
from tests.web.conftest import Site, one_waiting_shape, signed_in

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
    b'<rect width="40" height="20" fill="teal"/>'
    b"<script>window.pwned = 1; parent.pwned = 1;</script></svg>"
)
CSV = "".join(f"room {n},{n * 10}\n" for n in range(1, 31)).encode()


def tiny_png() -> bytes:
    """A valid 2x2 PNG, made here (no binary fixture)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def needs_you(page: Page, text_: str) -> Locator:
    return page.locator('section[data-zone="needs_you"] .items > li', has_text=text_)


async def test_preview_decide_see_the_notice_undo_and_the_item_is_back(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, "Harbour", member=person)
    render = await make_render(
        db,
        eid,
        title="Ground floor",
        content_kind="multi_file",
        files=[
            ("plan.png", "image/png", tiny_png()),
            ("rooms.csv", "text/csv", CSV),
            ("logo.svg", "image/svg+xml", SVG),
        ],
    )
    await signed_in(db, context, site, person)
    await page.goto("/")

    await needs_you(page, "Ground floor").locator("[data-open]").click()
    dialog = page.get_by_role("dialog", name="Render #1: Ground floor")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_text("Several files")).to_be_visible()
    image = dialog.get_by_role("img", name="Preview of plan.png")
    await expect(image).to_be_visible()
    await expect(image).to_have_js_property("complete", True)
    assert await image.evaluate("node => node.naturalWidth") == 2
    csv = dialog.get_by_label("First lines of rooms.csv")
    await expect(csv).to_contain_text("room 20,200")
    assert "room 21," not in await csv.inner_text()
    await expect(dialog.get_by_text("First 20 lines shown.")).to_be_visible()
    svg = dialog.get_by_role("img", name="Preview of logo.svg")
    await expect(svg).to_have_js_property("complete", True)
    assert await svg.evaluate("node => node.naturalWidth") == 40
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert await dialog.locator("svg, script, iframe, object, embed").count() == 0

    await dialog.get_by_role("button", name="Accept").click()
    await expect(dialog).to_be_hidden()
    await expect(needs_you(page, "Ground floor")).to_have_count(0)
    notice = page.locator("#notice")
    await expect(notice).to_contain_text("Accepted: Render #1: Ground floor.")
    reviewed = select(renders.c.review_outcome).where(renders.c.id == render)
    assert (await db.execute(reviewed)).scalar() == "accepted"

    await notice.get_by_role("button", name="Undo").click()
    await expect(notice).to_contain_text("Undone: Render #1: Ground floor waits for a decision")
    await expect(notice.get_by_role("button", name="Undo")).to_be_hidden()
    await expect(needs_you(page, "Ground floor")).to_have_count(1)
    assert (await db.execute(reviewed)).scalar() is None


async def test_an_svg_opened_on_its_own_runs_no_script(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection, page_errors: PageErrors
) -> None:
    # Chromium says so in the console when the sandbox stops the file's script.
    page_errors.allow(r"^Blocked script execution in .* the document's frame is sandboxed")
    person = await make_person(db)
    eid = await make_engagement(db, "Harbour", member=person)
    await make_render(
        db, eid, content_kind="binary_blob", files=[("logo.svg", "image/svg+xml", SVG)]
    )
    await signed_in(db, context, site, person)
    await page.goto("/")
    await needs_you(page, "Site summary").locator("[data-open]").click()
    link = page.get_by_role("dialog").get_by_role("link", name=re.compile("Open"))
    url = await link.get_attribute("href")
    assert url and re.fullmatch(rf"/engagements/{eid}/renders/[-0-9a-f]+/files/[-0-9a-f]+", url)
    await page.goto(url)  # the file itself, in the service's origin: sandboxed
    await expect(page.locator("rect")).to_have_count(1)
    assert await page.evaluate("typeof window.pwned") == "undefined"


async def test_inline_content_is_formatted_not_json(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, "Harbour", member=person)
    content = {"gross_area": 310.5, "floors": [{"name": "Ground"}, {"name": "First"}]}
    await make_render(db, eid, title="Areas", inline_content=content)
    await signed_in(db, context, site, person)
    await page.goto("/")
    await needs_you(page, "Areas").locator("[data-open]").click()
    dialog = page.get_by_role("dialog", name="Render #1: Areas")
    await expect(dialog.locator(".content dt", has_text="gross area")).to_be_visible()
    await expect(dialog.locator(".content").first).to_contain_text("310.5")
    await expect(dialog.locator(".content").first).to_contain_text("First")
    text = await dialog.inner_text()
    assert "{" not in text and '"' not in text


async def test_the_done_view_lists_my_decisions_with_undo(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    shape = await one_waiting_shape(db, context, site)
    await page.goto("/")
    await needs_you(page, "North wing footprint").get_by_role("button", name="Reject").click()
    await expect(page.locator("#notice")).to_contain_text("Rejected: North wing footprint.")

    await page.get_by_role("button", name="Done", exact=True).click()
    assert "view=done" in page.url
    done = page.locator("#done .items > li", has_text="North wing footprint")
    await expect(done).to_contain_text("Rejected · Harbour")
    await done.get_by_role("button", name=re.compile("^Undo")).click()
    await expect(done).to_contain_text("undone")
    await expect(done.get_by_role("button", name=re.compile("^Undo"))).to_have_count(0)
    state = select(shapes.c.state).where(shapes.c.id == shape)
    assert (await db.execute(state)).scalar() == "pending_confirmation"

    await page.reload()  # the view is in the URL
    await expect(done).to_be_visible()
    await page.get_by_role("button", name="Dashboard").click()
    await expect(needs_you(page, "North wing footprint")).to_be_visible()


async def test_keyboard_moves_opens_selects_and_decides_without_the_mouse(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, "Harbour", member=person)
    first = await make_shape(db, eid, title="North wing footprint")
    await make_shape(db, eid, title="South wing footprint")
    await signed_in(db, context, site, person)
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto("/")
    north = needs_you(page, "North wing footprint")
    south = needs_you(page, "South wing footprint")
    await expect(south).to_be_visible()

    await page.keyboard.press("?")
    keys = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(keys).to_contain_text("Next / previous item")
    await page.keyboard.press("Escape")
    await expect(keys).to_be_hidden()

    order = await page.locator(".items > li").all_inner_texts()
    await page.keyboard.press("j")
    focused = page.locator(".items > li:focus")
    await expect(focused).to_have_count(1)
    assert await focused.evaluate("n => getComputedStyle(n).outlineStyle") != "none"
    while "North wing" not in await focused.inner_text():
        await page.keyboard.press("j")
    await page.keyboard.press("x")
    await expect(north.get_by_role("checkbox")).to_be_checked()
    await expect(page.locator("#bulk")).to_contain_text("1 selected")
    await page.keyboard.press("x")
    await expect(page.locator("#bulk")).to_be_hidden()
    assert len(order) == 2

    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="North wing footprint")
    await expect(dialog).to_contain_text("Site plan")
    confirm = dialog.get_by_role("button", name="Confirm")
    for _ in range(20):
        if await confirm.evaluate("node => node === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(north).to_have_count(0)
    await expect(page.locator("#notice")).to_contain_text("Confirmed: North wing footprint.")
    state = select(shapes.c.state).where(shapes.c.id == first)
    assert (await db.execute(state)).scalar() == "confirmed"


async def test_a_needs_you_card_is_compact(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    await one_waiting_shape(db, context, site)
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto("/")
    card = needs_you(page, "North wing footprint")
    await expect(card).to_be_visible()
    box = await card.bounding_box()
    assert box is not None and box["height"] <= 110, box  # about half of the 180 px it was


async def test_a_refused_decision_reads_in_words(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    shape = await one_waiting_shape(db, context, site)
    await page.goto("/")
    card = needs_you(page, "North wing footprint")
    await card.get_by_role("button", name="Add note").click()
    note = card.get_by_label("Note on North wing footprint")
    await expect(note).to_be_focused()
    # Past the field's maxlength, as a script (or a paste into an older browser) can put it:
    # the service refuses it with a 422 whose detail is a list of {type, loc, msg}.
    await note.evaluate("(field) => { field.value = 'x'.repeat(2001); }")

    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await card.get_by_role("button", name="Confirm").click()
    assert (await answer.value).status == 422
    outcome = card.locator(".outcome")
    # The service's own words (a length in characters: api/http/limits._in_characters).
    await expect(outcome).to_have_text("String should have at most 2000 characters")
    # Nothing was decided: the buttons are back and the item still waits.
    await expect(card.get_by_role("button", name="Confirm")).to_be_enabled()
    state = select(shapes.c.state).where(shapes.c.id == shape)
    assert (await db.execute(state)).scalar() == "pending_confirmation"
