"""Each person's version of each zone (what the zones' ETags are read from) moves with every
change that person can see in that zone, and with nothing they cannot."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.db.tables import (
    dashboard_person_versions,
    engagement_memberships,
    engagements,
    persons,
    render_files,
    renders,
)
from tests.fixtures.data import (
    T0,
    join,
    make_assertion,
    make_engagement,
    make_person,
    make_render,
    make_shaping_job,
)

ZONES = ("active", "needs_you", "recent")


async def _versions(db: AsyncConnection, person_id: uuid.UUID) -> dict[str, int]:
    rows = await db.execute(
        select(dashboard_person_versions.c.zone, dashboard_person_versions.c.version).where(
            dashboard_person_versions.c.person_id == person_id
        )
    )
    found = {zone: version for zone, version in rows}
    return {zone: found.get(zone, 0) for zone in ZONES}


async def test_versions_move_for_whoever_sees_the_change(db: AsyncConnection) -> None:
    operator, viewer, outsider = [await make_person(db) for _ in range(3)]
    eid = await make_engagement(db, member=operator)
    await join(db, viewer, eid, "viewer")
    other = await make_engagement(db, "Elsewhere", member=outsider)
    people = {"operator": operator.id, "viewer": viewer.id, "outsider": outsider.id}

    async def moved(change: Callable[[], Awaitable[object]]) -> dict[str, set[str]]:
        before = {name: await _versions(db, pid) for name, pid in people.items()}
        await change()
        after = {name: await _versions(db, pid) for name, pid in people.items()}
        return {
            name: {zone for zone in ZONES if after[name][zone] != before[name][zone]}
            for name in people
        }

    nothing: set[str] = set()
    assert await moved(lambda: make_shaping_job(db, eid)) == {
        "operator": {"active"},
        "viewer": {"active"},
        "outsider": nothing,
    }
    assert await moved(lambda: make_assertion(db, eid)) == {
        "operator": {"needs_you"},
        "viewer": nothing,  # a viewer has nothing waiting
        "outsider": nothing,
    }
    render = await make_render(db, eid, content_kind="binary_blob", reviewed_at=T0)
    file = insert(render_files).values(
        render_id=render, filename="a.txt", media_type="text/plain", content=b"a", byte_size=1
    )
    assert await moved(lambda: db.execute(file)) == {  # the render now offers a download
        "operator": {"recent"},
        "viewer": {"recent"},
        "outsider": nothing,
    }
    rename = update(engagements).where(engagements.c.id == eid).values(name="Renamed")
    assert (await moved(lambda: db.execute(rename)))["viewer"] == {"active", "recent"}
    promote = (
        update(engagement_memberships)
        .where(engagement_memberships.c.person_id == viewer.id)
        .values(designation="operator")
    )
    assert (await moved(lambda: db.execute(promote)))["viewer"] == set(ZONES)
    assert (await moved(lambda: join(db, outsider, eid, "viewer")))["outsider"] == {
        "active",
        "recent",
    }
    leave = delete(engagement_memberships).where(
        engagement_memberships.c.person_id == outsider.id,
        engagement_memberships.c.engagement_id == eid,
    )
    assert (await moved(lambda: db.execute(leave)))["outsider"] == {"active", "recent"}
    assert await moved(lambda: make_shaping_job(db, other)) == {
        "operator": nothing,
        "viewer": nothing,
        "outsider": {"active"},
    }
    truncated = await moved(lambda: db.execute(text("TRUNCATE render_files, renders")))
    assert truncated["operator"] == truncated["viewer"] == {"recent"}
    assert await moved(lambda: db.execute(delete(renders))) == dict.fromkeys(people, nothing)


async def test_people_and_engagements_can_still_be_deleted(db: AsyncConnection) -> None:
    person = await make_person(db)
    eid = await make_engagement(db, member=person)
    await make_shaping_job(db, eid)
    await db.execute(delete(engagements).where(engagements.c.id == eid))
    assert (await _versions(db, person.id))["active"] != 0
    await make_engagement(db, member=person)
    await db.execute(delete(persons).where(persons.c.id == person.id))
    assert await _versions(db, person.id) == dict.fromkeys(ZONES, 0)
