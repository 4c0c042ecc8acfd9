"""Seed a demo operator with a realistic portfolio: every dashboard zone has something in it.

seed_demo runs its steps in order: people, engagements, active jobs, job history, waiting
decisions, renders with files. Times are minutes before `now`, so the portfolio looks fresh
whenever it is seeded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.progress import composite_patch, counts_patch, phase_patch
from loomworks.core.states import (
    AssertionState,
    ContentKind,
    Designation,
    ExternalStatus,
    JobStatus,
    RenderState,
    ShapeState,
)
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
from loomworks.demo.content import DemoFile, elevation_svg, gradient_png

DEMO_EMAIL = "operator@loomworks.demo"
DEMO_PASSWORD = "loomworks-demo"  # noqa: S105 (published in the README on purpose)
COLLEAGUE_EMAIL = "colleague@loomworks.demo"


@dataclass(frozen=True)
class DemoPortfolio:
    operator: Person
    created: bool


class DemoPeople(NamedTuple):
    operator: Person  # the person the README signs in as
    colleague: Person  # owns every engagement, so the operator's view is a subset of theirs


class DemoEngagements(NamedTuple):
    harbour: uuid.UUID
    riverside: uuid.UUID
    terminal: uuid.UUID
    mill: uuid.UUID
    library: uuid.UUID  # the operator is only a viewer here
    private: uuid.UUID  # the operator is not a member: nothing of it may reach them


# DemoEngagements' names, in its order, with the operator's designation (None: not a member).
ENGAGEMENTS: tuple[tuple[str, Designation | None], ...] = (
    ("Harbour Bridge Retrofit", Designation.OWNER),
    ("Riverside Housing", Designation.OPERATOR),
    ("Airport Terminal 3", Designation.OPERATOR),
    ("Old Mill Conversion", Designation.OPERATOR),
    ("City Library Survey", Designation.VIEWER),
    ("Board Review (private)", None),
)


@dataclass(frozen=True)
class Seeding:
    """The connection and the moment every seeded time is counted back from."""

    conn: AsyncConnection
    now: datetime

    def ago(self, minutes: float) -> datetime:
        return self.now - timedelta(minutes=minutes)

    async def add(self, table: Table, **values: Any) -> uuid.UUID:
        row_id: uuid.UUID = (
            await self.conn.execute(insert(table).values(**values).returning(table.c.id))
        ).scalar_one()
        return row_id


async def seed_demo(conn: AsyncConnection, *, now: datetime | None = None) -> DemoPortfolio:
    """Create the demo portfolio once; later calls find the operator and change nothing."""
    existing = await person_by_email(conn, DEMO_EMAIL)
    if existing is not None:
        return DemoPortfolio(existing, created=False)
    seeding = Seeding(conn, now or datetime.now(UTC))
    people = await seed_people(conn)
    places = await seed_engagements(conn, people)
    await seed_active_jobs(seeding, places)
    await seed_history(seeding, places)
    await seed_waiting_decisions(seeding, places)
    await seed_renders(seeding, places)
    return DemoPortfolio(people.operator, created=True)


async def seed_people(conn: AsyncConnection) -> DemoPeople:
    operator = await create_person(
        conn, email=DEMO_EMAIL, display_name="Dana Operator", password=DEMO_PASSWORD
    )
    colleague = await create_person(
        conn, email=COLLEAGUE_EMAIL, display_name="Casey Colleague", password=DEMO_PASSWORD
    )
    assert operator is not None and colleague is not None  # seed_demo checked they are new
    return DemoPeople(operator, colleague)


async def seed_engagements(conn: AsyncConnection, people: DemoPeople) -> DemoEngagements:
    ids = []
    for name, designation in ENGAGEMENTS:
        engagement_id = await create_engagement(conn, name=name)
        await add_member(
            conn,
            person_id=people.colleague.id,
            engagement_id=engagement_id,
            designation=Designation.OWNER,
        )
        if designation is not None:
            await add_member(
                conn,
                person_id=people.operator.id,
                engagement_id=engagement_id,
                designation=designation,
            )
        ids.append(engagement_id)
    return DemoEngagements(*ids)


async def seed_active_jobs(seeding: Seeding, places: DemoEngagements) -> None:
    """Running jobs with every kind of progress: phased, counted, none yet, composite."""
    add, ago = seeding.add, seeding.ago
    await add(
        shaping_jobs,
        engagement_id=places.harbour,
        shape_type="deck_section",
        status=JobStatus.DISPATCHED,
        started_at=ago(4),
        context=phase_patch("processing"),  # the phase outranks the counts beside it
        summary_counts=counts_patch(40, 120),
    )
    await add(
        shaping_jobs,
        engagement_id=places.riverside,
        shape_type="site_plan",
        status=JobStatus.DISPATCHED,
        started_at=ago(9),
        summary_counts=counts_patch(310, 500),
    )
    await add(
        shaping_jobs,
        engagement_id=places.terminal,
        shape_type="floor_plate",
        status=JobStatus.QUEUED,
        started_at=ago(1),
    )
    await add(
        render_jobs,
        engagement_id=places.mill,
        render_type="condition_report",
        status=JobStatus.DISPATCHED,
        started_at=ago(12),
        context=composite_patch(6, failed=1),
    )
    await add(
        render_jobs,
        engagement_id=places.library,
        render_type="survey_digest",
        status=JobStatus.DISPATCHED,
        started_at=ago(7),
        context=phase_patch("fetching"),
    )
    await add(
        external_production_records,
        engagement_id=places.terminal,
        provider="Skyline Lidar",
        description="Roof point cloud",
        status=ExternalStatus.AWAITING_EXTERNAL,
        started_at=ago(30),
    )
    await add(
        shaping_jobs,
        engagement_id=places.private,
        shape_type="board_pack",
        status=JobStatus.DISPATCHED,
        started_at=ago(2),
    )


async def seed_history(seeding: Seeding, places: DemoEngagements) -> None:
    """Finished work that must not show as active."""
    await seeding.add(
        shaping_jobs,
        engagement_id=places.harbour,
        shape_type="deck_section",
        status=JobStatus.COMPLETED,
        started_at=seeding.ago(300),
        completed_at=seeding.ago(280),
    )
    await seeding.add(
        external_production_records,
        engagement_id=places.riverside,
        provider="Skyline Lidar",
        status=ExternalStatus.RECEIVED,
        started_at=seeding.ago(900),
        completed_at=seeding.ago(600),
    )


async def seed_waiting_decisions(seeding: Seeding, places: DemoEngagements) -> None:
    """Shapes and assertions waiting for a decision (the viewer engagement's are hidden from
    the operator), and one shape already decided."""
    pending_shapes = (  # engagement, shape type, title, minutes ago
        (places.harbour, "deck_section", "East approach deck section", 20),
        (places.riverside, "site_plan", "Block C site plan", 65),
        (places.library, "floor_plate", "Reading room floor plate", 15),
    )
    for engagement_id, shape_type, title, minutes in pending_shapes:
        await seeding.add(
            shapes,
            engagement_id=engagement_id,
            shape_type=shape_type,
            title=title,
            state=ShapeState.PENDING_CONFIRMATION,
            created_at=seeding.ago(minutes),
        )
    await seeding.add(
        shapes,
        engagement_id=places.riverside,
        shape_type="site_plan",
        title="Block A site plan",
        state=ShapeState.CONFIRMED,
        created_at=seeding.ago(2000),
        decided_at=seeding.ago(1900),
    )
    held_assertions = (  # engagement, statement, minutes ago
        (places.mill, "The north wall is load-bearing.", 45),
        (places.terminal, "Gate 12 stays open during works.", 180),
        (places.library, "The archive floor is dry.", 25),
    )
    for engagement_id, statement, minutes in held_assertions:
        await seeding.add(
            assertions,
            engagement_id=engagement_id,
            statement=statement,
            state=AssertionState.HELD,
            created_at=seeding.ago(minutes),
        )


@dataclass(frozen=True)
class RenderSpec:
    """One produced render: completed `minutes` ago; reviewed ones no longer wait for anyone."""

    engagement_id: uuid.UUID
    title: str
    content_kind: ContentKind
    minutes: float
    reviewed: bool = False
    files: tuple[DemoFile, ...] = ()
    inline_content: dict[str, Any] | None = None


COST_CSV = b"item,quantity,unit_cost\nsteel beam,42,1180.00\nbolt set,900,3.20\n"
ELEVATION_SVG = elevation_svg("Harbour Bridge east elevation")


def render_specs(places: DemoEngagements) -> tuple[RenderSpec, ...]:
    """The produced renders, in display-number order (numbered across the whole list)."""
    return (
        RenderSpec(
            places.harbour,
            "Cost plan",
            ContentKind.BINARY_BLOB,
            35,
            files=(DemoFile("cost-plan.csv", "text/csv", COST_CSV),),
        ),
        RenderSpec(
            places.harbour,
            "East elevation",
            ContentKind.BINARY_BLOB,
            240,
            reviewed=True,
            files=(DemoFile("east-elevation.png", "image/png", gradient_png(48, 32)),),
        ),
        RenderSpec(
            places.riverside,
            "Survey pack",
            ContentKind.MULTI_FILE,
            90,
            files=(
                DemoFile("README.txt", "text/plain", b"Survey pack for Riverside Housing.\n"),
                DemoFile("quantities.csv", "text/csv", COST_CSV),
                DemoFile("elevation.svg", "image/svg+xml", ELEVATION_SVG),
            ),
        ),
        RenderSpec(
            places.mill,
            "Condition summary",
            ContentKind.INLINE_DICT,
            150,
            reviewed=True,
            inline_content={"rating": "fair", "issues": ["damp in cellar", "roof slates missing"]},
        ),
        RenderSpec(
            places.terminal,
            "Gate capacity check",
            ContentKind.INLINE_DICT,
            400,
            inline_content={"gates": 14, "ok": True},
        ),
        RenderSpec(
            places.library,
            "Stack layout",
            ContentKind.BINARY_BLOB,
            60,
            files=(DemoFile("stack-layout.svg", "image/svg+xml", ELEVATION_SVG),),
        ),
        RenderSpec(
            places.private,
            "Board minutes",
            ContentKind.BINARY_BLOB,
            10,
            files=(DemoFile("minutes.txt", "text/plain", b"Confidential.\n"),),
        ),
    )


async def seed_renders(seeding: Seeding, places: DemoEngagements) -> None:
    """Produced renders of every content kind with real content, and one still producing."""
    for number, spec in enumerate(render_specs(places), 1):
        render_id = await seeding.add(
            renders,
            engagement_id=spec.engagement_id,
            title=spec.title,
            display_number=number,
            state=RenderState.PRODUCED,
            content_kind=spec.content_kind,
            inline_content=spec.inline_content,
            created_at=seeding.ago(spec.minutes + 5),
            completed_at=seeding.ago(spec.minutes),
            reviewed_at=seeding.ago(spec.minutes - 1) if spec.reviewed else None,
        )
        for file in spec.files:
            await seeding.add(
                render_files,
                render_id=render_id,
                filename=file.filename,
                media_type=file.media_type,
                content=file.content,
                byte_size=len(file.content),
            )
    await seeding.add(
        renders,
        engagement_id=places.mill,
        title="Structural model",
        display_number=99,
        state=RenderState.PRODUCING,
        content_kind=ContentKind.MULTI_FILE,
        created_at=seeding.ago(3),
    )
