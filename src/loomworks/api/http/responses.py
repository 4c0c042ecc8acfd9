"""Response classes: JSON written by orjson, as the pydantic models would write it."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from loomworks.core.items import json_bytes


class JSONBody(JSONResponse):
    """A body of plain dicts and lists written by orjson (UUIDs as strings, UTC times with
    "Z"), byte for byte what the response models would write: the dashboard's pages skip
    building a model per item (docs/benchmarks.md, step 12) and the tests hold them to it."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)
