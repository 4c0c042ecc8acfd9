"""A person's webhooks: create (the secret shown once), list, delete, ping, and the attempts
of their deliveries. Someone else's webhook is a 404, like an unknown one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError

from loomworks.api.deps import AppSettings, Conn, CurrentPerson
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.errors import NotFound
from loomworks.api.http.paging import DEFAULT_LIMIT, Limit
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.webhooks import (
    DeliveriesResponse,
    DeliveryAttemptRead,
    PingQueued,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhooksResponse,
)
from loomworks.db.webhooks import (
    attempts_of,
    create_webhook,
    delete_webhook,
    is_member_of_all,
    owns_webhook,
    queue_ping,
    webhooks_of,
)
from loomworks.platform import outbound
from loomworks.platform.security import new_webhook_secret

router = APIRouter(prefix="/me/webhooks", tags=["webhooks"], responses=errors(401, 503))

NO_STORE = {"Cache-Control": "private, no-store"}
UNKNOWN = "No such webhook of yours."


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[SameSite],
    responses=errors(400, 403, 404, 413, 422),
)
async def create(
    body: WebhookCreate, conn: Conn, me: CurrentPerson, settings: AppSettings, response: Response
) -> WebhookCreated:
    """Subscribe a URL to events of my engagements (all, or those listed); the answer holds
    the signing secret, shown only this once."""
    try:
        await outbound.check(body.url, allow_private=settings.webhook_allow_private)
    except outbound.UnsafeURL as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "url"), "msg": str(exc)}]
        ) from None
    ids = body.engagement_ids
    if ids is not None and not await is_member_of_all(conn, person_id=me.id, engagement_ids=ids):
        raise NotFound()
    secret = new_webhook_secret()
    row = await create_webhook(
        conn,
        person_id=me.id,
        url=body.url,
        secret=secret,
        events=body.events,
        engagement_ids=None if ids is None else list(dict.fromkeys(ids)),
    )
    await conn.commit()
    response.headers.update(NO_STORE)
    return WebhookCreated(**row._asdict(), secret=secret)


@router.get("")
async def list_webhooks(conn: Conn, me: CurrentPerson, response: Response) -> WebhooksResponse:
    """My webhooks, newest first, without their secrets; a deactivated one says why."""
    rows = await webhooks_of(conn, person_id=me.id)
    response.headers.update(NO_STORE)
    return WebhooksResponse(items=[WebhookRead(**row._asdict()) for row in rows])


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[SameSite],
    responses=errors(403, 404, 422),
)
async def delete(webhook_id: uuid.UUID, conn: Conn, me: CurrentPerson) -> None:
    """Delete one of my webhooks with its deliveries; nothing more is sent to it."""
    if not await delete_webhook(conn, person_id=me.id, webhook_id=webhook_id):
        raise NotFound(UNKNOWN)
    await conn.commit()


@router.post(
    "/{webhook_id}/ping",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[SameSite],
    responses=errors(403, 404, 422),
)
async def ping(webhook_id: uuid.UUID, conn: Conn, me: CurrentPerson) -> PingQueued:
    """Send a `ping` delivery now, whatever the webhook's events; it is listed with the
    deliveries like any other."""
    delivery_id = await queue_ping(conn, person_id=me.id, webhook_id=webhook_id)
    if delivery_id is None:
        raise NotFound(UNKNOWN)
    await conn.commit()
    return PingQueued(delivery_id=delivery_id)


@router.get("/{webhook_id}/deliveries", responses=errors(404, 422))
async def deliveries(
    webhook_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    response: Response,
    limit: Limit = DEFAULT_LIMIT,
) -> DeliveriesResponse:
    """The newest attempts to deliver to one of my webhooks, one row per attempt, with the
    status code each got or the error that kept it from one."""
    if not await owns_webhook(conn, person_id=me.id, webhook_id=webhook_id):
        raise NotFound(UNKNOWN)
    rows = await attempts_of(conn, person_id=me.id, webhook_id=webhook_id, limit=limit)
    response.headers.update(NO_STORE)
    return DeliveriesResponse(items=[DeliveryAttemptRead(**row._asdict()) for row in rows])
