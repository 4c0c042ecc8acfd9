"""The wake-up of a snooze across two app instances (two workers) on one database: each
worker's stream gets the zone_changed, and the item is back with a new ETag on both."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.platform.settings import Settings
from tests.fixtures.data import make_engagement, make_person, make_session, make_shape
from tests.fixtures.live import EventStream, live_server, open_stream


async def _needs_you_event(stream: EventStream, engagement: str) -> None:
    while True:
        # Generous: the waker runs every second and the machine may be loaded.
        event = await stream.next(within=30)
        assert event is not None, "the stream ended"
        if event.event == "zone_changed" and event.json == {
            "zone": "needs_you",
            "engagement_id": engagement,
        }:
            return


async def test_a_snooze_wakes_in_every_worker(
    settings: Settings, engine: AsyncEngine, db: AsyncConnection
) -> None:
    me = await make_person(db)
    token = await make_session(db, me)
    eid = await make_engagement(db, member=me)
    shape = await make_shape(db, eid)
    cookie = {"cookie": f"loomworks_session={token}"}
    async with (
        live_server(settings) as first,
        live_server(settings) as second,
        open_stream(first, token) as a,
        open_stream(second, token) as b,
        httpx.AsyncClient(base_url=first.url, headers=cookie) as one,
    ):
        until = (datetime.now(UTC) + timedelta(seconds=6)).isoformat()
        snoozed = await one.put(f"/me/snoozes/pending_shape/{shape}", json={"until": until})
        assert snoozed.status_code == 200, snoozed.text
        # The snooze's own event first, then the wake-up's, on both workers' streams.
        await asyncio.gather(_needs_you_event(a, str(eid)), _needs_you_event(b, str(eid)))
        hidden = await one.get("/me/dashboard/needs_you")
        assert hidden.json()["total_count"] == 0
        await asyncio.gather(_needs_you_event(a, str(eid)), _needs_you_event(b, str(eid)))
        for live in (first, second):
            async with httpx.AsyncClient(base_url=live.url, headers=cookie) as client:
                back = await client.get(
                    "/me/dashboard/needs_you", headers={"if-none-match": hidden.headers["etag"]}
                )
                assert back.status_code == 200
                assert [item["item_id"] for item in back.json()["items"]] == [str(shape)]
