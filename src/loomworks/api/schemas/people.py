"""Request and response bodies for sign-in, the caller, their memberships and sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from loomworks.api.http.limits import SafeText
from loomworks.api.schemas.examples import Documented
from loomworks.core.states import Designation


class LoginCreate(Documented):
    email: SafeText = Field(min_length=3, max_length=320)
    password: SafeText = Field(min_length=1, max_length=1024)


class PersonRead(Documented):
    id: uuid.UUID
    email: str
    display_name: str
    created_at: datetime


class MembershipRead(BaseModel):
    engagement_id: uuid.UUID
    engagement_name: str
    designation: Designation


class MembershipsResponse(Documented):
    items: list[MembershipRead]


class SessionRead(BaseModel):
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    current: bool = Field(description="whether this is the session of the request itself")


class SessionsResponse(Documented):
    items: list[SessionRead]
