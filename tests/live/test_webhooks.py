"""Webhook deliveries end to end: the app's own sender (running in its lifespan) posting to a
real receiver on 127.0.0.1, from changes written on other connections."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.engagements import remove_member
from loomworks.db.tables import webhook_attempts, webhook_deliveries, webhook_events
from loomworks.live.webhooks import WebhookSender
from loomworks.platform.settings import Settings
from tests.fixtures.data import join, make_engagement, make_person, make_shape, make_shaping_job
from tests.fixtures.receiver import Receiver, eventually
from tests.fixtures.webhooks import attempts, client_of, ping, running, subscribe


async def test_a_delivery_is_signed_with_the_secret(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    ada = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=ada)
    async with running(fast) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        shape_id = await make_shape(db, harbour, title="North wing footprint")
        (got,) = await eventually(lambda: receiver.of("needs_you.arrived"))
        expected = hmac.new(hook["secret"].encode(), got.body, hashlib.sha256).hexdigest()
        assert got.headers["x-loomworks-signature-256"] == f"sha256={expected}"
        assert got.headers["content-type"] == "application/json"
        body = got.json
        assert body["event"] == "needs_you.arrived"
        assert body["delivery_id"] == got.delivery_id
        assert body["engagement"] == {"id": str(harbour), "name": "Harbour"}
        item = body["item"]
        assert (item["item_kind"], item["item_id"]) == ("pending_shape", str(shape_id))
        assert "North wing footprint" in item["item_label"]
        assert [a["decision"] for a in item["actions"]] == ["confirm", "reject"]
        datetime.fromisoformat(body["occurred_at"])
        (attempt,) = await eventually(lambda: attempts(client, hook))
        assert attempt["delivery_id"] == got.delivery_id
        assert (attempt["attempt"], attempt["status_code"], attempt["error"]) == (1, 200, None)


async def test_a_failing_receiver_gets_the_same_delivery_on_every_retry(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    ada = await make_person(db)
    receiver.statuses = [500, 503]
    async with running(fast) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        delivery_id = await ping(client, hook)
        await eventually(lambda: len(receiver.received) == 3)
        assert {r.delivery_id for r in receiver.received} == {delivery_id}
        assert len({r.body for r in receiver.received}) == 1
        rows = await eventually(lambda: _when_len(attempts(client, hook), 3))
    assert [(a["attempt"], a["status_code"]) for a in rows] == [(3, 200), (2, 503), (1, 500)]
    assert {a["delivery_id"] for a in rows} == {delivery_id}
    assert {a["event"] for a in rows} == {"ping"}


async def _when_len(listing: Any, n: int) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = await listing
    return rows if len(rows) == n else None


async def test_a_receiver_stopped_mid_retry_gets_it_when_it_is_back(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    ada = await make_person(db)
    receiver.statuses = [500]
    async with running(fast) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        delivery_id = await ping(client, hook)
        await eventually(lambda: receiver.received)
        await receiver.stop()
        # At least one attempt finds nobody listening.
        await eventually(lambda: _refused(client, hook))
        await receiver.start()
        await eventually(lambda: len(receiver.received) == 2)
        assert [r.delivery_id for r in receiver.received] == [delivery_id, delivery_id]
        newest = (await eventually(lambda: _delivered(client, hook)))[0]
    assert newest["status_code"] == 200 and newest["attempt"] >= 3


async def _refused(client: httpx.AsyncClient, hook: dict[str, Any]) -> bool:
    return any(a["error"] and a["status_code"] is None for a in await attempts(client, hook))


async def _delivered(client: httpx.AsyncClient, hook: dict[str, Any]) -> list[dict[str, Any]]:
    rows = await attempts(client, hook)
    return rows if rows and rows[0]["status_code"] == 200 else []


async def test_two_senders_deliver_each_attempt_once(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    people = [await make_person(db) for _ in range(3)]
    harbour = await make_engagement(db, "Harbour")
    for person in people:
        await join(db, person, harbour, "operator")
    shapes = 40
    async with running(fast, count=2) as apps, client_of(apps[0]) as client:
        for person in people:
            await subscribe(client, person, db, receiver.url)
        for n in range(shapes):
            await make_shape(db, harbour, title=f"Shape {n}")
        await eventually(lambda: len(receiver.received) >= shapes * len(people), within=60)
        # A sentinel after them all: once it is in, nothing else is on its way.
        sentinel = await subscribe(client, people[0], db, receiver.url, ["job.failed"])
        await ping(client, sentinel)
        await eventually(lambda: receiver.of("ping"))
        recorded = select(func.count()).select_from(webhook_attempts)
        await eventually(lambda: _equals(_scalar(db, recorded), shapes * len(people) + 1))
    ids = [r.delivery_id for r in receiver.of("needs_you.arrived")]
    assert len(ids) == shapes * len(people)
    assert len(set(ids)) == len(ids)
    assert len(receiver.received) == len(ids) + 1


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _scalar(db: AsyncConnection, statement: Any) -> Any:
    return (await db.execute(statement)).scalar_one()


async def test_viewers_and_removed_members_receive_nothing_from_it(
    fast: Settings, engine: AsyncEngine, db: AsyncConnection
) -> None:
    operator, viewer, leaver = [await make_person(db) for _ in range(3)]
    harbour = await make_engagement(db, "Harbour", member=operator)
    await join(db, viewer, harbour, "viewer")
    await join(db, leaver, harbour, "operator")
    receivers = {name: Receiver() for name in ("operator", "viewer", "leaver")}
    for r in receivers.values():
        await r.start()
    try:
        async with running(fast) as (app,), client_of(app) as client:
            hooks = {
                "operator": await subscribe(client, operator, db, receivers["operator"].url),
                "viewer": await subscribe(client, viewer, db, receivers["viewer"].url),
            }
            # The leaver's delivery is fanned out while they belong, sent after they left.
            await app.state.webhooks.close()
            hooks["leaver"] = await subscribe(client, leaver, db, receivers["leaver"].url)
            await make_shape(db, harbour)
            await make_shaping_job(db, harbour, status="failed")
            once = WebhookSender(engine, fast)
            await once._fan_out()
            await once.close()
            assert await _scalar(db, _pending_for(hooks["leaver"])) == 2
            await remove_member(db, person_id=leaver.id, engagement_id=harbour)
            app.state.webhooks = WebhookSender(app.state.background_engine, fast)
            app.state.webhooks.start()

            for name, hook in hooks.items():
                await ping(client, hook)
                await eventually(lambda name=name: receivers[name].of("ping"))
            await eventually(lambda: len(receivers["operator"].received) == 3)
            await eventually(lambda: len(receivers["viewer"].received) == 2)
            seen = {name: sorted(r.event for r in rcv.received) for name, rcv in receivers.items()}
            assert seen == {
                "operator": ["job.failed", "needs_you.arrived", "ping"],
                "viewer": ["job.failed", "ping"],
                "leaver": ["ping"],
            }
            dropped = await _scalar(
                db,
                select(func.count()).where(
                    webhook_deliveries.c.webhook_id == uuid.UUID(hooks["leaver"]["id"]),
                    webhook_deliveries.c.state == "dropped",
                ),
            )
            assert dropped == 2
            assert [a["event"] for a in await attempts(client, hooks["leaver"])] == ["ping"]
    finally:
        for r in receivers.values():
            await r.stop()


def _pending_for(hook: dict[str, Any]) -> Any:
    return select(func.count()).where(
        webhook_deliveries.c.webhook_id == uuid.UUID(hook["id"]),
        webhook_deliveries.c.state == "pending",
    )


async def test_private_addresses_are_refused_at_send_time_too(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    ada = await make_person(db)
    async with running(fast) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
    strict = fast.model_copy(update={"webhook_allow_private": False})
    async with running(strict) as (app,), client_of(app) as client:
        await ping(client, hook)
        (first,) = await eventually(lambda: attempts(client, hook))
    assert first["status_code"] is None
    assert "127.0.0.1 is a loopback address" in first["error"]
    assert receiver.received == []


async def test_what_changed_while_no_sender_ran_is_sent_after_a_restart(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    ada = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=ada)
    async with running(fast) as (app,), client_of(app) as client:
        await subscribe(client, ada, db, receiver.url)
    shape_id = await make_shape(db, harbour)  # committed; no process is running
    assert await _scalar(db, select(func.count()).select_from(webhook_events)) == 1
    async with running(fast):
        (got,) = await eventually(lambda: receiver.of("needs_you.arrived"))
    assert got.json["item"]["item_id"] == str(shape_id)


async def test_a_stalled_job_is_announced_once(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    ada = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=ada, designation="viewer")
    quick = fast.model_copy(update={"stall_after_seconds": 1})
    async with running(quick) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url, ["job.stalled"])
        silent_since = datetime.now(UTC) - timedelta(hours=1)
        job_id = await make_shaping_job(db, harbour, progress_updated_at=silent_since)
        (got,) = await eventually(lambda: receiver.of("job.stalled"))
        item = got.json["item"]
        assert item["item_id"] == str(job_id)
        assert item["progress"]["stalled"] is True
        # Later scans find it still silent and say nothing more (a ping marks the point).
        sender: WebhookSender = app.state.webhooks
        scans = sender.housekeeping_rounds
        await eventually(lambda: sender.housekeeping_rounds >= scans + 3)
        await ping(client, hook)
        await eventually(lambda: receiver.of("ping"))
    assert len(receiver.of("job.stalled")) == 1


async def test_a_webhook_failing_for_its_whole_window_is_deactivated_and_a_ping_revives_it(
    fast: Settings, db: AsyncConnection, receiver: Receiver
) -> None:
    ada = await make_person(db)
    receiver.status = 500
    brief = fast.model_copy(update={"webhook_deactivate_after_seconds": 1})
    async with running(brief) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        await ping(client, hook)
        listed = await eventually(lambda: _deactivated(client, hook))
        assert "every delivery failed" in listed["deactivated_reason"]
        assert "HTTP 500" in listed["deactivated_reason"]
        receiver.status = 200
        await ping(client, hook)
        await eventually(lambda: _active(client, hook))
        assert receiver.received[-1].event == "ping"


async def _listed(client: httpx.AsyncClient, hook: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/me/webhooks", headers=hook["headers"])
    (item,) = [i for i in response.json()["items"] if i["id"] == hook["id"]]
    return item


async def _deactivated(client: httpx.AsyncClient, hook: dict[str, Any]) -> dict[str, Any] | None:
    item = await _listed(client, hook)
    return item if not item["active"] else None


async def _active(client: httpx.AsyncClient, hook: dict[str, Any]) -> bool:
    return bool((await _listed(client, hook))["active"])


async def test_the_outbox_stays_empty_while_no_webhook_is_active(db: AsyncConnection) -> None:
    ada = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=ada)
    await make_shape(db, harbour)
    assert await _scalar(db, select(func.count()).select_from(webhook_events)) == 0
