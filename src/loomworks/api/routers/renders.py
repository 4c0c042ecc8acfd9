"""Render downloads: a file's bytes, or a zip of a multi-file render, streamed to members."""

from __future__ import annotations

import io
import re
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.api.deps import Conn, CurrentPerson, Engine
from loomworks.api.errors import Conflict, NotFound
from loomworks.api.schemas.errors import errors
from loomworks.db.renders import RenderFile, file_chunks, render_for_download

router = APIRouter(
    prefix="/engagements", tags=["renders"], responses=errors(401, 404, 409, 422, 503)
)

_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+")


@router.get(
    "/{engagement_id}/renders/{render_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}},
)
async def render_content(
    engagement_id: uuid.UUID,
    render_id: uuid.UUID,
    conn: Conn,
    me: CurrentPerson,
    engine: Engine,
) -> StreamingResponse:
    """Download a produced render: its file, or a zip of its files."""
    render = await render_for_download(
        conn, person_id=me.id, engagement_id=engagement_id, render_id=render_id
    )
    if render is None:
        raise NotFound("Render not found.")
    if render.state != "produced":
        raise Conflict(
            f"Render #{render.display_number} has not been produced, so it has no content."
        )
    if render.content_kind == "inline_dict" or not render.files:
        raise NotFound(f"Render #{render.display_number} has no downloadable file.")
    base_name = _safe_name(render.title) or f"render-{render.display_number}"
    if render.content_kind == "binary_blob":
        file = render.files[0]
        media_type = file.media_type if _MEDIA_TYPE.match(file.media_type) else None
        return _download(
            file_chunks(engine, file),
            media_type=media_type or "application/octet-stream",
            filename=_safe_name(file.filename) or base_name,
            size=file.byte_size,
        )
    return _download(
        _zip_stream(engine, render.files),
        media_type="application/zip",
        filename=f"{base_name}.zip",
        size=None,
    )


def _download(
    body: AsyncIterator[bytes], *, media_type: str, filename: str, size: int | None
) -> StreamingResponse:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    headers = {
        "Content-Disposition": (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
        ),
        # Rendered content is user data: never let a browser sniff or run it on our origin.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(body, media_type=media_type, headers=headers)


def _safe_name(name: str) -> str:
    """A file name without directories or control characters, as a download should carry."""
    leaf = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("_", leaf).strip(" ._")[:150]


async def _zip_stream(engine: AsyncEngine, files: list[RenderFile]) -> AsyncIterator[bytes]:
    """A zip written as it streams: one file in memory at most one chunk at a time."""
    sink = _Sink()
    moment = time.gmtime()[:6]
    used: set[str] = set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in files:
            name = _unique(_safe_name(file.filename) or "file", used)
            entry = zipfile.ZipInfo(name, date_time=moment)
            with archive.open(entry, "w", force_zip64=True) as out:
                async for chunk in file_chunks(engine, file):
                    out.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate in used:
        n += 1
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
    used.add(candidate)
    return candidate


class _Sink(io.RawIOBase):
    """A write-only stream that hands over what was written since the last take()."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data
