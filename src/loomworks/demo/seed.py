"""Seed a demo operator with a realistic portfolio: every dashboard zone has something in it."""

from __future__ import annotations

import io
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.engagements import add_member, create_engagement
from loomworks.db.people import Person, create_person, person_by_email
from loomworks.db.tables import (
    assertions,
    external_production_records,
    render_files,
    render_jobs,
    renders,
    shapes,
    shaping_jobs,
)
from loomworks.states import Designation

DEMO_EMAIL = "operator@loomworks.demo"
DEMO_PASSWORD = "loomworks-demo"  # noqa: S105 (published in the README on purpose)
COLLEAGUE_EMAIL = "colleague@loomworks.demo"


@dataclass(frozen=True)
class DemoPortfolio:
    operator: Person
    created: bool


async def seed_demo(conn: AsyncConnection, *, now: datetime | None = None) -> DemoPortfolio:
    """Create the demo portfolio once; later calls find the operator and change nothing."""
    existing = await person_by_email(conn, DEMO_EMAIL)
    if existing is not None:
        return DemoPortfolio(existing, created=False)
    now = now or datetime.now(UTC)
    operator = await create_person(
        conn, email=DEMO_EMAIL, display_name="Dana Operator", password=DEMO_PASSWORD
    )
    colleague = await create_person(
        conn, email=COLLEAGUE_EMAIL, display_name="Casey Colleague", password=DEMO_PASSWORD
    )
    assert operator is not None and colleague is not None

    async def engagement(name: str, designation: Designation | None) -> uuid.UUID:
        engagement_id = await create_engagement(conn, name=name)
        await add_member(
            conn, person_id=colleague.id, engagement_id=engagement_id, designation=Designation.OWNER
        )
        if designation is not None:
            await add_member(
                conn, person_id=operator.id, engagement_id=engagement_id, designation=designation
            )
        return engagement_id

    harbour = await engagement("Harbour Bridge Retrofit", Designation.OWNER)
    riverside = await engagement("Riverside Housing", Designation.OPERATOR)
    terminal = await engagement("Airport Terminal 3", Designation.OPERATOR)
    mill = await engagement("Old Mill Conversion", Designation.OPERATOR)
    library = await engagement("City Library Survey", Designation.VIEWER)
    private = await engagement("Board Review (private)", None)

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    async def add(table: Table, **values: Any) -> uuid.UUID:
        row_id: uuid.UUID = (
            await conn.execute(insert(table).values(**values).returning(table.c.id))
        ).scalar_one()
        return row_id

    # Active zone: running jobs with every kind of progress metadata.
    await add(
        shaping_jobs,
        engagement_id=harbour,
        shape_type="deck_section",
        status="dispatched",
        started_at=ago(4),
        context={"phase": {"key": "processing"}},
        summary_counts={"processed": 40, "total": 120},
    )
    await add(
        shaping_jobs,
        engagement_id=riverside,
        shape_type="site_plan",
        status="dispatched",
        started_at=ago(9),
        summary_counts={"processed": 310, "total": 500},
    )
    await add(
        shaping_jobs,
        engagement_id=terminal,
        shape_type="floor_plate",
        status="queued",
        started_at=ago(1),
    )
    await add(
        render_jobs,
        engagement_id=mill,
        render_type="condition_report",
        status="dispatched",
        started_at=ago(12),
        context={"composite": {"children": 6, "failed": 1, "partial": 0}},
    )
    await add(
        render_jobs,
        engagement_id=library,
        render_type="survey_digest",
        status="dispatched",
        started_at=ago(7),
        context={"phase": {"key": "fetching"}},
    )
    await add(
        external_production_records,
        engagement_id=terminal,
        provider="Skyline Lidar",
        description="Roof point cloud",
        status="awaiting_external",
        started_at=ago(30),
    )
    await add(
        shaping_jobs,
        engagement_id=private,
        shape_type="board_pack",
        status="dispatched",
        started_at=ago(2),
    )
    # History that must not show as active.
    await add(
        shaping_jobs,
        engagement_id=harbour,
        shape_type="deck_section",
        status="completed",
        started_at=ago(300),
        completed_at=ago(280),
    )
    await add(
        external_production_records,
        engagement_id=riverside,
        provider="Skyline Lidar",
        status="received",
        started_at=ago(900),
        completed_at=ago(600),
    )

    # Needs-you zone: decisions waiting, including some in the viewer engagement (hidden there).
    await add(
        shapes,
        engagement_id=harbour,
        shape_type="deck_section",
        title="East approach deck section",
        state="pending_confirmation",
        created_at=ago(20),
    )
    await add(
        shapes,
        engagement_id=riverside,
        shape_type="site_plan",
        title="Block C site plan",
        state="pending_confirmation",
        created_at=ago(65),
    )
    await add(
        shapes,
        engagement_id=library,
        shape_type="floor_plate",
        title="Reading room floor plate",
        state="pending_confirmation",
        created_at=ago(15),
    )
    await add(
        shapes,
        engagement_id=riverside,
        shape_type="site_plan",
        title="Block A site plan",
        state="confirmed",
        created_at=ago(2000),
        decided_at=ago(1900),
    )
    await add(
        assertions,
        engagement_id=mill,
        statement="The north wall is load-bearing.",
        state="held",
        created_at=ago(45),
    )
    await add(
        assertions,
        engagement_id=terminal,
        statement="Gate 12 stays open during works.",
        state="held",
        created_at=ago(180),
    )
    await add(
        assertions,
        engagement_id=library,
        statement="The archive floor is dry.",
        state="held",
        created_at=ago(25),
    )

    # Recent zone: produced renders of every content kind with real content.
    csv_bytes = b"item,quantity,unit_cost\nsteel beam,42,1180.00\nbolt set,900,3.20\n"
    svg_bytes = _elevation_svg("Harbour Bridge east elevation")
    render_specs: list[
        tuple[uuid.UUID, str, str, float, bool, list[tuple[str, str, bytes]], Any]
    ] = [
        (
            harbour,
            "Cost plan",
            "binary_blob",
            35,
            False,
            [("cost-plan.csv", "text/csv", csv_bytes)],
            None,
        ),
        (
            harbour,
            "East elevation",
            "binary_blob",
            240,
            True,
            [("east-elevation.png", "image/png", _png(48, 32))],
            None,
        ),
        (
            riverside,
            "Survey pack",
            "multi_file",
            90,
            False,
            [
                ("README.txt", "text/plain", b"Survey pack for Riverside Housing.\n"),
                ("quantities.csv", "text/csv", csv_bytes),
                ("elevation.svg", "image/svg+xml", svg_bytes),
            ],
            None,
        ),
        (
            mill,
            "Condition summary",
            "inline_dict",
            150,
            True,
            [],
            {"rating": "fair", "issues": ["damp in cellar", "roof slates missing"]},
        ),
        (terminal, "Gate capacity check", "inline_dict", 400, False, [], {"gates": 14, "ok": True}),
        (
            library,
            "Stack layout",
            "binary_blob",
            60,
            False,
            [("stack-layout.svg", "image/svg+xml", svg_bytes)],
            None,
        ),
        (
            private,
            "Board minutes",
            "binary_blob",
            10,
            False,
            [("minutes.txt", "text/plain", b"Confidential.\n")],
            None,
        ),
    ]
    for number, (eid, title, kind, minutes, reviewed, files, inline) in enumerate(render_specs, 1):
        render_id = await add(
            renders,
            engagement_id=eid,
            title=title,
            display_number=number,
            state="produced",
            content_kind=kind,
            inline_content=inline,
            created_at=ago(minutes + 5),
            completed_at=ago(minutes),
            reviewed_at=ago(minutes - 1) if reviewed else None,
        )
        for filename, media_type, content in files:
            await add(
                render_files,
                render_id=render_id,
                filename=filename,
                media_type=media_type,
                content=content,
                byte_size=len(content),
            )
    await add(
        renders,
        engagement_id=mill,
        title="Structural model",
        display_number=99,
        state="producing",
        content_kind="multi_file",
        created_at=ago(3),
    )
    return DemoPortfolio(operator, created=True)


def _elevation_svg(title: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="120">'
        f"<title>{title}</title>"
        '<rect x="10" y="60" width="300" height="12" fill="#345"/>'
        '<rect x="40" y="20" width="8" height="90" fill="#678"/>'
        '<rect x="270" y="20" width="8" height="90" fill="#678"/></svg>'
    ).encode()


def _png(width: int, height: int) -> bytes:
    """A real, small gradient PNG, so the download is something an image viewer opens."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    raw = io.BytesIO()
    for y in range(height):
        raw.write(b"\x00")
        for x in range(width):
            raw.write(bytes((40 + x * 4 % 200, 80 + y * 5 % 160, 160)))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.getvalue()))
        + chunk(b"IEND", b"")
    )
