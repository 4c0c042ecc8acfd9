"""Response classes: JSON written by orjson, as the pydantic models would write it."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi.responses import JSONResponse


def _uuid_text(value: object) -> str:
    # asyncpg's UUID subclasses uuid.UUID; orjson only writes the exact class itself.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class JSONBody(JSONResponse):
    """A body of plain dicts and lists written by orjson (UUIDs as strings, UTC times with
    "Z"), byte for byte what the response models would write: the dashboard's pages skip
    building a model per item (docs/benchmarks.md, step 12) and the tests hold them to it."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_uuid_text, option=orjson.OPT_UTC_Z)
