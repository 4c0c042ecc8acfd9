"""Webhooks as the domain sees them: the events a person subscribes to, which zone's items and
audience each one follows, what sets one off per source (from the registry), how a delivery
is signed, and how long a failed one waits before its next attempt. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from loomworks.core.access import Audience
from loomworks.core.items import Moment, json_bytes
from loomworks.core.kinds import SOURCES, Source
from loomworks.core.rows import ZONE_OF_ROW, ZoneRow
from loomworks.core.states import ExternalStatus, JobStatus, Zone
from loomworks.core.zones import ZONES, audience_of


class WebhookEvent(StrEnum):
    NEEDS_YOU_ARRIVED = "needs_you.arrived"  # an item entered the person's needs_you
    JOB_FAILED = "job.failed"  # a job or external production ended failed
    JOB_STALLED = "job.stalled"  # a running job wrote no progress for stall_after
    PING = "ping"  # asked for by POST /me/webhooks/{id}/ping; nobody subscribes to it


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or being attempted)
    DELIVERED = "delivered"  # a 2xx answered an attempt
    FAILED = "failed"  # every attempt failed, or its webhook was deactivated (or owner disabled)
    DROPPED = "dropped"  # not sent: its owner no longer sees what it is about


# Why a disabled person's webhooks are off: said from the moment they are disabled until,
# enabled again, they ping each one back on (db/people.py switches them off).
OWNER_DISABLED = "Deactivated: its owner was disabled."

SUBSCRIBABLE = (WebhookEvent.NEEDS_YOU_ARRIVED, WebhookEvent.JOB_FAILED, WebhookEvent.JOB_STALLED)

# Which zone's items an event carries: the delivery's `item` is that zone's item, and only
# the members that zone's audience admits receive it (needs_you: never a viewer).
EVENT_ZONE: dict[WebhookEvent, Zone] = {
    WebhookEvent.NEEDS_YOU_ARRIVED: Zone.NEEDS_YOU,
    WebhookEvent.JOB_FAILED: Zone.ACTIVE,
    WebhookEvent.JOB_STALLED: Zone.ACTIVE,
}


def audience_of_event(event: WebhookEvent) -> Audience:
    return audience_of(EVENT_ZONE[event])


# Jobs and external productions both end "failed": one predicate serves every job table.
FAILED = JobStatus.FAILED
if str(ExternalStatus.FAILED) != str(FAILED):
    raise AssertionError("job.failed assumes one spelling of 'failed' for every job table")


def arrival_sources(table: str) -> list[Source]:
    """The needs_you sources on `table`: a row entering one sets off needs_you.arrived."""
    return [s for s in SOURCES if s.table == table and s.zone == Zone.NEEDS_YOU]


def job_sources(table: str) -> list[Source]:
    """The active sources on `table`: a row of one turning failed sets off job.failed."""
    return [s for s in SOURCES if s.table == table and s.zone == Zone.ACTIVE]


def failed_predicate(source: Source) -> str:
    """A job row that ended failed, "{r}" standing for its table alias."""
    return f"{{r}}.{source.state_column} = '{FAILED}'"


def outbox_by_registry() -> dict[str, list[tuple[str, str, str]]]:
    """Per source table, what its outbox trigger records: (event, item kind, predicate with
    "{r}" for the row's alias); a row entering the predicate records the event."""
    tables: dict[str, list[tuple[str, str, str]]] = {}
    for source in SOURCES:
        if source.zone == Zone.NEEDS_YOU:
            entry = (
                WebhookEvent.NEEDS_YOU_ARRIVED.value,
                source.kind.value,
                source.predicate("{r}"),
            )
        elif source.zone == Zone.ACTIVE:
            entry = (WebhookEvent.JOB_FAILED.value, source.kind.value, failed_predicate(source))
        else:
            continue
        tables.setdefault(source.table, []).append(entry)
    return tables


# --- sending ---------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Loomworks-Signature-256"
EVENT_HEADER = "X-Loomworks-Event"
DELIVERY_HEADER = "X-Loomworks-Delivery"


def signature(secret: str, body: bytes) -> str:
    """The X-Loomworks-Signature-256 value: HMAC-SHA256 of the raw body, keyed with the
    secret's UTF-8 bytes, as lower-case hex."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def payload_of(row: ZoneRow, moment: Moment) -> dict[str, Any]:
    """What a delivery about this item carries besides its envelope: the engagement and the
    item as its zone shows it."""
    spec = ZONES[ZONE_OF_ROW[type(row)]]
    return {
        "engagement": {"id": row.engagement_id, "name": row.engagement_name},
        "item": spec.item(row, moment),
    }


def delivery_body(
    *,
    event: str,
    delivery_id: uuid.UUID,
    occurred_at: datetime,
    engagement: dict[str, Any] | None,
    item: dict[str, Any] | None,
) -> bytes:
    """The JSON a delivery posts: the same bytes on every attempt of one delivery."""
    return json_bytes(
        {
            "event": event,
            "delivery_id": delivery_id,
            "occurred_at": occurred_at,
            "engagement": engagement,
            "item": item,
        }
    )


def retry_delay(base_seconds: float, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after failed attempt number `attempt` (1-based): the base
    doubled per attempt, of which a random half is waited ("equal jitter"), so receivers
    that failed together are not retried together."""
    ceiling = base_seconds * 2.0 ** (attempt - 1)
    jitter: float = (rng or random).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter
