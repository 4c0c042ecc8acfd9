"""Bodies of the personal access token routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loomworks.api.http.limits import SafeText
from loomworks.api.schemas.examples import Documented
from loomworks.core.states import TokenScope


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "chat bot", "scopes": ["read", "decide"], "expires_in_days": 30}]
        },
    )

    name: SafeText = Field(min_length=1, max_length=100)
    scopes: list[TokenScope] = Field(
        min_length=1,
        description='["read"] or ["read", "decide"]: `decide` needs `read`',
        json_schema_extra={"contains": {"const": "read"}},
    )
    expires_in_days: int = Field(default=90, ge=1, le=365)

    @field_validator("scopes")
    @classmethod
    def _read_first(cls, scopes: list[TokenScope]) -> list[TokenScope]:
        if TokenScope.READ not in scopes:
            raise ValueError("a token needs the 'read' scope")
        return sorted(set(scopes), key=list(TokenScope).index)


class TokenRead(Documented):
    id: uuid.UUID
    name: str
    scopes: list[TokenScope]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = Field(description="noted at most once a minute")


class TokenCreated(TokenRead):
    token: str = Field(description="the secret, shown only here", examples=["lw_3q8Jx…"])


class TokensResponse(Documented):
    items: list[TokenRead]
