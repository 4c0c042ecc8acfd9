"""The page holds no registry of its own: zones, their wording and kinds come from
GET /dashboard/registry.json, so a kind added to the registry shows on the page."""

from __future__ import annotations

import dataclasses
import json
from enum import StrEnum

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, Route, expect
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core import labels, zones
from loomworks.core.states import NeedsYouKind, Zone
from tests.fixtures.data import make_engagement, make_person
from tests.web.conftest import Site, signed_in


async def test_the_registry_document_lists_every_zone_kind_and_decision(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as client:
        response = await client.get("/dashboard/registry.json")  # no session needed
    assert response.status_code == 200
    document = response.json()
    assert [zone["zone"] for zone in document["zones"]] == ["active", "needs_you", "recent"]
    needs_you = document["zones"][1]
    assert (needs_you["title"], needs_you["audience"]) == ("Needs you", "deciders")
    kinds = {kind["kind"]: kind for kind in needs_you["kinds"]}
    assert set(kinds) == set(NeedsYouKind)
    assert kinds["pending_shape"]["name"] == "Shapes to confirm"
    assert {d["decision"] for d in kinds["pending_shape"]["decisions"]} == {"confirm", "reject"}
    assert kinds["review_report"]["decisions"] == []  # no rows behind it yet


async def test_a_kind_added_to_the_registry_shows_on_the_page(
    page: Page,
    context: BrowserContext,
    site: Site,
    db: AsyncConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A new needs_you kind and a renamed zone, in the registry only: the page is not edited.
    extended = StrEnum(  # type: ignore[misc]
        "ExtendedNeedsYouKind",
        {**{kind.name: kind.value for kind in NeedsYouKind}, "STALE_RENDER": "stale_render"},
    )
    spec = dataclasses.replace(zones.ZONES[Zone.NEEDS_YOU], kinds=extended, title="Waiting")
    monkeypatch.setitem(zones.ZONES, Zone.NEEDS_YOU, spec)
    monkeypatch.setitem(labels.KIND_NAMES, "stale_render", "Stale renders")

    person = await make_person(db)
    await make_engagement(db, "Harbour", member=person)
    await signed_in(db, context, site, person)

    # The running service's routes were made before the kind existed: answer its filtered
    # zone as a service that knows it would (empty), so the page keeps the filter.
    async def empty_zone(route: Route) -> None:
        body = {"items": [], "total_count": 0, "next_cursor": None}
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    await page.route("**/me/dashboard/needs_you?*kind=stale_render*", empty_zone)
    await page.goto("/?needs_you_kind=stale_render")
    section = page.locator('section[data-zone="needs_you"]')
    await expect(section.get_by_role("heading", name="Waiting 0 items")).to_be_visible()
    select = section.locator("select")
    await expect(select.locator("option:checked")).to_have_text("Stale renders (0)")
    await expect(page.locator("#legend")).to_have_text(
        "Numbers on each engagement: active · waiting · recent."
    )
