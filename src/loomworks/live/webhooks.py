"""The webhook sender, one per process (docs/integrations.md): it fans the outbox out into
deliveries, claims the due ones (FOR UPDATE SKIP LOCKED, so processes never share an
attempt), posts them signed, and records each attempt with its retry or its end.

It polls: every LOOMWORKS_WEBHOOK_POLL_SECONDS, or at once while more is waiting. It works on
an engine of its own, so a burst of deliveries never takes the requests' connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.core.items import Moment, json_bytes
from loomworks.core.kinds import SOURCE_OF
from loomworks.core.rows import ZoneRow
from loomworks.core.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    delivery_body,
    payload_of,
    retry_delay,
    signature,
)
from loomworks.db.outbox import OutboxEvent, forget_events, item_rows, record_stalls, take_events
from loomworks.db.webhooks import (
    Claimed,
    Outcome,
    claim_due,
    fan_out,
    forget_finished,
    record_attempt,
)
from loomworks.platform import outbound
from loomworks.platform.faults import describe, is_unavailable
from loomworks.platform.settings import Settings

log = logging.getLogger(__name__)
# An attempt come back: its delivery, how it went, and when to try again (None: never).
Returned = tuple[Claimed, Outcome, timedelta | None]

TIMEOUT_SECONDS = 10.0  # a 2xx within this completes a delivery
# A claimed attempt not recorded within this (its process died) is due again.
LEASE = timedelta(seconds=60)
SEND_CONCURRENCY = 32  # attempts under way at once, per process
# The loop's transactions and the recorder's, each on its own connection.
SENDER_CONNECTIONS = 2
FANOUT_BATCH = 200
HOUSEKEEPING_MAX_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 2.0  # at shutdown, how long to let a transaction under way finish
KEEP_FINISHED = timedelta(days=30)
USER_AGENT = "Loomworks-Webhooks/1"


class WebhookSender:
    """`start()` in the app's lifespan, `close()` at shutdown."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._client = httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would skip the address check
            limits=httpx.Limits(max_connections=SEND_CONCURRENCY),
        )
        self._in_flight: set[asyncio.Task[None]] = set()
        # Outcomes waiting to be recorded, all of them in one transaction (one commit for a
        # burst rather than one each); until recorded they count as under way.
        self._outcomes: list[Returned] = []
        self._outcome_ready = asyncio.Event()
        self._room = asyncio.Event()  # set when an attempt has been recorded
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._next_housekeeping = 0.0
        self.housekeeping_rounds = 0  # how many stall scans have finished (for the tests)
        # How often stalls are looked for: a few times per stall threshold, at most every 30 s.
        self._housekeeping_every = max(
            settings.webhook_poll_seconds,
            min(HOUSEKEEPING_MAX_SECONDS, settings.stall_after_seconds / 4),
        )

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="webhook-sender"),
            asyncio.create_task(self._record(), name="webhook-recorder"),
        ]

    async def close(self) -> None:
        """Stop between transactions rather than in one (a transaction cut off mid-way would
        hold its locks until its connection is reclaimed), recording what has come back;
        an attempt cut off here is sent again once its lease has passed."""
        self._stopping.set()
        self._outcome_ready.set()
        self._room.set()
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        except TimeoutError:  # the database is not answering: give up on it
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    # --- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            more = False
            try:
                if loop.time() >= self._next_housekeeping:
                    await self._housekeep()
                    self._next_housekeeping = loop.time() + self._housekeeping_every
                more = await self._fan_out() >= FANOUT_BATCH
                free = SEND_CONCURRENCY - self._under_way
                if free > 0:
                    more = await self._claim(free) == free or more
            except Exception as exc:  # the sender must outlive any one failure
                _log_failure("webhook sender", exc)
            await self._pause(more)

    async def _pause(self, more: bool) -> None:
        """At once when more is waiting and there is room for it; when there is no room, until
        attempts have been recorded; otherwise one poll interval."""
        if more and self._under_way < SEND_CONCURRENCY:
            await asyncio.sleep(0)
            return
        self._room.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.webhook_poll_seconds):
                await (self._room if more else self._stopping).wait()

    async def _housekeep(self) -> None:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await record_stalls(conn, stall_after=self._settings.stall_after, now=now)
            await forget_finished(conn, before=now - KEEP_FINISHED)
        self.housekeeping_rounds += 1

    async def _fan_out(self) -> int:
        """Turn recorded events into deliveries and forget them, in one transaction: a crash
        before its commit leaves them recorded; how many events were taken."""
        async with self._engine.begin() as conn:
            events = await take_events(conn, limit=FANOUT_BATCH)
            if not events:
                return 0
            entries = await _entries(conn, events, self._settings.stall_after)
            if entries:
                await fan_out(conn, json_bytes(entries))
            await forget_events(conn, [event.id for event in events])
        return len(events)

    async def _claim(self, limit: int) -> int:
        async with self._engine.begin() as conn:
            claimed = await claim_due(conn, limit=limit, lease=LEASE)
        for delivery in claimed:
            if delivery.in_scope:
                task = asyncio.create_task(self._deliver(delivery))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    # --- one attempt ---------------------------------------------------------------------

    async def _deliver(self, delivery: Claimed) -> None:
        outcome = await self._post(delivery)
        settings = self._settings
        retry_in = None
        if not outcome.delivered and delivery.attempt < settings.webhook_max_attempts:
            delay = retry_delay(settings.webhook_retry_base_seconds, delivery.attempt)
            retry_in = timedelta(seconds=delay)
        self._outcomes.append((delivery, outcome, retry_in))
        self._outcome_ready.set()

    @property
    def _under_way(self) -> int:
        return len(self._in_flight) + len(self._outcomes)

    @property
    def outcomes_waiting(self) -> int:
        """Outcomes come back and not yet taken by the recorder (for the tests)."""
        return len(self._outcomes)

    async def _record(self) -> None:
        """Record the outcomes that have come in, a batch per transaction. If the database
        refuses the batch (one outcome's delivery deleted at that very moment, a deadlock
        with a deletion), each outcome is recorded again on its own, so only the refused one
        is lost; a batch that cannot be recorded because the database is unavailable is
        dropped whole. A lost outcome's delivery is sent again once its lease runs out."""
        while not (self._stopping.is_set() and not self._outcomes):
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            batch, self._outcomes = self._outcomes, []
            if not batch:
                continue
            try:
                await self._save(batch)
            except Exception as exc:
                if len(batch) == 1 or is_unavailable(exc):
                    _log_failure(f"recording {len(batch)} webhook attempts", exc)
                else:
                    await self._save_each(batch)
            self._room.set()

    async def _save(self, outcomes: list[Returned]) -> None:
        deactivate_after = timedelta(seconds=self._settings.webhook_deactivate_after_seconds)
        async with self._engine.begin() as conn:
            for delivery, outcome, retry_in in outcomes:
                if await record_attempt(
                    conn, delivery, outcome, retry_in=retry_in, deactivate_after=deactivate_after
                ):
                    log.warning("webhook %s deactivated", delivery.webhook_id)

    async def _save_each(self, batch: list[Returned]) -> None:
        lost, last = 0, None
        for n, returned in enumerate(batch):
            try:
                await self._save([returned])
            except Exception as exc:
                lost, last = lost + 1, exc
                if is_unavailable(exc):  # gone meanwhile: the rest would wait on it in turn
                    lost += len(batch) - n - 1
                    break
        if last is not None:
            _log_failure(f"recording {lost} of {len(batch)} webhook attempts", last)

    async def _post(self, delivery: Claimed) -> Outcome:
        body = delivery_body(
            event=delivery.event,
            delivery_id=delivery.id,
            occurred_at=delivery.occurred_at,
            engagement=delivery.payload.get("engagement"),
            item=delivery.payload.get("item"),
        )
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                target = await outbound.check(
                    delivery.url, allow_private=self._settings.webhook_allow_private
                )
                return await self._send(delivery, body, target)
        except outbound.UnsafeURL as exc:
            return Outcome(False, None, f"Not sent: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(False, None, f"No answer within {TIMEOUT_SECONDS:g} s.")
        except httpx.HTTPError as exc:
            return Outcome(False, None, f"Could not send: {type(exc).__name__}: {exc}"[:500])

    async def _send(self, delivery: Claimed, body: bytes, target: outbound.Target) -> Outcome:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
            SIGNATURE_HEADER: signature(delivery.secret, body),
            **target.headers,
        }
        request = self._client.build_request(
            "POST", target.url, content=body, headers=headers, extensions=target.extensions
        )
        # The receiver's body is never read: only its status counts.
        response = await self._client.send(request, stream=True)
        await response.aclose()
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(True, status, None)
        if 300 <= status < 400:
            return Outcome(False, status, "Redirects are not followed.")
        return Outcome(False, status, None)


async def _entries(
    conn: AsyncConnection, events: Sequence[OutboxEvent], stall_after: timedelta
) -> list[dict[str, Any]]:
    """Each event with its engagement and item as they are now (an item deleted meanwhile
    is skipped): what every subscriber's delivery of it carries."""
    wanted: defaultdict[str, list[Any]] = defaultdict(list)
    for event in events:
        if event.item_kind in SOURCE_OF:
            wanted[event.item_kind].append(event.item_id)
    rows: dict[tuple[str, Any], ZoneRow] = {}
    for kind, ids in wanted.items():
        for found in await item_rows(conn, kind=kind, ids=ids):
            rows[(kind, found.item_id)] = found
    # The exact time, not the minute a page uses: a job.stalled item shows itself stalled.
    moment = Moment(datetime.now(UTC), stall_after)
    return [
        {
            "event": event.event,
            "engagement_id": row.engagement_id,
            "occurred_at": event.occurred_at,
            "payload": payload_of(row, moment),
        }
        for event in events
        if (row := rows.get((event.item_kind, event.item_id))) is not None
    ]


def _log_failure(what: str, exc: Exception) -> None:
    if is_unavailable(exc):
        log.warning("%s: database unavailable (%s)", what, describe(exc))
    else:
        log.error("%s failed", what, exc_info=exc)
