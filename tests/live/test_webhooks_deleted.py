"""A webhook, or its owner, deleted while an attempt to it is under way, or an outcome the
database refuses to record, with real receivers on 127.0.0.1: that outcome is dropped when it
comes back, and the other outcomes recorded with it are saved (not left to be sent again once
their lease runs out)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.tables import persons, webhook_deliveries, webhooks
from loomworks.live.webhooks import WebhookSender
from loomworks.platform.settings import Settings
from tests.fixtures.data import make_person, waiting_on_a_lock
from tests.fixtures.receiver import Receiver, eventually
from tests.fixtures.webhooks import attempts, client_of, ping, running, subscribe


@pytest.fixture
async def held() -> AsyncIterator[tuple[Receiver, Receiver, asyncio.Event]]:
    """Two receivers that record a request at once but answer it only once the event is set."""
    gate = asyncio.Event()
    receivers = (Receiver(hold=gate), Receiver(hold=gate))
    for receiver in receivers:
        await receiver.start()
    yield (*receivers, gate)
    gate.set()
    for receiver in receivers:
        await receiver.stop()


async def _state(db: AsyncConnection, delivery_id: str) -> str | None:
    state = await db.execute(
        select(webhook_deliveries.c.state).where(webhook_deliveries.c.id == uuid.UUID(delivery_id))
    )
    return state.scalar_one_or_none()


# Installed by the "refused" case: the database refuses to record one webhook's attempts, as
# it would an attempt whose delivery is deleted between the recorder's read and its write.
# Installed before anything is sent: DDL on the table would wait for the held recorder.
REFUSE_SQL = (
    """
    CREATE FUNCTION refuse_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.webhook_id = '{webhook_id}' THEN
            RAISE EXCEPTION 'refused for the test' USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER refuse_attempt BEFORE INSERT ON webhook_attempts "
    "FOR EACH ROW EXECUTE FUNCTION refuse_attempt()",
)


@pytest.fixture
async def refusals(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """Webhook ids whose attempts the database is to refuse (at most one)."""
    refused: list[str] = []
    yield refused
    if refused:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER IF EXISTS refuse_attempt ON webhook_attempts"))
            await conn.execute(text("DROP FUNCTION IF EXISTS refuse_attempt()"))


@pytest.mark.parametrize("deleted", ["webhook", "person", "refused"])
async def test_an_outcome_that_cannot_be_recorded_does_not_lose_the_rest_of_its_batch(
    fast: Settings,
    engine: AsyncEngine,
    db: AsyncConnection,
    receiver: Receiver,
    held: tuple[Receiver, Receiver, asyncio.Event],
    refusals: list[str],
    deleted: str,
) -> None:
    ada_receiver, bea_receiver, answer = held
    ada, bea, cy = [await make_person(db, name=name) for name in ("Ada", "Bea", "Cy")]
    async with running(fast) as (app,), client_of(app) as client:
        sender: WebhookSender = app.state.webhooks
        gone = await subscribe(client, ada, db, ada_receiver.url)
        kept = await subscribe(client, bea, db, bea_receiver.url)
        busy = await subscribe(client, cy, db, receiver.url)
        if deleted == "refused":
            refusals.append(gone["id"])
            async with engine.begin() as conn:
                for statement in REFUSE_SQL:
                    await conn.execute(text(statement.format(webhook_id=uuid.UUID(gone["id"]))))
        # Cy's webhook has a failing streak, so recording its success writes the webhook's
        # row, which is locked here: the recorder waits on Cy's outcome while Ada's and Bea's
        # come back, and then records those two together, in one batch.
        busy_id = uuid.UUID(busy["id"])
        await db.execute(
            update(webhooks).where(webhooks.c.id == busy_id).values(failing_since=text("now()"))
        )
        async with engine.connect() as locker:
            await locker.execute(
                select(webhooks.c.id)
                .where(webhooks.c.id == busy_id)
                .with_for_update(key_share=True)
            )
            await ping(client, busy)
            await eventually(lambda: receiver.received and waiting_on_a_lock(db))
            ada_ping, bea_ping = await ping(client, gone), await ping(client, kept)
            await eventually(lambda: ada_receiver.received and bea_receiver.received)
            # While both attempts are under way, Ada's webhook (or Ada) is deleted, or the
            # database made to refuse Ada's outcome.
            if deleted == "webhook":
                path = f"/me/webhooks/{gone['id']}"
                assert (await client.delete(path, headers=gone["headers"])).status_code == 204
            elif deleted == "person":
                await db.execute(delete(persons).where(persons.c.id == ada.id))
            # "refused": the trigger installed above refuses to record Ada's outcome.
            expected_state = "pending" if deleted == "refused" else None
            assert await _state(db, ada_ping) == expected_state
            answer.set()
            await eventually(lambda: sender.outcomes_waiting == 2)
            await locker.rollback()

        async def bea_delivered() -> bool:
            return await _state(db, bea_ping) == "delivered"

        # Bea's attempt is saved as it came back, not left to be sent again after its lease.
        await eventually(bea_delivered)
        assert {r.delivery_id for r in bea_receiver.received} == {bea_ping}
        assert (await attempts(client, kept))[-1]["attempt"] == 1
        # Ada's refused outcome is the one lost: sent again once its lease runs out.
        assert await _state(db, ada_ping) == expected_state
    assert [r.delivery_id for r in ada_receiver.received] == [ada_ping]
