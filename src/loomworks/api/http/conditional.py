"""Conditional GET for what clients poll: an ETag that moves exactly when the body would, and
a 304 that answers a matching If-None-Match without building the body."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import Depends, Response

import loomworks

# Bodies depend on the code as well as the data (a label reworded in a release): the ETags
# of one build never match another's.
_BUILD = hashlib.blake2b(
    b"".join(path.read_bytes() for path in sorted(Path(loomworks.__file__).parent.rglob("*.py"))),
    digest_size=8,
).hexdigest()


def entity_tag(*parts: object) -> str:
    """A strong ETag from everything a body is a function of (the data's state from the
    counters, the request's parameters, the minute for time-dependent wording)."""
    text = "|".join(str(part) for part in (_BUILD, *parts))
    return '"' + hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of If-None-Match against our (strong) tag."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def poll_headers(etag: str, poll_interval_seconds: int) -> dict[str, str]:
    return {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Cookie",
        "X-Poll-Interval": str(poll_interval_seconds),
    }


def not_modified(headers: dict[str, str]) -> Response:
    return Response(status_code=304, headers=headers)


async def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "private, no-store"


# For personal answers nobody polls (who I am, my sessions, an item's detail, a history):
# neither a shared cache nor the browser's may keep them.
NoStore = Depends(_no_store)
