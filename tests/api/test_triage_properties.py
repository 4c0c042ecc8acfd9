"""Any sequence of snoozes, claims, decisions and undos by several people leaves every answer,
everyone's needs_you, total_count, counts and ETags as a plain-Python model says."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.fixtures.contract import zone_body
from tests.fixtures.data import (
    as_,
    empty_tables,
    join,
    make_engagement,
    make_person,
    make_session,
    make_shape,
)

DESIGNATION = st.sampled_from([None, "owner", "operator", "viewer"])
ACTIONS = ("snooze", "unsnooze", "claim", "unclaim", "decide", "override", "undo")


@dataclass(frozen=True)
class Scenario:
    memberships: tuple[tuple[str | None, ...], ...]  # [person][engagement]
    items: tuple[int, ...]  # each item's engagement
    steps: tuple[tuple[int, int, str], ...]  # (person, item, action)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    engagements = draw(st.integers(1, 2))
    people = draw(st.integers(2, 3))
    memberships = tuple(tuple(draw(DESIGNATION) for _ in range(engagements)) for _ in range(people))
    items = tuple(draw(st.lists(st.integers(0, engagements - 1), min_size=1, max_size=4)))
    step = st.tuples(
        st.integers(0, people - 1), st.integers(0, len(items) - 1), st.sampled_from(ACTIONS)
    )
    return Scenario(memberships, items, tuple(draw(st.lists(step, max_size=10))))


@dataclass
class Model:
    scenario: Scenario
    decided: dict[int, int] = field(default_factory=dict)  # item -> who decided
    snoozed: set[tuple[int, int]] = field(default_factory=set)  # (person, item)
    claims: dict[int, int] = field(default_factory=dict)  # item -> claimer
    # item -> (who made its latest decision, whether that decision is undone)
    latest: dict[int, tuple[int, bool]] = field(default_factory=dict)

    def _designation(self, person: int, item: int) -> str | None:
        return self.scenario.memberships[person][self.scenario.items[item]]

    def answer(self, person: int, item: int, action: str) -> int:
        designation = self._designation(person, item)
        if action == "unsnooze":
            self.snoozed.discard((person, item))
            return 204
        if designation is None:
            return 404
        if designation == "viewer":
            return 403
        if action in ("decide", "override"):
            return self._decide(person, item, override=action == "override")
        if action == "undo":
            return self._undo(person, item)
        holder = self.claims.get(item)
        if action == "unclaim":
            if holder not in (None, person):
                return 409
            self.claims.pop(item, None)
            return 204
        if item in self.decided:
            return 409
        if action == "snooze":
            self.snoozed.add((person, item))
            return 200
        if holder not in (None, person):  # claim
            return 409
        self.claims[item] = person
        return 200

    def _decide(self, person: int, item: int, *, override: bool) -> int:
        if item in self.decided:
            return 200 if self.decided[item] == person else 409
        if self.claims.get(item) not in (None, person) and not override:
            return 409
        self.decided[item] = person
        self.latest[item] = (person, False)
        self.claims.pop(item, None)
        self.snoozed = {(p, i) for p, i in self.snoozed if i != item}
        return 200

    def _undo(self, person: int, item: int) -> int:
        """SPEC section 10: the item waits again, as it was before the decision (the claims
        and snoozes the decision ended stay ended); only the decider; again: 200, no change."""
        if item not in self.latest:
            return 404  # no decision of it yet: the undo names an unknown one
        decider, undone = self.latest[item]
        if decider != person:
            return 403
        if not undone:
            del self.decided[item]
            self.latest[item] = (decider, True)
        return 200

    def needs_you(self, person: int) -> dict[int, int | None]:
        """What the person's needs_you shows: item -> claimer."""
        return {
            item: self.claims.get(item)
            for item in range(len(self.scenario.items))
            if item not in self.decided
            and (person, item) not in self.snoozed
            and self._designation(person, item) in ("owner", "operator")
        }


def _request(
    action: str, eid: uuid.UUID, item_id: uuid.UUID, decision_id: str
) -> tuple[str, str, dict[str, object]]:
    item_url = f"/engagements/{eid}/shapes/{item_id}"
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return {
        "snooze": ("PUT", f"/me/snoozes/pending_shape/{item_id}", {"until": until}),
        "unsnooze": ("DELETE", f"/me/snoozes/pending_shape/{item_id}", {}),
        "claim": ("POST", f"{item_url}/claim", {}),
        "unclaim": ("DELETE", f"{item_url}/claim", {}),
        "decide": ("POST", f"{item_url}/confirm", {}),
        "override": ("POST", f"{item_url}/confirm", {"override_claim": True}),
        "undo": ("POST", f"/engagements/{eid}/decisions/{decision_id}/undo", {}),
    }[action]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_any_triage_sequence_matches_the_model(
    client: httpx.AsyncClient, db: AsyncConnection, scenario: Scenario
) -> None:
    await empty_tables(db)
    engagements = [await make_engagement(db, f"E{n}") for n in range(len(scenario.memberships[0]))]
    people, cookies = [], []
    for designations in scenario.memberships:
        person = await make_person(db, name=f"P{len(people)}")
        for eid, designation in zip(engagements, designations, strict=True):
            if designation is not None:
                await join(db, person, eid, designation)
        people.append(person.id)
        cookies.append(as_(await make_session(db, person)))
    item_ids = [await make_shape(db, engagements[e]) for e in scenario.items]
    model = Model(scenario)
    # (person, ETag) -> the body sent with it: a person never gets two bodies under one ETag
    bodies: dict[tuple[int, str], bytes] = {}
    decision_ids: dict[int, str] = {}  # item -> its latest decision's id, as answered
    for person, item, action in (*scenario.steps, (0, 0, "unsnooze")):
        eid, decision_id = (
            engagements[scenario.items[item]],
            decision_ids.get(item, str(uuid.uuid4())),
        )
        method, url, body = _request(action, eid, item_ids[item], decision_id)
        response = await client.request(method, url, headers=cookies[person], json=body or None)
        assert response.status_code == model.answer(person, item, action), response.text
        if action in ("decide", "override") and response.status_code == 200:
            decision_ids[item] = response.json()["decision_id"]
        for who, headers in enumerate(cookies):
            page = await client.get("/me/dashboard/needs_you", headers=headers)
            items = zone_body("needs_you", page)
            assert bodies.setdefault((who, page.headers["etag"]), page.content) == page.content
            shown = {
                uuid.UUID(i["item_id"]): i["claimed_by"] and uuid.UUID(i["claimed_by"]["id"])
                for i in items["items"]
            }
            expected = model.needs_you(who)
            assert shown == {
                item_ids[i]: None if c is None else people[c] for i, c in expected.items()
            }
            assert items["total_count"] == len(expected)
            counts = (await client.get("/me/dashboard/counts", headers=headers)).json()
            assert counts["zones"]["needs_you"]["total"] == len(expected)
