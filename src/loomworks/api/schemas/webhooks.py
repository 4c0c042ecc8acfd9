"""Bodies of the webhook routes: creating one (its secret shown once), the listing, a ping,
and the attempts of its deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from loomworks.api.http.limits import SafeText
from loomworks.api.schemas.examples import Documented
from loomworks.core.webhooks import SUBSCRIBABLE, WebhookEvent
from loomworks.platform.outbound import parse

MAX_URL_LENGTH = 2000
MAX_ENGAGEMENTS = 100


def _http_url(url: str) -> str:
    parse(url)  # UnsafeURL is a ValueError: a 422 naming the field
    return url


def _subscribable(events: list[WebhookEvent]) -> list[WebhookEvent]:
    if unknown := [event for event in events if event not in SUBSCRIBABLE]:
        raise ValueError(
            f"{unknown[0]} is not an event to subscribe to (a ping is sent on request)"
        )
    return list(dict.fromkeys(events))


class WebhookCreate(Documented):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        SafeText, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_http_url)
    ] = Field(
        description="where deliveries are POSTed: http or https, a public address",
        examples=["https://hooks.example.com/loomworks"],
    )
    events: Annotated[list[WebhookEvent], AfterValidator(_subscribable)] = Field(
        min_length=1,
        max_length=len(SUBSCRIBABLE),
        description="needs_you.arrived, job.failed and/or job.stalled",
        examples=[["needs_you.arrived", "job.failed"]],
    )
    engagement_ids: list[uuid.UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ENGAGEMENTS,
        description="only these of my engagements (default: all of them, also those I join later)",
    )


class WebhookRead(Documented):
    id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    engagement_ids: list[uuid.UUID] | None
    created_at: datetime
    active: bool = Field(description="false once every delivery failed for a day")
    deactivated_at: datetime | None
    deactivated_reason: str | None = Field(
        description="why it was deactivated; a ping that succeeds turns it back on"
    )


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="signs every delivery (X-Loomworks-Signature-256); shown only here"
    )


class WebhooksResponse(Documented):
    items: list[WebhookRead]


class PingQueued(Documented):
    delivery_id: uuid.UUID


class DeliveryAttemptRead(BaseModel):
    """One attempt to deliver: its HTTP status, or the error that kept it from one."""

    delivery_id: uuid.UUID
    event: WebhookEvent
    attempt: int = Field(description="1 for the first attempt of the delivery, then 2, ...")
    status_code: int | None
    error: str | None
    at: datetime


class DeliveriesResponse(Documented):
    items: list[DeliveryAttemptRead]
