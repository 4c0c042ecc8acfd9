"""A disabled person's webhooks, end to end with real receivers on 127.0.0.1: from the moment
they are disabled (`loomworks person disable`, or any UPDATE of persons.disabled_at) nothing
more reaches their receiver, not even a delivery already queued or being retried, while a
colleague's webhook carries on; enabling them again leaves their webhooks off until they
ping them, and nothing from the time they were disabled is sent (docs/integrations.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.webhooks import OWNER_DISABLED
from loomworks.db.people import Person
from loomworks.db.tables import webhook_attempts, webhook_deliveries, webhooks
from loomworks.db.webhooks import Outcome, claim_due, queue_ping, record_attempt
from loomworks.live.webhooks import WebhookSender
from loomworks.platform.settings import Settings
from tests.fixtures.data import (
    as_,
    join,
    make_engagement,
    make_person,
    make_session,
    make_shape,
    make_shaping_job,
)
from tests.fixtures.disabling import HOW, set_disabled
from tests.fixtures.receiver import Receiver, eventually
from tests.fixtures.webhooks import client_of, ping, pinged_webhook, running, subscribe


@pytest.fixture(autouse=True)
def _database_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOMWORKS_DATABASE_URL", database_url)


@pytest.fixture
async def colleague() -> AsyncIterator[Receiver]:
    """The receiver of a colleague's webhook on the same engagement: what must still arrive."""
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


async def _scalar(db: AsyncConnection, statement: Any) -> Any:
    return (await db.execute(statement)).scalar_one()


def _of(hook: dict[str, Any]) -> Any:
    return webhook_deliveries.c.webhook_id == uuid.UUID(hook["id"])


async def _webhook_row(db: AsyncConnection, hook: dict[str, Any]) -> Any:
    row = await db.execute(
        select(webhooks.c.active, webhooks.c.deactivated_reason).where(
            webhooks.c.id == uuid.UUID(hook["id"])
        )
    )
    return row.one()


async def _received(receiver: Receiver, event: str, count: int) -> bool:
    return len(receiver.of(event)) >= count


async def two_colleagues(db: AsyncConnection) -> tuple[Person, Person, uuid.UUID]:
    """Ada and Bea, both operators of Harbour."""
    ada, bea = await make_person(db, name="Ada"), await make_person(db, name="Bea")
    harbour = await make_engagement(db, "Harbour", member=ada)
    await join(db, bea, harbour, "operator")
    return ada, bea, harbour


@pytest.mark.parametrize("how", HOW)
async def test_nothing_reaches_a_disabled_persons_webhook_while_a_colleagues_gets_it(
    fast: Settings, db: AsyncConnection, receiver: Receiver, colleague: Receiver, how: str
) -> None:
    ada, bea, harbour = await two_colleagues(db)
    async with running(fast) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        theirs = await subscribe(client, bea, db, colleague.url)
        await make_shape(db, harbour, title="Before")
        await eventually(lambda: receiver.of("needs_you.arrived"))  # it works until then

        await set_disabled(how, db, ada, disabled=True)
        shape_id = await make_shape(db, harbour, title="After")
        job_id = await make_shaping_job(db, harbour, status="failed")
        await eventually(lambda: len(colleague.of("needs_you.arrived")) == 2)
        await eventually(lambda: colleague.of("job.failed"))
        # A later delivery to the colleague: anything of Ada's made with theirs was due first.
        await ping(client, theirs)
        await eventually(lambda: colleague.of("ping"))

    assert str(shape_id) in {r.json["item"]["item_id"] for r in colleague.of("needs_you.arrived")}
    assert colleague.of("job.failed")[0].json["item"]["item_id"] == str(job_id)
    (before,) = receiver.received
    assert "Before" in before.json["item"]["item_label"]
    # Nothing was even made for Ada's webhook after she was disabled, and it says why it is off.
    made = select(func.count()).where(_of(hook))
    assert await _scalar(db, made) == 1
    assert tuple(await _webhook_row(db, hook)) == (False, OWNER_DISABLED)


@pytest.mark.parametrize("how", HOW)
async def test_a_delivery_being_retried_when_its_owner_is_disabled_is_never_sent_again(
    fast: Settings, db: AsyncConnection, receiver: Receiver, colleague: Receiver, how: str
) -> None:
    ada, bea, harbour = await two_colleagues(db)
    receiver.status = 500
    # A long backoff: once its first attempt is recorded, the next one is 15-30 s away.
    patient = fast.model_copy(update={"webhook_retry_base_seconds": 30})
    attempted = select(func.count()).select_from(webhook_attempts)
    async with running(patient) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        theirs = await subscribe(client, bea, db, colleague.url)
        await make_shape(db, harbour)
        await eventually(lambda: colleague.of("needs_you.arrived"))
        ada_attempted = attempted.where(webhook_attempts.c.webhook_id == uuid.UUID(hook["id"]))
        await eventually(lambda: _equals(_scalar(db, ada_attempted), 1))
        # The sender stops between attempts (none is under way), so what follows is exact.
        await app.state.webhooks.close()
        assert len(receiver.received) == 1
        pending = select(func.count()).where(_of(hook), webhook_deliveries.c.state == "pending")
        assert await _scalar(db, pending) == 1

        await set_disabled(how, db, ada, disabled=True)
        # Her receiver would now answer, and her delivery's backoff is over.
        receiver.status = 200
        await db.execute(
            update(webhook_deliveries).where(_of(hook)).values(next_attempt_at=func.now())
        )
        app.state.webhooks = WebhookSender(app.state.background_engine, patient)
        app.state.webhooks.start()
        await make_shape(db, harbour)
        await eventually(lambda: len(colleague.of("needs_you.arrived")) == 2)
        await ping(client, theirs)
        await eventually(lambda: colleague.of("ping"))

    assert len(receiver.received) == 1
    ended = select(webhook_deliveries.c.state, webhook_deliveries.c.attempts).where(_of(hook))
    assert (await db.execute(ended)).all() == [("failed", 1)]
    assert await _scalar(db, ada_attempted) == 1


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


@pytest.mark.parametrize("how", HOW)
async def test_enabled_again_their_webhooks_stay_off_until_they_ping_them_and_nothing_is_replayed(
    fast: Settings, db: AsyncConnection, receiver: Receiver, colleague: Receiver, how: str
) -> None:
    ada, bea, harbour = await two_colleagues(db)
    async with running(fast) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        theirs = await subscribe(client, bea, db, colleague.url)
        await set_disabled(how, db, ada, disabled=True)
        await make_shape(db, harbour, title="While disabled")
        await eventually(lambda: _received(colleague, "needs_you.arrived", 1))

        await set_disabled(how, db, ada, disabled=False)
        await make_shape(db, harbour, title="Enabled, not yet pinged")
        await eventually(lambda: _received(colleague, "needs_you.arrived", 2))
        await ping(client, theirs)
        await eventually(lambda: colleague.of("ping"))
        assert receiver.received == []

        # Signed in again, she sees her webhook off and why; a ping that succeeds turns it on.
        hook["headers"] = as_(await make_session(db, ada))
        (listed,) = (await client.get("/me/webhooks", headers=hook["headers"])).json()["items"]
        assert (listed["active"], listed["deactivated_reason"]) == (False, OWNER_DISABLED)
        await ping(client, hook)
        await eventually(lambda: receiver.of("ping"))
        await eventually(lambda: _active(client, hook))
        await make_shape(db, harbour, title="After the ping")
        await eventually(lambda: receiver.of("needs_you.arrived"))
        await eventually(lambda: _received(colleague, "needs_you.arrived", 3))
        await ping(client, theirs)
        await eventually(lambda: _received(colleague, "ping", 2))

    assert [r.event for r in receiver.received] == ["ping", "needs_you.arrived"]
    assert "After the ping" in receiver.received[1].json["item"]["item_label"]


async def _active(client: httpx.AsyncClient, hook: dict[str, Any]) -> bool:
    response = await client.get("/me/webhooks", headers=hook["headers"])
    (item,) = response.json()["items"]
    return bool(item["active"])


async def test_the_sender_itself_sends_nothing_to_a_disabled_person(
    fast: Settings, db: AsyncConnection, receiver: Receiver, colleague: Receiver
) -> None:
    """Even with their webhook switched back on behind the service's back, a disabled
    person's deliveries are neither made nor sent (a queued ping included): the sender checks
    the owner at fan-out and at every claim, not only the webhook's switch."""
    ada, bea, harbour = await two_colleagues(db)
    async with running(fast) as (app,), client_of(app) as client:
        hook = await subscribe(client, ada, db, receiver.url)
        theirs = await subscribe(client, bea, db, colleague.url)
        await set_disabled("sql", db, ada, disabled=True)
        await db.execute(update(webhooks).values(active=True))
        await queue_ping(db, person_id=ada.id, webhook_id=uuid.UUID(hook["id"]))
        await make_shape(db, harbour)
        await eventually(lambda: colleague.of("needs_you.arrived"))
        await ping(client, theirs)
        await eventually(lambda: colleague.of("ping"))
        dropped = select(webhook_deliveries.c.event, webhook_deliveries.c.state).where(_of(hook))
        await eventually(lambda: _equals(_all(db, dropped), [("ping", "dropped")]))
    assert receiver.received == []


async def _all(db: AsyncConnection, statement: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await db.execute(statement)]


async def test_an_answer_coming_back_after_the_disable_does_not_switch_the_webhook_on(
    db: AsyncConnection,
) -> None:
    """An attempt already on its way when its owner is disabled may still be answered; the
    answer is recorded, and a 2xx neither completes the ended delivery nor turns the webhook
    back on (as a ping's would)."""
    ada = await make_person(db)
    await pinged_webhook(db, ada.id)
    (claimed,) = await claim_due(db, limit=10, lease=timedelta(seconds=60))
    assert claimed.in_scope
    await set_disabled("sql", db, ada, disabled=True)
    await record_attempt(
        db,
        claimed,
        Outcome(True, 200, None),
        retry_in=None,
        deactivate_after=timedelta(days=1),
    )
    row = (await db.execute(select(webhooks.c.active, webhooks.c.deactivated_reason))).one()
    assert tuple(row) == (False, OWNER_DISABLED)
    states = select(webhook_deliveries.c.state, webhook_deliveries.c.attempts)
    assert await _all(db, states) == [("failed", 1)]
    assert await _scalar(db, select(func.count()).select_from(webhook_attempts)) == 1
