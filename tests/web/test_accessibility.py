"""The page has no accessibility violations that axe-core finds, in every view a person meets:
the dashboard with items in each zone, an item's detail, a render's previews, the snooze menu,
the notice after a decision, the Done view, the sign-in form (also refusing a password), and
dark mode.

axe-core comes from the axe-playwright-python package (its bundled axe.min.js). The page's
Content-Security-Policy allows scripts from its own origin only, so an inline copy
(`add_script_tag(path=...)`) is refused; the script is served at a path of the page's origin
by a route instead, and the page keeps the policy it ships with."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Locator, Page, Route, expect
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.people import Person
from tests.fixtures.browser import NewContext
from tests.fixtures.data import (
    make_engagement,
    make_person,
    make_render,
    make_shape,
    make_shaping_job,
)
from tests.web.conftest import Site, signed_in

AXE_SCRIPT = (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
AXE_URL = "/__tests__/axe.min.js"
# WCAG 2.0, 2.1 and 2.2 levels A and AA, and Deque's best practices: all pass today.
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}
SHAPE = "North wing footprint"
RENDER = "Render #2: Ground floor"
EMAIL = "ops@example.test"
PLAN = b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><circle r="9"/></svg>'
ROOMS = b"room,area\nhall,20\nkitchen,12\n"
# The render waiting for review is a recent one too.
ITEMS_PER_ZONE = {"active": 1, "needs_you": 2, "recent": 2}


def needs_you_card(page: Page, title: str = SHAPE) -> Locator:
    return page.locator('section[data-zone="needs_you"] .items > li', has_text=title)


async def dashboard(page: Page) -> None:
    """Every zone holds its items, and the engagement's filter has its numbers."""
    for zone, count in ITEMS_PER_ZONE.items():
        await expect(page.locator(f'section[data-zone="{zone}"] .items > li')).to_have_count(count)
    chip = re.compile(r"^Harbour\W+1 active, 2 needs you, 2 recent")
    await expect(page.get_by_role("button", name=chip)).to_be_visible()


async def item_detail(page: Page) -> None:
    await dashboard(page)
    await needs_you_card(page).get_by_role("button", name=SHAPE, exact=True).click()
    # Found by its place in the page, not its name or role: those are axe's to check.
    dialog = page.locator("dialog#detail")
    await expect(dialog.locator("#detail-title")).to_have_text(SHAPE)
    await expect(dialog).to_contain_text("Site plan")
    await expect(dialog.locator("button[data-decision=confirm]")).to_be_visible()


async def render_previews(page: Page) -> None:
    await dashboard(page)
    await needs_you_card(page, RENDER).get_by_role("button", name=RENDER, exact=True).click()
    dialog = page.locator("dialog#detail")
    await expect(dialog.locator("#detail-title")).to_have_text(RENDER)
    await expect(dialog.locator("img.preview-image")).to_have_js_property("complete", True)
    await expect(dialog.locator("pre.preview-text")).to_contain_text("kitchen")


async def snooze_menu(page: Page) -> None:
    await dashboard(page)
    await page.get_by_role("button", name=f"Snooze {SHAPE}", exact=True).click()
    await expect(page.get_by_role("menu", name=f"Snooze {SHAPE}")).to_be_visible()


async def notice_with_undo(page: Page) -> None:
    await dashboard(page)
    await needs_you_card(page).get_by_role("button", name="Confirm", exact=True).click()
    notice = page.locator("#notice")
    await expect(notice).to_contain_text(f"Confirmed: {SHAPE}.")
    await expect(notice.get_by_role("button", name="Undo")).to_be_visible()


async def done_view(page: Page) -> None:
    await notice_with_undo(page)
    await page.get_by_role("button", name="Done", exact=True).click()
    done = page.locator("#done .items > li", has_text=SHAPE)
    await expect(done.get_by_role("button", name=re.compile("^Undo"))).to_be_visible()


async def sign_in_form(page: Page) -> None:
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#email")).to_be_editable()


async def sign_in_refused(page: Page) -> None:
    await sign_in_form(page)
    await page.locator("#email").fill(EMAIL)
    await page.locator("#password").fill("not the password")
    await page.locator("#sign-in-form [type=submit]").click()
    await expect(page.locator("#sign-in-error")).to_contain_text("wrong")


@dataclass(frozen=True)
class View:
    reach: Callable[[Page], Awaitable[None]]
    signed_in: bool = True
    color_scheme: str = "light"


VIEWS = {
    "dashboard": View(dashboard),
    "item detail": View(item_detail),
    "render previews": View(render_previews),
    "snooze menu": View(snooze_menu),
    "notice with undo": View(notice_with_undo),
    "done view": View(done_view),
    "sign-in form": View(sign_in_form, signed_in=False),
    "sign-in refused": View(sign_in_refused, signed_in=False),
    "dashboard, dark": View(dashboard, color_scheme="dark"),
    "item detail, dark": View(item_detail, color_scheme="dark"),
    "sign-in form, dark": View(sign_in_form, signed_in=False, color_scheme="dark"),
}


async def with_axe(context: BrowserContext) -> None:
    """Serve axe.min.js at AXE_URL on the page's own origin."""

    async def serve(route: Route) -> None:
        await route.fulfill(body=AXE_SCRIPT, content_type="text/javascript")

    await context.route(f"**{AXE_URL}", serve)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(url=AXE_URL)
    results = await page.evaluate("(options) => axe.run(document, options)", AXE_OPTIONS)
    assert results["passes"], "axe checked nothing"  # it ran its rules over a drawn page
    violations: list[dict[str, Any]] = results["violations"]
    return violations


# The elements whose aria-controls names an element not in the page: axe only asks for a review
# of the reference of a button with aria-haspopup (the snooze menus' buttons), so it is checked
# here.
DANGLING_CONTROLS = """() => [...document.querySelectorAll("[aria-controls]")]
  .filter((node) => node.getAttribute("aria-controls").trim().split(/\\s+/)
    .some((id) => !document.getElementById(id)))
  .map((node) => node.outerHTML)"""


def described(violations: list[dict[str, Any]]) -> str:
    """Each violation with what to read about it and where it is on the page."""
    lines = [f"{len(violations)} accessibility violation(s):"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            target = " >> ".join(str(selector) for selector in node["target"])
            summary = "; ".join(line.strip() for line in node["failureSummary"].splitlines())
            lines.append(f"    at {target}: {summary}")
    return "\n".join(lines)


async def seed(db: AsyncConnection) -> Person:
    """A person whose one engagement has a running job, a shape and a render (with an image
    and a table to preview) waiting for them, and a reviewed render: items in every zone."""
    person = await make_person(db, EMAIL, name="Olive Operator")
    eid = await make_engagement(db, "Harbour", member=person)
    started = datetime.now(UTC) - timedelta(minutes=3)
    await make_shaping_job(
        db, eid, started_at=started, summary_counts={"processed": 3, "total": 10}
    )
    await make_shape(db, eid, title=SHAPE)
    await make_render(db, eid, title="Cost summary", reviewed_at=datetime.now(UTC))
    await make_render(
        db,
        eid,
        title="Ground floor",
        display_number=2,
        content_kind="multi_file",
        files=[("plan.svg", "image/svg+xml", PLAN), ("rooms.csv", "text/csv", ROOMS)],
    )
    return person


@pytest.mark.parametrize("view", list(VIEWS))
async def test_no_accessibility_violations(
    view: str, new_context: NewContext, site: Site, db: AsyncConnection
) -> None:
    spec = VIEWS[view]
    # Reduced motion: colours are read once they have settled, not halfway through a fade.
    context = await new_context(color_scheme=spec.color_scheme, reduced_motion="reduce")
    await with_axe(context)
    person = await seed(db)
    if spec.signed_in:
        await signed_in(db, context, site, person)
    page = await context.new_page()
    await page.goto("/" if spec.signed_in else "/login")
    await spec.reach(page)

    violations = await axe_violations(page)
    if violations:
        pytest.fail(described(violations), pytrace=False)
    assert await page.evaluate(DANGLING_CONTROLS) == [], "aria-controls names nothing in the page"
