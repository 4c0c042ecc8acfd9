"""Render content for download: looked up through the caller's membership, streamed in chunks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.tables import engagement_memberships, render_files, renders

# Bytes per round trip when streaming a file out of PostgreSQL. render_files.content is
# stored uncompressed (STORAGE EXTERNAL), so each substring reads only its own slice.
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RenderFile:
    id: uuid.UUID
    filename: str
    media_type: str
    byte_size: int


@dataclass(frozen=True)
class RenderForDownload:
    id: uuid.UUID
    display_number: int
    title: str
    state: str
    content_kind: str
    files: list[RenderFile]


async def render_for_download(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    engagement_id: uuid.UUID,
    render_id: uuid.UUID,
) -> RenderForDownload | None:
    """The render and its file list, or None unless the caller is a member of its engagement."""
    render = (
        await conn.execute(
            select(
                renders.c.id,
                renders.c.display_number,
                renders.c.title,
                renders.c.state,
                renders.c.content_kind,
            )
            .join(
                engagement_memberships,
                engagement_memberships.c.engagement_id == renders.c.engagement_id,
            )
            .where(
                renders.c.id == render_id,
                renders.c.engagement_id == engagement_id,
                engagement_memberships.c.person_id == person_id,
            )
        )
    ).one_or_none()
    if render is None:
        return None
    files = await conn.execute(
        select(
            render_files.c.id,
            render_files.c.filename,
            render_files.c.media_type,
            render_files.c.byte_size,
        )
        .where(render_files.c.render_id == render_id)
        .order_by(render_files.c.created_at, render_files.c.filename, render_files.c.id)
    )
    return RenderForDownload(*render, files=[RenderFile(*row) for row in files])


async def file_chunks(engine: AsyncEngine, file: RenderFile) -> AsyncIterator[bytes]:
    """The file's bytes, CHUNK_BYTES at a time, on a connection held only while streaming."""
    async with engine.connect() as conn:
        for offset in range(0, file.byte_size, CHUNK_BYTES):
            chunk: bytes = (
                await conn.execute(
                    select(func.substring(render_files.c.content, offset + 1, CHUNK_BYTES)).where(
                        render_files.c.id == file.id
                    )
                )
            ).scalar_one()
            yield chunk
