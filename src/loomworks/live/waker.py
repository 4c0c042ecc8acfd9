"""The triage waker: once a second, in every process, one statement ends the snoozes and
claims whose time has come and moves their counters' versions, so the item comes back with
a new ETag and a zone_changed event (db/triage.wake). Several processes share the work
without waiting on each other (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.db.triage import wake
from loomworks.platform.faults import describe, is_unavailable

log = logging.getLogger(__name__)

WAKE_EVERY_SECONDS = 1.0


async def wake_forever(engine: AsyncEngine, every: float = WAKE_EVERY_SECONDS) -> None:
    """Run `wake` every `every` seconds until cancelled; a database that is away is waited
    out (logged once per outage), never fatal."""
    away = False
    while True:
        try:
            async with engine.begin() as conn:
                await wake(conn)
            away = False
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("triage waker failed; trying again")
            elif not away:
                log.warning("triage waker: database unavailable (%s)", describe(exc))
            away = True
        await asyncio.sleep(every)
