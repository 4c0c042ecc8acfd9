"""Webhooks: a person's own (create, list, delete, ping, the attempts listing), and what the
sender does with their deliveries (fan the outbox out, claim what is due, record attempts).
Scoping is SQL: a delivery about an engagement reaches, and lists for, only a member whom
that event's audience admits, checked when it is fanned out, claimed and listed; and nothing
at all, not even a ping, reaches a disabled person (checked when fanned out and claimed)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.progress import duration_text
from loomworks.core.webhooks import DeliveryState, WebhookEvent
from loomworks.db.tables import (
    engagement_memberships,
    persons,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
)
from loomworks.db.visibility import event_seen

_d = webhook_deliveries.c
_w = webhooks.c
_m = engagement_memberships.c
_p = persons.c


class WebhookRow(NamedTuple):
    id: uuid.UUID
    url: str
    events: list[str]
    engagement_ids: list[uuid.UUID] | None
    created_at: datetime
    active: bool
    deactivated_at: datetime | None
    deactivated_reason: str | None


_WEBHOOK_COLUMNS = [_w[name] for name in WebhookRow._fields]


def _reaches_owner(person_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """The delivery is about nothing (a ping), or about an engagement whose events of its
    kind the webhook's owner may receive now."""
    return or_(
        _d.engagement_id.is_(None),
        exists().where(
            _m.person_id == person_id,
            _m.engagement_id == _d.engagement_id,
            event_seen(_d.event, _m.designation),
        ),
    )


# --- the owner's -----------------------------------------------------------------------------


async def is_member_of_all(
    conn: AsyncConnection, *, person_id: uuid.UUID, engagement_ids: Sequence[uuid.UUID]
) -> bool:
    wanted = set(engagement_ids)
    found = await conn.scalar(
        select(func.count())
        .select_from(engagement_memberships)
        .where(_m.person_id == person_id, _m.engagement_id.in_(list(wanted)))
    )
    return found == len(wanted)


async def create_webhook(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    url: str,
    secret: str,
    events: Sequence[str],
    engagement_ids: Sequence[uuid.UUID] | None,
) -> WebhookRow:
    row = (
        await conn.execute(
            insert(webhooks)
            .values(
                person_id=person_id,
                url=url,
                secret=secret,
                events=list(events),
                engagement_ids=None if engagement_ids is None else list(engagement_ids),
            )
            .returning(*_WEBHOOK_COLUMNS)
        )
    ).one()
    return WebhookRow._make(row)


async def webhooks_of(conn: AsyncConnection, *, person_id: uuid.UUID) -> list[WebhookRow]:
    rows = await conn.execute(
        select(*_WEBHOOK_COLUMNS)
        .where(_w.person_id == person_id)
        .order_by(_w.created_at.desc(), _w.id.desc())
    )
    return [WebhookRow._make(row) for row in rows]


async def count_webhooks(conn: AsyncConnection, *, person_id: uuid.UUID, active: bool) -> int:
    """How many of the person's webhooks are on (`active`) or off."""
    found = await conn.scalar(
        select(func.count()).where(_w.person_id == person_id, _w.active.is_(active))
    )
    return int(found or 0)


async def owns_webhook(
    conn: AsyncConnection, *, person_id: uuid.UUID, webhook_id: uuid.UUID
) -> bool:
    found = await conn.scalar(select(_w.id).where(_w.id == webhook_id, _w.person_id == person_id))
    return found is not None


async def delete_webhook(
    conn: AsyncConnection, *, person_id: uuid.UUID, webhook_id: uuid.UUID
) -> bool:
    """Delete it with its deliveries and their attempts; False if it is not theirs."""
    result = await conn.execute(
        delete(webhooks).where(_w.id == webhook_id, _w.person_id == person_id).returning(_w.id)
    )
    return result.first() is not None


async def queue_ping(
    conn: AsyncConnection, *, person_id: uuid.UUID, webhook_id: uuid.UUID
) -> uuid.UUID | None:
    """A ping delivery, due now, whatever the webhook's events (and even while it is
    deactivated: a ping that succeeds turns it back on); None if it is not theirs."""
    payload = cast(literal('{"engagement": null, "item": null}'), JSONB)
    result = await conn.execute(
        insert(webhook_deliveries)
        .from_select(
            ["webhook_id", "event", "payload", "occurred_at"],
            select(_w.id, literal(WebhookEvent.PING.value), payload, func.now()).where(
                _w.id == webhook_id, _w.person_id == person_id
            ),
        )
        .returning(_d.id)
    )
    delivery_id: uuid.UUID | None = result.scalar_one_or_none()
    return delivery_id


class AttemptRow(NamedTuple):
    delivery_id: uuid.UUID
    event: str
    attempt: int
    status_code: int | None
    error: str | None
    at: datetime


async def attempts_of(
    conn: AsyncConnection, *, person_id: uuid.UUID, webhook_id: uuid.UUID, limit: int
) -> list[AttemptRow]:
    """The webhook's newest attempts, of deliveries about what its owner still sees."""
    a = webhook_attempts.c
    rows = await conn.execute(
        select(a.delivery_id, _d.event, a.attempt, a.status_code, a.error, a.at)
        .join_from(webhook_attempts, webhook_deliveries, _d.id == a.delivery_id)
        .where(a.webhook_id == webhook_id, _reaches_owner(literal(person_id, UUID())))
        .order_by(a.at.desc(), a.id.desc())
        .limit(limit)
    )
    return [AttemptRow._make(row) for row in rows]


# --- the sender's ----------------------------------------------------------------------------


async def fan_out(conn: AsyncConnection, entries_json: bytes) -> int:
    """One delivery per active webhook subscribed to each entry's event (and engagement)
    whose owner, not disabled, may receive it. `entries_json`: a JSON array of {event,
    engagement_id, payload, occurred_at}. How many deliveries were made."""
    entries = (
        func.jsonb_to_recordset(cast(bindparam("entries", type_=Text), JSONB))
        .table_valued(
            column("event", Text),
            column("engagement_id", UUID(as_uuid=True)),
            column("payload", JSONB),
            column("occurred_at", DateTime(timezone=True)),
        )
        .render_derived(name="entries", with_types=True)
    )
    e = entries.c
    chosen = (
        select(_w.id, e.event, e.engagement_id, e.payload, e.occurred_at)
        .select_from(entries)
        .join(
            webhooks,
            and_(
                _w.active,
                e.event == func.any(_w.events),
                or_(_w.engagement_ids.is_(None), e.engagement_id == func.any(_w.engagement_ids)),
            ),
        )
        .join(
            engagement_memberships,
            and_(
                _m.person_id == _w.person_id,
                _m.engagement_id == e.engagement_id,
                event_seen(e.event, _m.designation),
            ),
        )
        .join(persons, and_(_p.id == _w.person_id, _p.disabled_at.is_(None)))
    )
    result = await conn.execute(
        insert(webhook_deliveries).from_select(
            ["webhook_id", "event", "engagement_id", "payload", "occurred_at"], chosen
        ),
        {"entries": entries_json.decode("utf-8")},
    )
    return int(result.rowcount or 0)


class Claimed(NamedTuple):
    """A delivery claimed for one attempt; `in_scope` False: dropped instead of sent."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    attempt: int
    event: str
    payload: dict[str, Any]
    occurred_at: datetime
    url: str
    secret: str
    in_scope: bool


async def claim_due(conn: AsyncConnection, *, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` due deliveries no other sender holds (FOR UPDATE SKIP LOCKED): each
    gets its next attempt number and is not due again until `lease` has passed (an attempt
    lost with its process is then tried again). Those whose owner may no longer receive
    them (disabled, or no longer seeing what they are about) are dropped instead."""
    may_receive = and_(_p.disabled_at.is_(None), _reaches_owner(_w.person_id))
    due = (
        select(_d.id, may_receive.label("in_scope"))
        .join_from(webhook_deliveries, webhooks, _w.id == _d.webhook_id)
        .join(persons, _p.id == _w.person_id)
        .where(
            _d.state == DeliveryState.PENDING,
            _d.next_attempt_at <= func.now(),
            or_(_w.active, _d.event == WebhookEvent.PING),
        )
        .order_by(_d.next_attempt_at)
        .limit(limit)
        .with_for_update(of=webhook_deliveries, skip_locked=True)
        .cte("due")
    )
    sent = due.c.in_scope
    rows = await conn.execute(
        update(webhook_deliveries)
        .where(_d.id == due.c.id, _w.id == _d.webhook_id)
        .values(
            state=case((sent, _d.state), else_=literal(DeliveryState.DROPPED.value)),
            attempts=_d.attempts + case((sent, 1), else_=0),
            next_attempt_at=func.now() + lease,
            completed_at=case((sent, None), else_=func.now()),
        )
        .returning(
            _d.id,
            _d.webhook_id,
            _d.attempts,
            _d.event,
            _d.payload,
            _d.occurred_at,
            _w.url,
            _w.secret,
            sent,
        )
    )
    return [Claimed._make(row) for row in rows]


class Outcome(NamedTuple):
    """What one attempt came to: a 2xx, or the status or error that failed it."""

    delivered: bool
    status_code: int | None
    error: str | None


async def record_attempt(
    conn: AsyncConnection,
    claimed: Claimed,
    outcome: Outcome,
    *,
    retry_in: timedelta | None,
    deactivate_after: timedelta,
) -> bool:
    """Record the attempt and what follows: delivered, tried again after `retry_in`, or
    (None) failed for good; the webhook's failing streak with it. True when this failure
    deactivated the webhook. An attempt whose delivery has ended meanwhile (its webhook was
    switched off: failing, or its owner disabled) or been claimed again is recorded and
    changes nothing else: a late success must not turn a switched-off webhook back on. One
    whose delivery is gone (deleted with its webhook, owner or engagement while the attempt
    was under way) records nothing, so the rest of the recorder's batch is still saved."""
    recorded = await conn.scalar(
        insert(webhook_attempts)
        .from_select(
            ["delivery_id", "webhook_id", "attempt", "status_code", "error"],
            select(
                _d.id,
                _d.webhook_id,
                literal(claimed.attempt),
                literal(outcome.status_code, Integer()),
                literal(outcome.error, Text()),
            ).where(_d.id == claimed.id),
        )
        .returning(webhook_attempts.c.id)
    )
    if recorded is None:
        return False
    if outcome.delivered:
        state, finished = DeliveryState.DELIVERED, True
    else:
        state, finished = DeliveryState.PENDING, retry_in is None
        if finished:
            state = DeliveryState.FAILED
    still_ours = await conn.scalar(
        update(webhook_deliveries)
        .where(
            _d.id == claimed.id,
            _d.attempts == claimed.attempt,  # unless it was lost and claimed again since
            _d.state == DeliveryState.PENDING,
        )
        .values(
            state=state,
            completed_at=func.now() if finished else None,
            next_attempt_at=func.now() + (retry_in or timedelta(0)),
        )
        .returning(_d.id)
    )
    if still_ours is None:
        return False
    if outcome.delivered:
        await _succeeded(conn, claimed.webhook_id)
        return False
    return await _failed(conn, claimed.webhook_id, deactivate_after, outcome)


async def _succeeded(conn: AsyncConnection, webhook_id: uuid.UUID) -> None:
    # Only a webhook with a failing streak is written (and locked): most successes touch none.
    await conn.execute(
        update(webhooks)
        .where(_w.id == webhook_id, or_(_w.failing_since.is_not(None), ~_w.active))
        .values(failing_since=None, active=True, deactivated_at=None, deactivated_reason=None)
    )


async def _failed(
    conn: AsyncConnection, webhook_id: uuid.UUID, deactivate_after: timedelta, outcome: Outcome
) -> bool:
    """Extend the failing streak; a streak as long as `deactivate_after` deactivates the
    webhook and fails what it still had pending."""
    since = func.coalesce(_w.failing_since, func.now())
    expired = and_(_w.active, since <= func.now() - deactivate_after)
    last = f"HTTP {outcome.status_code}" if outcome.status_code else outcome.error
    reason = (
        f"Deactivated: every delivery failed for {duration_text(deactivate_after)} (last: {last})."
    )
    deactivated = await conn.scalar(
        update(webhooks)
        .where(_w.id == webhook_id)
        .values(
            failing_since=since,
            active=and_(_w.active, ~expired),
            deactivated_at=case((expired, func.now()), else_=_w.deactivated_at),
            deactivated_reason=case((expired, reason), else_=_w.deactivated_reason),
        )
        # RETURNING sees the new row: deactivated by this statement (now() is the
        # transaction's time; an earlier deactivation has an earlier time).
        .returning(and_(~_w.active, _w.deactivated_at == func.now()))
    )
    if deactivated:
        await conn.execute(
            update(webhook_deliveries)
            .where(
                _d.webhook_id == webhook_id,
                _d.state == DeliveryState.PENDING,
                _d.event != WebhookEvent.PING,
            )
            .values(state=DeliveryState.FAILED, completed_at=func.now())
        )
    return bool(deactivated)


async def forget_finished(conn: AsyncConnection, *, before: datetime) -> None:
    """Deliveries finished before `before` go, with their attempts."""
    await conn.execute(delete(webhook_deliveries).where(_d.completed_at < before))
