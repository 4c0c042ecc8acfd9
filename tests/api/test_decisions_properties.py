"""Any sequence of decisions and undos by any members leaves every answer, every person's
needs_you, running retries and own decisions, and the history exactly as a plain-Python model
of the decision and undo rules says."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.access import DECIDING_DESIGNATIONS as DECIDERS
from loomworks.platform.settings import Settings
from tests.fixtures.contract import zone_body
from tests.fixtures.data import (
    T0,
    as_,
    empty_tables,
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
    # (decide or undo, person, item, which: of the kind's decisions, or of the item's recorded
    # decisions to undo)
    steps: tuple[tuple[str, int, int, int], ...]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    engagements = draw(st.integers(1, 2))
    people = draw(st.integers(1, 3))
    memberships = tuple(tuple(draw(DESIGNATION) for _ in range(engagements)) for _ in range(people))
    items = tuple(
        draw(st.lists(st.tuples(st.sampled_from(list(KINDS)), st.integers(0, engagements - 1)),
                      min_size=1, max_size=6))
    )  # fmt: skip
    step = st.tuples(
        st.sampled_from(["decide", "decide", "undo"]),
        st.integers(0, people - 1),
        st.integers(0, len(items) - 1),
        st.integers(0, 3),
    )
    return Scenario(memberships, items, tuple(draw(st.lists(step, max_size=14))))


@dataclass
class Recorded:
    person: int
    name: str
    decision_id: str = ""
    undone: bool = False


@dataclass
class Model:
    """The decision rules by hand: who may decide or undo, what waits, what a repeat answers.
    An item's decisions are kept in order; only the last can stand (not undone)."""

    scenario: Scenario
    recorded: dict[int, list[Recorded]] = field(default_factory=dict)

    def designation(self, person: int, item: int) -> str | None:
        return self.scenario.memberships[person][self.scenario.items[item][1]]

    def standing(self, item: int) -> Recorded | None:
        last = self.recorded.get(item, [])[-1:]
        return last[0] if last and not last[0].undone else None

    def refused(self, person: int, item: int) -> int | None:
        designation = self.designation(person, item)
        return 404 if designation is None else 403 if designation == "viewer" else None

    def decide(self, person: int, item: int, name: str) -> tuple[int, Recorded | None]:
        """The status, and the decision newly recorded (to learn its id)."""
        refused = self.refused(person, item)
        if refused:
            return refused, None
        standing = self.standing(item)
        if standing is None:
            new = Recorded(person, name)
            self.recorded.setdefault(item, []).append(new)
            return 200, new
        return (200 if (standing.person, standing.name) == (person, name) else 409), None

    def target(self, item: int, which: int) -> Recorded | None:
        recorded = self.recorded.get(item, [])
        return recorded[which % len(recorded)] if recorded else None

    def undo(self, person: int, item: int, which: int) -> int:
        refused = self.refused(person, item)
        if refused:
            return refused
        target = self.target(item, which)
        if target is None:
            return 404
        if target.person != person:
            return 403
        target.undone = True  # the standing one is undone; one undone already stays so
        return 200

    def needs_you(self, person: int) -> set[int]:
        return {
            item
            for item in range(len(self.scenario.items))
            if self.standing(item) is None and self.designation(person, item) in DECIDERS
        }

    def retries_running(self, person: int) -> int:
        return sum(
            1
            for item in range(len(self.scenario.items))
            if self.designation(person, item) is not None
            and (standing := self.standing(item)) is not None
            and standing.name == "retry"
        )

    def history(self, engagement: int) -> dict[str, bool]:
        return {
            rec.decision_id: rec.undone
            for item, recs in self.recorded.items()
            if self.scenario.items[item][1] == engagement
            for rec in recs
        }

    def mine(self, person: int) -> set[str]:
        return {
            rec.decision_id
            for item, recs in self.recorded.items()
            if self.designation(person, item) is not None
            for rec in recs
            if rec.person == person
        }


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A slow example must not outlive the undo window.
    return Settings(database_url=database_url, db_pool_size=2, undo_seconds=3600)


@hsettings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_any_sequence_of_decisions_and_undos_matches_the_model(
    client: httpx.AsyncClient, db: AsyncConnection, scenario: Scenario
) -> None:
    await empty_tables(db)
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
    for action, person, item, which in scenario.steps:
        kind, engagement = scenario.items[item]
        eid = engagements[engagement]
        if action == "decide":
            collection, names, _ = KINDS[kind]
            url = f"/engagements/{eid}/{collection}/{item_ids[item]}/{names[which % 2]}"
            expected, new = model.decide(person, item, names[which % 2])
        else:
            target = model.target(item, which)
            decision_id = target.decision_id if target else uuid.uuid4()
            url = f"/engagements/{eid}/decisions/{decision_id}/undo"
            expected, new = model.undo(person, item, which), None
        response = await client.post(url, headers=cookies[person])
        assert response.status_code == expected, (action, response.text)
        if new is not None:
            new.decision_id = response.json()["decision_id"]
    await _check(client, model, cookies, engagements, item_ids)


async def _check(
    client: httpx.AsyncClient,
    model: Model,
    cookies: list[dict[str, str]],
    engagements: list[uuid.UUID],
    item_ids: list[uuid.UUID],
) -> None:
    """Every person's needs_you, running retries and own decisions, and every engagement's
    history, are the model's."""
    for person, headers in enumerate(cookies):
        page = zone_body("needs_you", await client.get("/me/dashboard/needs_you", headers=headers))
        seen = {uuid.UUID(i["item_id"]) for i in page["items"]}
        assert seen == {item_ids[i] for i in model.needs_you(person)}
        assert page["total_count"] == len(seen)
        active = zone_body("active", await client.get("/me/dashboard/active", headers=headers))
        assert active["total_count"] == model.retries_running(person)
        mine = (await client.get("/me/decisions", headers=headers)).json()
        assert {i["decision_id"] for i in mine["items"]} == model.mine(person)
    for e, eid in enumerate(engagements):
        members = [h for h, row in zip(cookies, model.scenario.memberships, strict=True) if row[e]]
        if members:
            history = (await client.get(f"/engagements/{eid}/decisions", headers=members[0])).json()
            recorded = {i["decision_id"]: i["undone_at"] is not None for i in history["items"]}
            assert recorded == model.history(e)
