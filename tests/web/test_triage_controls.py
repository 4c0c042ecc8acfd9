"""Triage controls on the needs_you cards in a real browser: "I'm on it" seen on a colleague's
page, the claimed filter in the URL, the overdue mark, snooze (also until a chosen time) and
bring back, and a desktop notification for an arrival while the page is hidden that opens the
item when clicked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import httpx
from playwright.async_api import (
    BrowserContext,
    FloatRect,
    Locator,
    Page,
    Request,
    expect,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.people import Person
from tests.fixtures.browser import NewContext
from tests.fixtures.data import join, make_engagement, make_person, make_session, make_shape
from tests.web.conftest import Site, one_waiting_shape, signed_in

NOW = datetime.now(UTC)


def card(page: Page, text: str) -> Locator:
    return page.locator('section[data-zone="needs_you"] .items > li', has_text=text)


def snooze_button(page: Page, label: str) -> Locator:
    return page.get_by_role("button", name=f"Snooze {label}", exact=True)


async def choose_snooze(page: Page, label: str, choice: str) -> None:
    """Open an item's Snooze… menu and click one of its choices."""
    await snooze_button(page, label).click()
    menu = page.get_by_role("menu", name=f"Snooze {label}")
    await menu.get_by_role("menuitem", name=choice).click()


async def _two_wings(db: AsyncConnection) -> Person:
    """A person whose needs_you holds "North wing" and, a minute older, "South wing"."""
    person = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=person)
    await make_shape(db, harbour, title="North wing", created_at=NOW)
    await make_shape(db, harbour, title="South wing", created_at=NOW - timedelta(minutes=1))
    return person


async def test_a_claim_is_seen_on_a_colleagues_page_and_filters_by_claim(
    page: Page, context: BrowserContext, new_context: NewContext, site: Site, db: AsyncConnection
) -> None:
    olive = await make_person(db, name="Olive Operator")
    casey = await make_person(db, name="Casey Colleague")
    harbour = await make_engagement(db, "Harbour", member=olive)
    await join(db, casey, harbour, "operator")
    await make_shape(db, harbour, title="North wing", created_at=NOW)
    await make_shape(db, harbour, title="Old cellar", created_at=NOW - timedelta(days=3))
    await signed_in(db, context, site, olive)
    theirs_context = await new_context()
    await signed_in(db, theirs_context, site, casey)
    theirs = await theirs_context.new_page()
    await page.goto("/")
    await theirs.goto("/")
    await expect(card(theirs, "North wing")).to_be_visible()

    # Overdue is a word on the card, not a colour alone.
    await expect(card(page, "Old cellar").locator(".overdue")).to_have_text("Overdue")
    await expect(card(page, "North wing").locator(".overdue")).to_have_count(0)

    north = card(page, "North wing")
    await north.get_by_role("button", name="I'm on it").click()
    await expect(north.get_by_role("button", name="Release")).to_be_visible()
    await expect(card(theirs, "North wing")).to_contain_text("Olive Operator is on it")
    await expect(card(theirs, "North wing").get_by_role("button", name="I'm on it")).to_have_count(
        0
    )

    # The colleague's "Unclaimed" hides it, and the filter lives in the URL.
    await theirs.get_by_label("Claimed").select_option("none")
    await expect(card(theirs, "North wing")).to_have_count(0)
    await expect(card(theirs, "Old cellar")).to_be_visible()
    assert "claimed=none" in theirs.url
    await theirs.reload()
    await expect(theirs.get_by_label("Claimed")).to_have_value("none")
    await expect(card(theirs, "Old cellar")).to_be_visible()
    await expect(card(theirs, "North wing")).to_have_count(0)

    # Mine shows only what I hold.
    await page.get_by_label("Claimed").select_option("mine")
    await expect(card(page, "Old cellar")).to_have_count(0)
    await expect(card(page, "North wing")).to_be_visible()
    await page.get_by_label("Claimed").select_option("")
    await expect(card(page, "Old cellar")).to_be_visible()

    await card(page, "North wing").get_by_role("button", name="Release").click()
    await expect(card(page, "North wing").get_by_role("button", name="I'm on it")).to_be_visible()
    await theirs.get_by_label("Claimed").select_option("")
    await expect(card(theirs, "North wing").get_by_role("button", name="I'm on it")).to_be_visible()


async def test_snooze_and_bring_back(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await _two_wings(db)
    await signed_in(db, context, site, person)

    await page.goto("/")
    await expect(card(page, "North wing")).to_be_visible()
    async with page.expect_request(lambda r: r.method == "PUT") as put:
        await choose_snooze(page, "North wing", "Tomorrow 09:00")
    until = (await put.value).post_data_json["until"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT09:00:00[+-]\d\d:\d\d", until), until  # local, offset
    await expect(card(page, "North wing")).to_have_count(0)
    await expect(card(page, "South wing")).to_be_visible()
    snoozed = page.locator("#snoozed")
    await expect(snoozed.locator("summary")).to_have_text("Snoozed 1")
    await snoozed.locator("summary").click()
    row = snoozed.locator("li", has_text="North wing")
    await expect(row).to_contain_text("Harbour")
    await row.get_by_role("button", name="Bring back").click()
    await expect(card(page, "North wing")).to_be_visible()
    await expect(snoozed.locator("summary")).to_have_text("Snoozed 0")
    await expect(snoozed.locator("li")).to_have_count(0)


async def test_arrow_keys_never_snooze_and_the_keyboard_chooses_in_the_open_menu(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await _two_wings(db)
    await signed_in(db, context, site, person)
    puts: list[Request] = []
    page.on("request", lambda r: puts.append(r) if r.method == "PUT" else None)

    await page.goto("/")
    button = snooze_button(page, "North wing")
    menu = page.get_by_role("menu", name="Snooze North wing")
    await expect(button).to_have_attribute("aria-haspopup", "true")
    # Closed, the arrow keys do nothing to it (a <select> here snoozed for "1 hour" at once).
    await button.focus()
    for key in ("ArrowDown", "ArrowUp", "ArrowDown"):
        await page.keyboard.press(key)
    await expect(button).to_be_focused()
    await expect(button).to_have_attribute("aria-expanded", "false")
    await expect(menu).to_have_count(0)
    # The button's aria-controls names its menu, which is in the page while closed (hidden).
    controls = await button.get_attribute("aria-controls")
    named = page.locator(f'[id="{controls}"]')
    await expect(named).to_have_count(1)
    await expect(named).to_have_attribute("role", "menu")
    await expect(named).to_be_hidden()

    # Enter opens it on its first choice; Escape closes it, back on the button.
    await page.keyboard.press("Enter")
    await expect(button).to_have_attribute("aria-expanded", "true")
    await expect(menu).to_have_id(str(controls))
    await expect(menu.get_by_role("menuitem")).to_have_text(
        ["1 hour", "Tomorrow 09:00", "Next Monday 09:00", "A chosen time…"]
    )
    await expect(menu.get_by_role("menuitem", name="1 hour")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(menu).to_have_count(0)
    await expect(button).to_be_focused()
    await expect(button).to_have_attribute("aria-expanded", "false")
    await expect(named).to_have_count(1)

    # Space opens it; the page's shortcuts wait (j would move to the next card), the arrows move
    # within it (wrapping), and Enter chooses.
    await page.keyboard.press("Space")
    await expect(menu.get_by_role("menuitem", name="1 hour")).to_be_focused()
    await page.keyboard.press("j")
    await expect(menu.get_by_role("menuitem", name="1 hour")).to_be_focused()
    await page.keyboard.press("ArrowUp")
    await expect(menu.get_by_role("menuitem", name="A chosen time…")).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    monday = menu.get_by_role("menuitem", name="Next Monday 09:00")
    await expect(monday).to_be_focused()
    async with page.expect_response(lambda r: r.request.method == "PUT") as answer:
        await page.keyboard.press("Enter")
    assert (await answer.value).status == 200
    until = datetime.fromisoformat((await answer.value).request.post_data_json["until"])
    assert (until.weekday(), until.hour, until.minute) == (0, 9, 0), until  # local, offset
    assert until > datetime.now(UTC)
    # Only that choice was sent: the arrow keys before it sent nothing.
    assert len(puts) == 1, [r.post_data for r in puts]

    await expect(card(page, "North wing")).to_have_count(0)
    await expect(card(page, "South wing")).to_be_visible()
    await expect(page.locator("#snoozed summary")).to_have_text("Snoozed 1")
    await expect(page.locator("#zone-needs_you-title")).to_be_focused()  # focus not lost


async def test_the_snooze_menu_opens_above_its_button_when_there_is_no_room_below(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    await one_waiting_shape(db, context, site)
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto("/")
    button = snooze_button(page, "North wing footprint")
    menu = page.get_by_role("menu", name="Snooze North wing footprint")

    async def opened() -> tuple[FloatRect, FloatRect]:
        """Open the menu; the button's and the list's boxes (in the window), the page unscrolled."""
        await button.click()
        await expect(menu.get_by_role("menuitem", name="1 hour")).to_be_focused()
        assert await page.evaluate("window.scrollY") == 0  # the list did not pull the page along
        at, box = await button.bounding_box(), await menu.bounding_box()
        assert at is not None and box is not None
        await page.keyboard.press("Escape")
        await expect(menu).to_have_count(0)
        return at, box

    # Room below the button: the list opens below it.
    at, box = await opened()
    assert box["y"] >= at["y"] + at["height"]

    # The window ends just under the button: the list opens above it, whole in the window.
    await page.set_viewport_size({"width": 1280, "height": round(at["y"] + at["height"]) + 8})
    at, box = await opened()
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= at["y"]

    # And below again once there is room.
    await page.set_viewport_size({"width": 1280, "height": 900})
    at, box = await opened()
    assert box["y"] >= at["y"] + at["height"]


# India keeps one offset all year, and not a whole hour: a wrong or missing offset shows.
KOLKATA = timezone(timedelta(hours=5, minutes=30))


async def test_snooze_until_a_chosen_time(
    new_context: NewContext, site: Site, db: AsyncConnection
) -> None:
    person = await _two_wings(db)
    context = await new_context(timezone_id="Asia/Kolkata")
    await signed_in(db, context, site, person)
    page = await context.new_page()
    await page.goto("/")
    await expect(card(page, "North wing")).to_be_visible()

    chosen = (datetime.now(KOLKATA) + timedelta(days=2)).replace(
        hour=14, minute=30, second=0, microsecond=0
    )
    button = snooze_button(page, "North wing")
    await choose_snooze(page, "North wing", "A chosen time…")
    form = page.get_by_role("dialog", name="Snooze until a chosen time North wing")
    field = form.get_by_label("Snooze until")
    await expect(field).to_be_focused()
    await expect(field).to_have_attribute("type", "datetime-local")
    await expect(field).to_have_attribute("min", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d$"))
    zone = re.compile(r"Your local time \(Asia/(Kolkata|Calcutta)\)\.")  # ICU's older name
    await expect(form).to_contain_text(zone)
    await expect(button).to_have_attribute("aria-expanded", "false")  # the list closed
    await expect(page.get_by_role("menu")).to_have_count(0)

    await field.fill(chosen.strftime("%Y-%m-%dT%H:%M"))
    async with page.expect_request(lambda r: r.method == "PUT") as put:
        await field.press("Enter")  # the keyboard submits the form
    assert (await put.value).post_data_json["until"] == chosen.isoformat()  # local, offset
    await expect(form).to_be_hidden()
    await expect(card(page, "North wing")).to_have_count(0)
    await expect(card(page, "South wing")).to_be_visible()
    await expect(page.locator("#zone-needs_you-title")).to_be_focused()

    snoozed = page.locator("#snoozed")
    await expect(snoozed.locator("summary")).to_have_text("Snoozed 1")
    await snoozed.locator("summary").click()
    row = snoozed.locator("li", has_text="North wing")
    await expect(row).to_contain_text("Harbour")
    until = await row.locator("time").get_attribute("datetime")
    assert until is not None
    assert datetime.fromisoformat(until) == chosen  # the same moment, as the service keeps it


async def test_a_chosen_time_in_the_past_or_refused_is_said_in_the_form(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    casey = await make_person(db, name="Casey Colleague")
    harbour = await make_engagement(db, "Harbour", member=person)
    await join(db, casey, harbour, "operator")
    north = await make_shape(db, harbour, title="North wing", created_at=NOW)
    await signed_in(db, context, site, person)
    puts: list[Request] = []
    page.on("request", lambda r: puts.append(r) if r.method == "PUT" else None)

    await page.goto("/")
    button = snooze_button(page, "North wing")
    await choose_snooze(page, "North wing", "A chosen time…")
    form = page.get_by_role("dialog", name="Snooze until a chosen time North wing")
    field = form.get_by_label("Snooze until")
    error = form.get_by_role("alert")

    # Past: said at once, nothing sent.
    await field.fill("2020-01-06T09:00")
    await form.get_by_role("button", name="Snooze", exact=True).click()
    await expect(error).to_have_text(re.compile(r"has passed: choose a later time\.$"))
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_be_focused()
    # No date: the same.
    await field.fill("")
    await form.get_by_role("button", name="Snooze", exact=True).click()
    await expect(error).to_have_text("Choose a date and a time.")
    assert puts == []

    # What the service refuses, it says in its own words.
    far = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%dT12:00")
    await field.fill(far)
    await expect(field).not_to_have_attribute("aria-invalid", "true")
    async with page.expect_response(lambda r: r.request.method == "PUT") as answer:
        await form.get_by_role("button", name="Snooze", exact=True).click()
    assert (await answer.value).status == 422
    await expect(error).to_have_text("Not snoozed: until must be at most 30 days ahead")
    await expect(form).to_be_visible()

    # A colleague's claim redraws the card beneath the form.
    token = await make_session(db, casey)
    async with httpx.AsyncClient(base_url=site.url, cookies={"loomworks_session": token}) as theirs:
        claimed = await theirs.post(f"/engagements/{harbour}/shapes/{north}/claim")
        assert claimed.status_code == 200, claimed.text
    await expect(card(page, "North wing")).to_contain_text("Casey Colleague is on it")

    # Escape leaves it as it was, focus back on the item's Snooze button (on its redrawn card).
    await page.keyboard.press("Escape")
    await expect(form).to_be_hidden()
    await expect(button).to_be_focused()
    await expect(card(page, "North wing")).to_be_visible()
    await expect(page.locator("#snoozed summary")).to_have_text("Snoozed 0")


HIDDEN_AND_WATCHED = """
Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => true });
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true,
  get: () => "hidden",
});
(() => {
  const Real = window.Notification;
  window.__notes = [];
  function Watched(title, options) {
    const note = { title, body: options && options.body, onclick: null, close() {} };
    window.__notes.push(note);
    return note;
  }
  Object.defineProperty(Watched, "permission", { get: () => Real.permission });
  Watched.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Watched;
})();
"""


async def test_a_notification_for_an_arrival_while_hidden(
    page: Page, context: BrowserContext, site: Site, db: AsyncConnection
) -> None:
    person = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=person)
    await make_shape(db, harbour, title="North wing", created_at=NOW)
    await signed_in(db, context, site, person)
    await context.grant_permissions(["notifications"])
    await context.add_init_script(HIDDEN_AND_WATCHED)

    await page.goto("/")
    await expect(card(page, "North wing")).to_be_visible()
    await expect(page.get_by_role("button", name="Notifications on")).to_be_disabled()
    assert await page.evaluate("window.__notes.length") == 0  # what was there at load is not new

    await make_shape(db, harbour, title="Harbour gate", created_at=NOW)
    await expect(card(page, "Harbour gate")).to_be_visible()
    await page.wait_for_function("window.__notes.length > 0")
    notes = await page.evaluate("window.__notes.map((n) => [n.title, n.body])")
    assert notes == [["Harbour gate", "Harbour"]]

    # Clicking it opens that item: its detail over its card, which closing it returns to.
    await page.evaluate("window.__notes[0].onclick()")
    detail = page.get_by_role("dialog", name="Harbour gate")
    await expect(detail).to_be_visible()
    await expect(detail).to_contain_text("Harbour")
    await expect(detail.get_by_role("button", name="Close")).to_be_focused()
    await expect(card(page, "Harbour gate")).to_be_in_viewport()
    await page.keyboard.press("Escape")
    await expect(detail).to_be_hidden()
    await expect(card(page, "Harbour gate")).to_be_focused()
