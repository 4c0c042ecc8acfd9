"""Any sequence of decisions by any members leaves every answer, every person's needs_you and
the history exactly as a plain-Python model of the decision rules says."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import DATA_TABLES
from tests.fixtures.contract import zone_body
from tests.fixtures.data import (
    T0,
    as_,
    join,
    make_assertion,
    make_engagement,
    make_external,
    make_person,
    make_render,
    make_session,
    make_shape,
)


async def _failed_external(db: AsyncConnection, eid: uuid.UUID) -> uuid.UUID:
    return await make_external(db, eid, status="failed", completed_at=T0)


# kind: (collection, its decisions, how to make a waiting item)
KINDS: dict[str, tuple[str, tuple[str, str], Callable[..., Awaitable[uuid.UUID]]]] = {
    "pending_shape": ("shapes", ("confirm", "reject"), make_shape),
    "held_assertion": ("assertions", ("commit", "withdraw"), make_assertion),
    "produced_render_for_review": ("renders", ("accept", "request-changes"), make_render),
    "external_failure": ("external-productions", ("retry", "dismiss"), _failed_external),
}
DESIGNATION = st.sampled_from([None, "owner", "operator", "viewer"])


@dataclass(frozen=True)
class Scenario:
    memberships: tuple[tuple[str | None, ...], ...]  # [person][engagement]
    items: tuple[tuple[str, int], ...]  # (kind, engagement)
    steps: tuple[tuple[int, int, int], ...]  # (person, item, which of the kind's decisions)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    engagements = draw(st.integers(1, 2))
    people = draw(st.integers(1, 3))
    memberships = tuple(tuple(draw(DESIGNATION) for _ in range(engagements)) for _ in range(people))
    items = tuple(
        draw(st.lists(st.tuples(st.sampled_from(list(KINDS)), st.integers(0, engagements - 1)),
                      min_size=1, max_size=6))
    )  # fmt: skip
    step = st.tuples(st.integers(0, people - 1), st.integers(0, len(items) - 1), st.integers(0, 1))
    return Scenario(memberships, items, tuple(draw(st.lists(step, max_size=12))))


@dataclass
class Model:
    """The decision rules by hand: who may decide, what waits, what a repeat answers."""

    scenario: Scenario
    decided: dict[int, tuple[int, str]] = field(default_factory=dict)  # item -> (person, name)

    def answer(self, person: int, item: int, name: str) -> int:
        _, engagement = self.scenario.items[item]
        designation = self.scenario.memberships[person][engagement]
        if designation is None:
            return 404
        if designation == "viewer":
            return 403
        if item not in self.decided:
            self.decided[item] = (person, name)
            return 200
        return 200 if self.decided[item] == (person, name) else 409

    def needs_you(self, person: int) -> set[int]:
        return {
            item
            for item, (_, engagement) in enumerate(self.scenario.items)
            if item not in self.decided
            and self.scenario.memberships[person][engagement] in ("owner", "operator")
        }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_any_sequence_of_decisions_matches_the_model(
    client: httpx.AsyncClient, db: AsyncConnection, scenario: Scenario
) -> None:
    await db.execute(text(f"TRUNCATE {', '.join(t.name for t in DATA_TABLES)} CASCADE"))
    engagement_count = len(scenario.memberships[0])
    engagements = [await make_engagement(db, f"E{n}") for n in range(engagement_count)]
    cookies = []
    for designations in scenario.memberships:
        person = await make_person(db)
        for eid, designation in zip(engagements, designations, strict=True):
            if designation is not None:
                await join(db, person, eid, designation)
        cookies.append(as_(await make_session(db, person)))
    item_ids = [await KINDS[kind][2](db, engagements[e]) for kind, e in scenario.items]

    model = Model(scenario)
    for person, item, which in scenario.steps:
        kind, engagement = scenario.items[item]
        collection, names, _ = KINDS[kind]
        url = f"/engagements/{engagements[engagement]}/{collection}/{item_ids[item]}/{names[which]}"
        response = await client.post(url, headers=cookies[person])
        assert response.status_code == model.answer(person, item, names[which]), response.text

    for person, headers in enumerate(cookies):
        page = zone_body("needs_you", await client.get("/me/dashboard/needs_you", headers=headers))
        seen = {uuid.UUID(i["item_id"]) for i in page["items"]}
        assert seen == {item_ids[i] for i in model.needs_you(person)}
        assert page["total_count"] == len(seen)
    # Each engagement's history, read by any of its members, holds exactly the decisions made.
    recorded: dict[str, str] = {}
    for e, eid in enumerate(engagements):
        members = [h for h, row in zip(cookies, scenario.memberships, strict=True) if row[e]]
        if members:
            history = (await client.get(f"/engagements/{eid}/decisions", headers=members[0])).json()
            recorded |= {item["item_id"]: item["decision"] for item in history["items"]}
    assert recorded == {str(item_ids[i]): name for i, (_, name) in model.decided.items()}
