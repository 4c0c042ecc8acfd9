"""The `limit` and `cursor` query parameters every paginated route takes, parsed strictly:
`limit` is plain digits within 1-100 (no sign, spaces or decimals), and an empty `cursor=`
means no cursor.

    async def route(..., limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def _plain_digits(value: object) -> object:
    # pydantic's lax int parsing takes "+5", " 5", "5.0" and "5_0"; a page size is digits.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("limit must be a whole number written in digits")
    return value


def _empty_is_none(value: str | None) -> str | None:
    return value or None


Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})"),
    BeforeValidator(_plain_digits),
]
Cursor = Annotated[
    str | None,
    Query(description="next_cursor from the previous page of this zone; empty means none"),
    AfterValidator(_empty_is_none),
]
