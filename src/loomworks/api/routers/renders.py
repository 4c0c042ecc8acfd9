"""Render downloads: a file's bytes, or a zip of a multi-file render, streamed to members; and
each file on its own, inline and sandboxed, for a preview."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
import uuid
import zipfile
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.types import Message, Receive, Scope, Send

from loomworks.api.deps import AppSettings, CurrentPerson, ReadConn, ReadEngines, Stopping
from loomworks.api.http.errors import Conflict, NotFound
from loomworks.api.http.transport import abort_connection
from loomworks.api.schemas.errors import errors
from loomworks.core.states import ContentKind, RenderState
from loomworks.db.people import Person
from loomworks.db.renders import RenderFile, RenderForDownload, file_chunks, render_for_download
from loomworks.platform.shutdown import Shutdown

log = logging.getLogger(__name__)
router = APIRouter(
    prefix="/engagements", tags=["renders"], responses=errors(401, 404, 409, 422, 503)
)

_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+")


@dataclass(frozen=True)
class _Limits:
    idle_timeout: float  # seconds a client may accept nothing
    shutdown: Shutdown  # and the server's exit cuts every download off by its cutoff


async def download_limits(settings: AppSettings, shutdown: Stopping) -> _Limits:
    return _Limits(settings.download_idle_timeout_seconds, shutdown)


DownloadLimits = Annotated[_Limits, Depends(download_limits)]


@router.get(
    "/{engagement_id}/renders/{render_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}},
)
async def render_content(
    engagement_id: uuid.UUID,
    render_id: uuid.UUID,
    conn: ReadConn,
    me: CurrentPerson,
    engines: ReadEngines,
    limits: DownloadLimits,
) -> StreamingResponse:
    """Download a produced render: its file, or a zip of its files."""
    render = await _produced_render(conn, me, engagement_id, render_id)
    if not render.downloadable:
        raise NotFound(f"Render #{render.display_number} has no downloadable file.")
    base_name = _safe_name(render.title) or "render"
    # Every render's download has a name of its own (`curl -OJ` refuses to overwrite, and a
    # browser would number the copies): the render's number and the start of its id.
    tag = f" (render {render.display_number} {render_id.hex[:8]})"
    if render.content_kind == ContentKind.BINARY_BLOB:
        file = render.files[0]
        stem, dot, extension = (_safe_name(file.filename) or base_name).rpartition(".")
        name = f"{stem}{tag}.{extension}" if dot and stem else f"{extension}{tag}"
        return _one_file(engines, file, name, limits)
    return _download(
        _zip_stream(engines, render.files),
        media_type="application/zip",
        filename=f"{base_name}{tag}.zip",
        size=None,
        limits=limits,
    )


@router.get(
    "/{engagement_id}/renders/{render_id}/files/{file_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def render_file(
    engagement_id: uuid.UUID,
    render_id: uuid.UUID,
    file_id: uuid.UUID,
    conn: ReadConn,
    me: CurrentPerson,
    engines: ReadEngines,
    limits: DownloadLimits,
) -> StreamingResponse:
    """One file of a produced render, to look at: served inline, but sandboxed and never
    sniffed, so an SVG or HTML file cannot run script as this service."""
    render = await _produced_render(conn, me, engagement_id, render_id)
    file = next((file for file in render.files if file.id == file_id), None)
    if file is None:
        raise NotFound()
    return _one_file(engines, file, _safe_name(file.filename) or "file", limits, inline=True)


def _one_file(
    engines: tuple[AsyncEngine, ...],
    file: RenderFile,
    filename: str,
    limits: _Limits,
    *,
    inline: bool = False,
) -> StreamingResponse:
    media_type = file.media_type if _MEDIA_TYPE.match(file.media_type) else None
    return _download(
        file_chunks(engines, file),
        media_type=media_type or "application/octet-stream",
        filename=filename,
        size=file.byte_size,
        limits=limits,
        disposition="inline" if inline else "attachment",
    )


async def _produced_render(
    conn: AsyncConnection, me: Person, engagement_id: uuid.UUID, render_id: uuid.UUID
) -> RenderForDownload:
    """The render with its files: 404 unless the caller is a member, 409 unless produced."""
    render = await render_for_download(
        conn, person_id=me.id, engagement_id=engagement_id, render_id=render_id
    )
    if render is None:
        raise NotFound()
    if render.state != RenderState.PRODUCED:
        raise Conflict(
            f"Render #{render.display_number} has not been produced, so it has no content."
        )
    return render


def _download(
    body: AsyncGenerator[bytes, None],
    *,
    media_type: str,
    filename: str,
    size: int | None,
    limits: _Limits,
    disposition: str = "attachment",
) -> StreamingResponse:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    headers = {
        "Content-Disposition": (
            f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
        ),
        # Rendered content is user data: never let a browser sniff or run it on our origin.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    return _IdleLimitedResponse(body, media_type=media_type, headers=headers, limits=limits)


class _ClientStalled(Exception):
    pass


class _IdleLimitedResponse(StreamingResponse):
    """A streamed body that gives up on a client which accepts no bytes for the idle timeout
    (or is still downloading at the shutdown cutoff): the connection is cut off at once,
    with what was buffered for it, instead of being kept (with its memory) for as long as
    the client stays silent."""

    def __init__(
        self, body: AsyncGenerator[bytes, None], *, limits: _Limits, **kwargs: Any
    ) -> None:
        super().__init__(body, **kwargs)
        self._body = body
        self.limits = limits
        self._scope: Scope = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        shutdown = self.limits.shutdown

        async def send_or_give_up(message: Message) -> None:
            try:
                async with asyncio.timeout(self.limits.idle_timeout) as limit:
                    with shutdown.bounding(limit):
                        await send(message)
            except TimeoutError:
                raise _ClientStalled from None

        try:
            await super().stream_response(send_or_give_up)
        except _ClientStalled:
            if shutdown.cutoff is None:
                why = f"accepted nothing for {self.limits.idle_timeout:g} s"
            else:
                why = "was still downloading when the server shut down"
            log.info("download client %s; dropping it", why)
            await self._body.aclose()
            await abort_connection(self._scope)


def _safe_name(name: str) -> str:
    """A file name without directories or control characters, as a download should carry."""
    leaf = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("_", leaf).strip(" ._")[:150]


async def _zip_stream(
    engines: Sequence[AsyncEngine], files: list[RenderFile]
) -> AsyncGenerator[bytes, None]:
    """A zip written as it streams: one file in memory at most one chunk at a time."""
    sink = _Sink()
    moment = time.gmtime()[:6]
    used: set[str] = set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in files:
            name = _unique(_safe_name(file.filename) or "file", used)
            entry = zipfile.ZipInfo(name, date_time=moment)
            with archive.open(entry, "w", force_zip64=True) as out:
                async for chunk in file_chunks(engines, file):
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
