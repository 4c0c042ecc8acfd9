"""Error bodies as OpenAPI documents them, and `errors(...)`: the `responses=` of a route or
router, one entry per error status it can answer with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every error but request validation: a sentence a person can read."""

    detail: str


class ValidationIssue(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorBody(BaseModel):
    """422: what was wrong with the request, one entry per problem."""

    detail: list[ValidationIssue]


_MEANINGS = {
    400: "Malformed request (for example a cursor that was altered or is from another zone)",
    401: "Not signed in: no valid session cookie",
    403: "Refused: a cross-site request, or an action this person may not take",
    404: "Not found, or not visible to this person",
    409: "The item is not in a state that allows this",
    413: "Request body larger than 64 KiB",
    422: "Invalid request parameters or body",
    429: "Too many failed sign-ins; see Retry-After",
    503: "The database is unavailable; retry shortly",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these error statuses, each with its JSON {"detail": ...} body."""
    return {
        status: {
            "model": ValidationErrorBody if status == 422 else ErrorBody,
            "description": _MEANINGS[status],
        }
        for status in statuses
    }
