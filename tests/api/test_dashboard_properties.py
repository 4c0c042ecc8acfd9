"""Property-based checks of the three dashboard zones against a plain-Python model of the
zone rules (docs/dashboard.md).

Random portfolios (several people, random designations, engagements the caller is not in,
random states for every source table, timestamps from a tiny pool so that ties are the rule,
including neighbours one microsecond apart) are walked page by page via next_cursor, with
random page sizes, and every walk must return exactly what the model predicts, in order
(recency key desc, then id desc as PostgreSQL compares uuids), with total_count on every page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import (
    AssertionState,
    Designation,
    ExternalStatus,
    JobStatus,
    RenderState,
    ShapeState,
)
from loomworks.db import dashboard
from loomworks.db.people import issue_session
from loomworks.db.tables import (
    assertions,
    engagement_memberships,
    engagements,
    external_production_records,
    persons,
    render_jobs,
    renders,
    shapes,
    shaping_jobs,
)
from tests.fixtures.contract import zone_body
from tests.fixtures.data import empty_tables

ZONES = ("active", "needs_you", "recent")
ID_FIELD = {"active": "item_id", "needs_you": "item_id", "recent": "artifact_id"}
KIND_FIELD = {"active": "item_kind", "needs_you": "item_kind", "recent": "artifact_kind"}
KEY_FIELD = {"active": "started_at", "needs_you": "created_at", "recent": "completed_at"}

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
# Candidate instants: neighbours one microsecond apart, a distant one, and one just before the
# Unix epoch (a negative cursor key). Each portfolio draws a pool of at most three of them.
INSTANTS = (
    T0,
    T0 + US,
    T0 + 2 * US,
    T0 + timedelta(hours=1),
    datetime(1970, 1, 1, tzinfo=UTC) - US,
)
# Instants newer than every one of INSTANTS, for rows that arrive during a walk.
FRESH_INSTANTS = (T0 + timedelta(days=1), T0 + timedelta(days=1) + US)

DESIGNATIONS = tuple(Designation)
STATES: dict[str, tuple[str, ...]] = {
    "shaping_jobs": tuple(JobStatus),
    "render_jobs": tuple(JobStatus),
    "external_production_records": tuple(ExternalStatus),
    "shapes": tuple(ShapeState),
    "assertions": tuple(AssertionState),
    "renders": tuple(RenderState),
}
SOURCES = tuple(STATES)
SHOWN_STATES: dict[str, tuple[str, ...]] = {
    "shaping_jobs": ("queued", "dispatched"),
    "render_jobs": ("queued", "dispatched"),
    "external_production_records": ("awaiting_external", "failed"),
    "shapes": ("pending_confirmation",),
    "assertions": ("held",),
    "renders": ("produced",),
}
DECIDING = ("owner", "operator")
ACTIVE_KINDS = {
    "shaping_jobs": "shape_production",
    "render_jobs": "render_production",
    "external_production_records": "external_polling",
}
NEEDS_YOU_KINDS = {
    "shapes": "pending_shape",
    "assertions": "held_assertion",
    "renders": "produced_render_for_review",
    "external_production_records": "external_failure",
}
ZONE_SOURCES = {
    "active": tuple(ACTIVE_KINDS),
    "needs_you": tuple(NEEDS_YOU_KINDS),
    "recent": ("renders",),
}

PROPERTY_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- the portfolio and its model ------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    """One row of a source table: `state` is its status or state column, `at` its
    started_at / created_at; `completed_at` matters for renders and external records,
    `reviewed_at` for renders, `resolved_at` for external records."""

    source: str
    id: uuid.UUID
    engagement: int
    state: str
    at: datetime
    completed_at: datetime | None = None
    reviewed_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Portfolio:
    """Person 0 is the caller; memberships[e] maps person index to designation in engagement e."""

    people: int
    memberships: tuple[dict[int, str], ...]
    rows: tuple[SourceRow, ...]


@dataclass(frozen=True)
class Expected:
    kind: str
    id: uuid.UUID
    engagement: int
    key: datetime


def model(
    portfolio: Portfolio, zone: str, rows: Sequence[SourceRow] | None = None
) -> list[Expected]:
    """The zone rules, by hand: what the caller (person 0) sees in `zone`, in page order."""
    mine = {e: m[0] for e, m in enumerate(portfolio.memberships) if 0 in m}
    items: list[Expected] = []
    for row in portfolio.rows if rows is None else rows:
        designation = mine.get(row.engagement)
        if designation is None:
            continue
        if zone == "active":
            running = (
                row.state == "awaiting_external"
                if row.source == "external_production_records"
                else row.state in ("queued", "dispatched")
            )
            if row.source in ACTIVE_KINDS and running:
                items.append(Expected(ACTIVE_KINDS[row.source], row.id, row.engagement, row.at))
        elif zone == "needs_you":
            if designation not in DECIDING or row.source not in NEEDS_YOU_KINDS:
                continue
            waiting = {
                "shapes": row.state == "pending_confirmation",
                "assertions": row.state == "held",
                "renders": row.state == "produced" and row.reviewed_at is None,
                "external_production_records": row.state == "failed" and row.resolved_at is None,
            }[row.source]
            # A failed external production waits newest-failure first.
            key = row.completed_at if row.source == "external_production_records" else row.at
            if waiting:
                assert key is not None
                items.append(Expected(NEEDS_YOU_KINDS[row.source], row.id, row.engagement, key))
        elif row.source == "renders" and row.state == "produced":
            assert row.completed_at is not None
            items.append(Expected("render", row.id, row.engagement, row.completed_at))
    # uuid.UUID orders by its 128-bit integer, i.e. by its bytes: PostgreSQL's uuid order.
    return sorted(items, key=lambda item: (item.key, item.id), reverse=True)


# --- strategies -----------------------------------------------------------------------------


@st.composite
def source_row_specs(
    draw: st.DrawFn,
    engagements_count: int,
    pool: Sequence[datetime],
    sources: Sequence[str] = SOURCES,
    shown_weight: int = 1,
) -> dict[str, Any]:
    source = draw(st.sampled_from(sources))
    # A state some zone shows, `shown_weight` times as likely as a draw from all states.
    shown = st.sampled_from(SHOWN_STATES[source])
    state = draw(st.one_of(*[shown] * shown_weight, st.sampled_from(STATES[source])))
    instants = st.sampled_from(list(pool))
    spec: dict[str, Any] = {
        "source": source,
        # Rows crowd into the first engagement half the time: longer walks, more ties.
        "engagement": draw(st.just(0) | st.integers(0, engagements_count - 1)),
        "state": state,
        "at": draw(instants),
    }
    if source == "renders":
        # Only produced renders must have completed_at (a check constraint); others may or not.
        spec["completed_at"] = draw(instants if state == "produced" else st.none() | instants)
        spec["reviewed_at"] = draw(st.none() | instants)
    if source == "external_production_records":
        # Finished records have completed_at (the database stamps it when a writer leaves it out).
        running = state == "awaiting_external"
        spec["completed_at"] = draw(st.none() | instants if running else instants)
        spec["resolved_at"] = draw(st.none() | instants)
    return spec


def with_ids(specs: list[dict[str, Any]], ids: list[uuid.UUID]) -> tuple[SourceRow, ...]:
    return tuple(SourceRow(id=row_id, **spec) for spec, row_id in zip(specs, ids, strict=True))


@st.composite
def memberships_strategy(draw: st.DrawFn) -> tuple[int, tuple[dict[int, str], ...]]:
    people = draw(st.integers(2, 4))
    designation = st.sampled_from(DESIGNATIONS)
    memberships: list[dict[int, str]] = []
    for _ in range(draw(st.integers(1, 4))):
        others = draw(st.dictionaries(st.integers(1, people - 1), designation))
        mine = draw(st.sampled_from((None, *DESIGNATIONS)))
        memberships.append(others if mine is None else {0: mine, **others})
    # Always at least one engagement the caller does not belong to, with someone else in it.
    memberships.append({draw(st.integers(1, people - 1)): draw(designation)})
    return people, tuple(memberships)


@st.composite
def portfolios(draw: st.DrawFn, max_rows: int = 40) -> Portfolio:
    people, memberships = draw(memberships_strategy())
    pool = draw(st.lists(st.sampled_from(INSTANTS), min_size=1, max_size=3, unique=True))
    # Hypothesis favours tiny sizes; the second branch keeps most portfolios sizeable.
    size = draw(st.integers(0, max_rows) | st.integers(max_rows // 3, max_rows))
    rows = source_row_specs(len(memberships), pool)
    specs = draw(st.lists(rows, min_size=size, max_size=size))
    ids = draw(st.lists(st.uuids(), min_size=len(specs), max_size=len(specs), unique=True))
    return Portfolio(people, memberships, with_ids(specs, ids))


# Page sizes, mostly tiny so that walks cross many page boundaries inside runs of ties.
limits = st.one_of(st.integers(1, 5), st.integers(1, 100))


# --- database -------------------------------------------------------------------------------


async def reset(db: AsyncConnection) -> None:
    """Hypothesis runs many examples inside one test: each starts from empty tables."""
    await empty_tables(db)


# The words of the rows' label columns, one per row (by its id), for the searched walks: a
# humanised key, `%` and `_` as text, a backslash, two cases.
WORDS = ("site_plan", "Roof-outline", "50% done", "a_b", "axb", "North WING", "back\\slash")


def word(row: SourceRow) -> str:
    return WORDS[row.id.int % len(WORDS)]


def searched_text(row: SourceRow) -> str:
    """What `q` reads of the row's label, as docs/triage.md says, lower-cased."""
    spoken = word(row).replace("_", " ").replace("-", " ")
    text = {
        "shaping_jobs": f"Shaping: {spoken}",
        "render_jobs": f"Rendering: {spoken}",
        "external_production_records": f"{word(row)} from Acme Surveys",
        "shapes": word(row),
        "assertions": word(row),
        "renders": f"Render #1: {word(row)}",
    }[row.source]
    return text.lower()


def row_values(row: SourceRow, engagement_ids: Sequence[uuid.UUID]) -> tuple[Table, dict[str, Any]]:
    common = {"id": row.id, "engagement_id": engagement_ids[row.engagement]}
    if row.source == "shaping_jobs":
        values = {"status": row.state, "started_at": row.at, "shape_type": word(row)}
        return shaping_jobs, common | values
    if row.source == "render_jobs":
        values = {"status": row.state, "started_at": row.at, "render_type": word(row)}
        return render_jobs, common | values
    if row.source == "external_production_records":
        values = {
            "status": row.state,
            "started_at": row.at,
            "completed_at": row.completed_at,
            "resolved_at": row.resolved_at,
            "provider": "Acme Surveys",
            "description": word(row),
        }
        return external_production_records, common | values
    if row.source == "shapes":
        values = {
            "state": row.state,
            "created_at": row.at,
            "title": word(row),
            "shape_type": "site_plan",
        }
        return shapes, common | values
    if row.source == "assertions":
        values = {"state": row.state, "created_at": row.at, "statement": word(row)}
        return assertions, common | values
    values = {
        "state": row.state,
        "created_at": row.at,
        "completed_at": row.completed_at,
        "reviewed_at": row.reviewed_at,
        "title": word(row),
        "display_number": 1,
        "content_kind": "inline_dict",
        "inline_content": {"summary": "ok"},
    }
    return renders, common | values


async def insert_rows(
    db: AsyncConnection, rows: Sequence[SourceRow], engagement_ids: Sequence[uuid.UUID]
) -> None:
    """One multi-row INSERT per source table."""
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for row in rows:
        table, values = row_values(row, engagement_ids)
        by_table.setdefault(table, []).append(values)
    for table, batch in by_table.items():
        await db.execute(insert(table).values(batch))


async def load(
    client: httpx.AsyncClient, db: AsyncConnection, portfolio: Portfolio
) -> list[uuid.UUID]:
    """Empty the tables, store the portfolio, sign the client in as person 0; the engagement
    ids by index. Persons are inserted without a password: hashing would dominate the run."""
    await reset(db)
    person_ids = [uuid.uuid4() for _ in range(portfolio.people)]
    await db.execute(
        insert(persons).values(
            [
                {"id": pid, "email": f"p{n}-{pid.hex[:8]}@example.test", "display_name": f"P{n}"}
                for n, pid in enumerate(person_ids)
            ]
        )
    )
    engagement_ids = [uuid.uuid4() for _ in portfolio.memberships]
    await db.execute(
        insert(engagements).values(
            [{"id": eid, "name": f"Engagement {n}"} for n, eid in enumerate(engagement_ids)]
        )
    )
    members = [
        {"person_id": person_ids[p], "engagement_id": engagement_ids[e], "designation": d}
        for e, membership in enumerate(portfolio.memberships)
        for p, d in membership.items()
    ]
    if members:
        await db.execute(insert(engagement_memberships).values(members))
    await insert_rows(db, portfolio.rows, engagement_ids)
    token = await issue_session(db, person_id=person_ids[0], lifetime=timedelta(hours=1))
    client.cookies.set("loomworks_session", token)
    return engagement_ids


# --- walking --------------------------------------------------------------------------------


async def get_page(
    client: httpx.AsyncClient, zone: str, limit: int, cursor: str | None, **filters: Any
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, **filters}
    if cursor is not None:
        params["cursor"] = cursor
    body = zone_body(zone, await client.get(f"/me/dashboard/{zone}", params=params))
    assert len(body["items"]) <= limit
    assert body["next_cursor"] is None or body["items"], "a page with a next_cursor is empty"
    return body


def observed(zone: str, item: dict[str, Any], engagement_ids: Sequence[uuid.UUID]) -> Expected:
    engagement = engagement_ids.index(uuid.UUID(item["engagement_id"]))
    assert item["engagement_name"] == f"Engagement {engagement}"
    return Expected(
        kind=item[KIND_FIELD[zone]],
        id=uuid.UUID(item[ID_FIELD[zone]]),
        engagement=engagement,
        key=datetime.fromisoformat(item[KEY_FIELD[zone]]),
    )


def assert_same_walk(walked: list[Expected], expected: list[Expected]) -> None:
    ids = [item.id for item in walked]
    assert len(set(ids)) == len(ids), f"duplicates in the walk: {ids}"
    assert walked == expected


def describe(expected: list[Expected], limit: int) -> str:
    """For --hypothesis-show-statistics: how big the walk was and whether a page boundary
    fell inside a run of equal keys (the case keyset pagination gets wrong most easily)."""
    size = "no items" if not expected else "1-5 items" if len(expected) <= 5 else "6+ items"
    split_tie = any(
        expected[i - 1].key == expected[i].key for i in range(limit, len(expected), limit)
    )
    return f"{size}, {'a tie split across pages' if split_tie else 'no split tie'}"


# --- the properties -------------------------------------------------------------------------


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(
    portfolio=portfolios(),
    zone_limits=st.fixed_dictionaries({zone: limits for zone in ZONES}),
)
async def test_walks_match_model(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    portfolio: Portfolio,
    zone_limits: dict[str, int],
) -> None:
    engagement_ids = await load(client, db, portfolio)
    for zone, limit in zone_limits.items():
        expected = model(portfolio, zone)
        await walk_matches(client, zone, limit, engagement_ids, expected)
        event(f"{zone}: {describe(expected, limit)}")


@pytest.fixture
def narrow_windows(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each arm's fast-path window (db/dashboard._fast_or_slow) cut down to the page's own
    rows (window = limit + 1): these small portfolios then overflow it, so walks cross both
    paths and the choice between them (the service's window of 1,000+ rows never overflows
    here)."""
    monkeypatch.setattr(dashboard, "MIN_WINDOW", 1)
    monkeypatch.setattr(dashboard, "WINDOW_PER_ROW", 1)
    dashboard.zone_statement.cache_clear()  # statements are built once per shape
    yield
    dashboard.zone_statement.cache_clear()


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(
    portfolio=portfolios(),
    zone_limits=st.fixed_dictionaries({zone: limits for zone in ZONES}),
    oldest=st.booleans(),
)
async def test_walks_through_narrow_windows_match_model(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    narrow_windows: None,
    portfolio: Portfolio,
    zone_limits: dict[str, int],
    oldest: bool,
) -> None:
    """Whether an arm's page comes from its window or from the walk per engagement, the walk
    (in needs_you, in either order) is the model's."""
    engagement_ids = await load(client, db, portfolio)
    for zone, limit in zone_limits.items():
        expected = model(portfolio, zone)
        filters: dict[str, Any] = {}
        if zone == "needs_you" and oldest:
            filters["order"] = "oldest"
            expected = expected[::-1]
        await walk_matches(client, zone, limit, engagement_ids, expected, **filters)
        mine = {item.id for item in expected}
        others = sum(1 for row in portfolio.rows if row.id not in mine)
        event(f"{zone}: {'with rows it does not show' if others else 'only rows it shows'}")


async def walk_matches(
    client: httpx.AsyncClient,
    zone: str,
    limit: int,
    engagement_ids: Sequence[uuid.UUID],
    expected: list[Expected],
    **filters: Any,
) -> None:
    """Walk the zone page by page under `filters`: exactly `expected`, total_count on every page."""
    walked: list[Expected] = []
    cursor: str | None = None
    for _ in range(len(expected) + 1):  # never more pages than items, plus the last one
        page = await get_page(client, zone, limit, cursor, **filters)
        assert page["total_count"] == len(expected), (zone, filters)
        walked += [observed(zone, item, engagement_ids) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None, f"{zone}: the walk did not end"
    assert_same_walk(walked, expected)


@dataclass(frozen=True)
class GrowingWalk:
    """A portfolio walked in `zone`; `arrivals[n]` rows of `fresh` (all newer than every row
    of the portfolio, of the zone's source tables) are inserted after page n."""

    portfolio: Portfolio
    zone: str
    limit: int
    fresh: tuple[SourceRow, ...]
    arrivals: tuple[int, ...]


@st.composite
def growing_walks(draw: st.DrawFn, zone: str) -> GrowingWalk:
    people, memberships = draw(memberships_strategy())
    # The caller decides in the first engagement, so that walks tend to span several pages.
    memberships = ({**memberships[0], 0: draw(st.sampled_from(DECIDING))}, *memberships[1:])
    pool = draw(st.lists(st.sampled_from(INSTANTS), min_size=1, max_size=3, unique=True))
    size = draw(st.integers(0, 30) | st.integers(10, 30))
    old_rows = source_row_specs(len(memberships), pool, ZONE_SOURCES[zone])
    old = draw(st.lists(old_rows, min_size=size, max_size=size))
    fresh_rows = source_row_specs(len(memberships), FRESH_INSTANTS, ZONE_SOURCES[zone], 3)
    new = draw(st.lists(fresh_rows, min_size=1, max_size=12))
    ids = draw(st.lists(st.uuids(), min_size=len(old + new), max_size=len(old + new), unique=True))
    rows = with_ids(old + new, ids)
    arrivals = draw(st.lists(st.integers(1, 3) | st.integers(0, 3), min_size=1, max_size=len(new)))
    return GrowingWalk(
        portfolio=Portfolio(people, memberships, rows[: len(old)]),
        zone=zone,
        limit=draw(st.integers(1, 3) | limits),
        fresh=rows[len(old) :],
        arrivals=tuple(arrivals),
    )


@pytest.mark.parametrize("zone", ZONES)
@settings(PROPERTY_SETTINGS, max_examples=40)
@given(data=st.data())
async def test_rows_arriving_mid_walk_do_not_disturb_it(
    client: httpx.AsyncClient, db: AsyncConnection, zone: str, data: st.DataObject
) -> None:
    walk = data.draw(growing_walks(zone), label="walk")
    portfolio, limit = walk.portfolio, walk.limit
    engagement_ids = await load(client, db, portfolio)
    expected = model(portfolio, zone)
    present = list(portfolio.rows)
    pending = list(walk.fresh)
    walked: list[Expected] = []
    cursor: str | None = None
    for page_number in range(len(expected) + 1):
        page = await get_page(client, zone, limit, cursor)
        assert page["total_count"] == len(model(portfolio, zone, present))
        walked += [observed(zone, item, engagement_ids) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # New rows, newer than everything walked so far, land before the next page.
        count = walk.arrivals[page_number] if page_number < len(walk.arrivals) else 0
        arriving, pending = pending[:count], pending[count:]
        if arriving:
            await insert_rows(db, arriving, engagement_ids)
            present += arriving
    assert cursor is None, "the walk did not end"
    assert_same_walk(walked, expected)
    arrived = len(model(portfolio, zone, present)) - len(expected)
    event("visible rows arrived mid-walk" if arrived else "no visible row arrived mid-walk")


# Searches: pieces of the words, the fixed words of labels, engagement names, `%` and `_`.
SEARCHES = st.sampled_from(
    (
        "plan",
        "SITE PLAN",
        "roof outline",
        "%",
        "_",
        "a_b",
        "wing",
        "\\",
        "render #1: ",
        "shaping: ",
        " from acme",
        "engagement 1",
        "x",
        "nothing like it",
    )
) | st.text(alphabet="abdeinorstw _%#:", min_size=1, max_size=4)


def searched(portfolio: Portfolio, zone: str, q: str, engagement_ids: int) -> list[Expected]:
    """The model's walk, narrowed to rows whose label or engagement name contains `q`."""
    rows = {row.id: row for row in portfolio.rows}
    names = [f"engagement {n}" for n in range(engagement_ids)]
    return [
        item
        for item in model(portfolio, zone)
        if q.lower() in searched_text(rows[item.id]) or q.lower() in names[item.engagement]
    ]


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(
    portfolio=portfolios(),
    zone_limits=st.fixed_dictionaries({zone: limits for zone in ZONES}),
    q=SEARCHES,
    oldest=st.booleans(),
)
async def test_searched_walks_match_model(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    portfolio: Portfolio,
    zone_limits: dict[str, int],
    q: str,
    oldest: bool,
) -> None:
    """A walk with `q` (and, in needs_you, either order) never skips or repeats a match."""
    engagement_ids = await load(client, db, portfolio)
    for zone, limit in zone_limits.items():
        expected = searched(portfolio, zone, q, len(engagement_ids))
        filters: dict[str, Any] = {"q": q}
        if zone == "needs_you" and oldest:
            filters["order"] = "oldest"
            expected = expected[::-1]
        await walk_matches(client, zone, limit, engagement_ids, expected, **filters)
        event(f"{zone} with q: {describe(expected, limit)}")
