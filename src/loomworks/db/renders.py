"""Render content for download: looked up through the caller's membership, streamed in chunks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.core.kinds import sources_of_table
from loomworks.core.states import FILE_CONTENT_KINDS, ContentKind, RenderState
from loomworks.db.tables import decisions, engagement_memberships, render_files, renders
from loomworks.platform.faults import connection, is_unavailable

# Bytes per round trip when streaming a file out of PostgreSQL. render_files.content is
# stored uncompressed (STORAGE EXTERNAL), so each substring reads only its own slice.
CHUNK_BYTES = 1024 * 1024


def has_download(table: Table = renders) -> ColumnElement[bool]:
    """Whether the download route serves a file for a render: produced, with a file content
    kind, and at least one file. The dashboard offers download_url exactly when this holds.
    Constants are literal SQL so the zone statements keep matching their partial indexes."""
    kinds = [literal_column(f"'{kind}'", Text) for kind in FILE_CONTENT_KINDS]
    return and_(
        table.c.state == literal_column(f"'{RenderState.PRODUCED}'", Text),
        table.c.content_kind.in_(kinds),
        exists().where(render_files.c.render_id == table.c.id),
    )


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
    downloadable: bool  # has_download
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
                has_download().label("downloadable"),
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
    return RenderForDownload(**render._mapping, files=await files_of(conn, render_id))


async def files_of(conn: AsyncConnection, render_id: uuid.UUID) -> list[RenderFile]:
    """A render's files, in the order they were stored (no membership check)."""
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
    return [RenderFile(*row) for row in files]


async def file_chunks(
    engines: Sequence[AsyncEngine], file: RenderFile
) -> AsyncGenerator[bytes, None]:
    """The file's bytes, CHUNK_BYTES at a time, from the first of `engines` (a replica, then
    the primary) that answers: a replica that goes away mid-download hands over to the next.
    Each chunk is read on a connection checked out for that read alone, so a client that
    reads slowly (or stops) holds none."""
    remaining = list(engines)
    for offset in range(0, file.byte_size, CHUNK_BYTES):
        chunk = select(func.substring(render_files.c.content, offset + 1, CHUNK_BYTES)).where(
            render_files.c.id == file.id
        )
        while True:
            try:
                async with connection(remaining[0]) as conn:
                    content: bytes = (await conn.execute(chunk)).scalar_one()
                break
            except Exception as exc:
                if len(remaining) == 1 or not is_unavailable(exc):
                    raise
                remaining.pop(0)
        yield content


async def create_render(
    conn: AsyncConnection,
    *,
    engagement_id: uuid.UUID,
    title: str,
    content_kind: ContentKind,
    render_job_id: uuid.UUID | None = None,
    files: Sequence[tuple[str, str, bytes]] = (),
    inline_content: Any = None,
) -> uuid.UUID:
    """Store a produced render with its files, numbered after the engagement's last render."""
    next_number = (
        select(func.coalesce(func.max(renders.c.display_number), 0) + 1)
        .where(renders.c.engagement_id == engagement_id)
        .scalar_subquery()
    )
    render_id: uuid.UUID = (
        await conn.execute(
            insert(renders)
            .values(
                engagement_id=engagement_id,
                render_job_id=render_job_id,
                title=title,
                display_number=next_number,
                state=RenderState.PRODUCED,
                content_kind=content_kind,
                inline_content=inline_content,
                completed_at=func.now(),
            )
            .returning(renders.c.id)
        )
    ).scalar_one()
    if files:
        await conn.execute(
            insert(render_files),
            [
                {
                    "render_id": render_id,
                    "filename": filename,
                    "media_type": media_type,
                    "content": content,
                    "byte_size": len(content),
                }
                for filename, media_type, content in files
            ],
        )
    return render_id


async def age_out_renders(
    conn: AsyncConnection, *, engagement_ids: Sequence[uuid.UUID], keep: int
) -> int:
    """Delete the produced renders of these engagements beyond the newest `keep` of each
    (by completed_at), except those still waiting for a review, with their files (by
    cascade) and the decisions taken on them, so the history never names a render that is
    gone; the dashboard counters follow by their triggers. For job code that keeps a bounded
    window (the demo); returns how many renders went."""
    newest_first = (renders.c.completed_at.desc(), renders.c.id.desc())
    ranked = (
        select(
            renders.c.id,
            renders.c.reviewed_at,
            func.row_number()
            .over(partition_by=renders.c.engagement_id, order_by=newest_first)
            .label("rank"),
        )
        .where(
            renders.c.engagement_id.in_(engagement_ids),
            renders.c.state == RenderState.PRODUCED,
        )
        .subquery("ranked")
    )
    old = select(ranked.c.id).where(ranked.c.rank > keep, ranked.c.reviewed_at.is_not(None))
    gone = delete(renders).where(renders.c.id.in_(old)).returning(renders.c.id).cte("gone")
    render_kinds = [source.kind for source in sources_of_table(renders.name)]
    forgotten = (
        delete(decisions)
        .where(decisions.c.item_id.in_(select(gone.c.id)), decisions.c.item_kind.in_(render_kinds))
        .returning(decisions.c.id)
        .cte("forgotten")
    )
    # One statement: PostgreSQL runs every data-modifying WITH to completion, read or not.
    counted = select(func.count()).select_from(gone).add_cte(forgotten)
    return int((await conn.execute(counted)).scalar_one())
