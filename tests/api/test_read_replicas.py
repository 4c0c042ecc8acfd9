"""Read replicas against a real streaming standby of the test primary (tests/fixtures/replica.py):
reads go to the replica, a person's own decision is never read back stale, and a replica that
is down, stopped mid-traffic or lagging is skipped without a single error."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import NamedTuple

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.routing import BaseRoute

from loomworks.api.deps.connections import get_conn
from loomworks.api.deps.reads import get_dashboard_caller, get_read_conn
from loomworks.app import API_NAME, create_app
from loomworks.db.replicas import CURRENT_LSN, REPLAYED_LSN, ReadRouter, Replica
from loomworks.db.tables import engagement_memberships, persons
from loomworks.live.hub import EventHub, Subscriber, ZoneChanged
from loomworks.platform.engine import create_engine
from loomworks.platform.settings import Settings
from tests.fixtures.data import (
    T0,
    as_,
    join,
    make_engagement,
    make_person,
    make_render,
    make_session,
    make_shape,
    make_shaping_job,
)
from tests.fixtures.standby import Standby

PROBE_SECONDS = 0.1
# A read replica that never answers.
NOWHERE = "postgresql://postgres@/postgres?host=/nonexistent-loomworks-socket&port=5999"


async def eventually(check: Callable[[], bool], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def standby_engine(standby: Standby) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(standby.url, pool_size=2)
    yield engine
    await engine.dispose()


async def on(engine: AsyncEngine, statement: str) -> object:
    async with engine.connect() as conn:
        value = (await conn.execute(text(statement))).scalar()
        await conn.commit()
    return value


async def caught_up(db: AsyncConnection, standby_engine: AsyncEngine) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    target = (await db.execute(select(CURRENT_LSN))).scalar_one()
    deadline = time.monotonic() + 10
    while True:
        async with standby_engine.connect() as conn:
            replayed = (await conn.execute(select(REPLAYED_LSN))).scalar()
        if replayed is not None and replayed >= target:
            return
        assert time.monotonic() < deadline, "standby did not catch up"
        await asyncio.sleep(0.05)


async def on_replica(
    service: Replicated, db: AsyncConnection, standby_engine: AsyncEngine, portfolio: Portfolio
) -> None:
    """Wait until the portfolio's people may read from the replica (their fences, which a
    membership change sets, are resolved and replayed: about two probes), then until the
    standby has replayed everything the primary has written so far."""
    people = (portfolio.operator_id, portfolio.colleague_id)
    fences = select(persons.c.written_lsn).where(persons.c.id.in_(people))
    deadline = time.monotonic() + 10
    while any(
        fence is not None and fence > service.reads.replicas[0].replayed
        for fence in (await db.execute(fences)).scalars()
    ):
        assert time.monotonic() < deadline, "fences not resolved in time"
        await asyncio.sleep(0.05)
    await caught_up(db, standby_engine)


def replica_settings(database_url: str, read_urls: str, **overrides: float) -> Settings:
    return Settings(
        database_url=database_url,
        read_database_urls=read_urls,
        replica_probe_seconds=PROBE_SECONDS,
        db_pool_size=4,
        **overrides,  # type: ignore[arg-type]
    )


class Replicated:
    """The app with the standby as its read replica, and a client for it."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def reads(self) -> ReadRouter:
        reads: ReadRouter = self.app.state.reads
        return reads

    async def in_use(self) -> None:
        """Wait until a probe has found the replica current (and healthy)."""
        await eventually(lambda: self.reads.replicas[0].healthy)


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Replicated]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Replicated(app, client)


@pytest.fixture
async def replicated(database_url: str, standby: Standby) -> AsyncIterator[Replicated]:
    async with started(replica_settings(database_url, standby.url)) as service:
        await service.in_use()
        yield service


async def test_a_replica_that_never_answers_costs_nothing(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    """A read URL that leads nowhere: every read is answered from the primary, 200."""
    person = await make_person(db)
    token = await make_session(db, person)
    engagement_id = await make_engagement(db, member=person)
    await make_shape(db, engagement_id)
    async with started(replica_settings(database_url, NOWHERE)) as service:
        for _ in range(3):
            response = await service.client.get("/me/dashboard/needs_you", headers=as_(token))
            assert response.status_code == 200
            assert response.json()["total_count"] == 1
        assert not service.reads.replicas[0].healthy


# needs_you's statement, as pg_stat_activity shows it (its first 1 kB: the opening CTE).
ACTIVE_ZONE_STATEMENTS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :api"
    " AND state = 'active' AND query LIKE 'WITH pending_shape_hits AS%'"
).bindparams(api=API_NAME)


async def zones_run_on_the_standby(
    client: httpx.AsyncClient, token: str, standby: AsyncEngine, primary: AsyncEngine
) -> None:
    """Read zones from three clients at once while sampling each database's
    pg_stat_activity for the service's zone statements running there (until the standby has
    been seen running 5, or 5 s): seen on the standby, never on the primary."""
    engines = (standby, primary)
    seen = [0, 0]
    deadline = time.monotonic() + 5

    def running() -> bool:
        return seen[0] < 5 and time.monotonic() < deadline

    async def traffic() -> None:
        while running():
            response = await client.get("/me/dashboard/needs_you", headers=as_(token))
            assert response.status_code == 200

    async def sample(n: int) -> None:
        async with engines[n].connect() as conn:
            while running():
                seen[n] += (await conn.execute(ACTIVE_ZONE_STATEMENTS)).scalar_one()
                await conn.commit()  # the next sample reads pg_stat_activity afresh

    await asyncio.gather(*(traffic() for _ in range(3)), sample(0), sample(1))
    assert seen[0] >= 5
    assert seen[1] == 0


def routed(target: str) -> float:
    """Reads sent to `target` so far, by the metrics' count."""
    return REGISTRY.get_sample_value("loomworks_read_routes_total", {"target": target}) or 0.0


class Portfolio(NamedTuple):
    engagement: uuid.UUID
    first: uuid.UUID
    second: uuid.UUID
    job: uuid.UUID
    render: uuid.UUID
    operator_id: uuid.UUID
    colleague_id: uuid.UUID
    operator: str  # session tokens
    colleague: str


@pytest.fixture
async def portfolio(db: AsyncConnection) -> Portfolio:
    """An operator and a colleague in one engagement: two shapes waiting, a running job and a
    produced render with a file of two download chunks."""
    operator = await make_person(db, name="Olive Operator")
    colleague = await make_person(db, name="Casey Colleague")
    engagement_id = await make_engagement(db, member=operator)
    await join(db, colleague, engagement_id, "operator")
    return Portfolio(
        engagement=engagement_id,
        first=await make_shape(db, engagement_id, title="First"),
        second=await make_shape(db, engagement_id, title="Second"),
        job=await make_shaping_job(db, engagement_id),
        render=await make_render(
            db,
            engagement_id,
            content_kind="binary_blob",
            files=[("site.bin", "application/octet-stream", FILE)],
            reviewed_at=T0,  # in recent, not waiting in needs_you
        ),
        operator_id=operator.id,
        colleague_id=colleague.id,
        operator=await make_session(db, operator),
        colleague=await make_session(db, colleague),
    )


FILE = bytes(range(256)) * 400  # 100 KiB: two chunks


def read_paths(p: Portfolio) -> list[str]:
    e = f"/engagements/{p.engagement}"
    return [
        "/me/dashboard/active",
        "/me/dashboard/needs_you",
        "/me/dashboard/recent",
        "/me/dashboard/counts",
        f"{e}/dashboard/needs_you",
        f"{e}/shapes/{p.first}",
        f"{e}/decisions",
        f"{e}/jobs/{p.job}",
        f"{e}/activity-summary",
        f"{e}/renders/{p.render}/content",
    ]


async def test_reads_are_answered_by_the_replica(
    replicated: Replicated,
    portfolio: Portfolio,
    db: AsyncConnection,
    engine: AsyncEngine,
    standby_engine: AsyncEngine,
) -> None:
    await on_replica(replicated, db, standby_engine, portfolio)
    before = routed("replica")
    for path in read_paths(portfolio):
        response = await replicated.client.get(path, headers=as_(portfolio.operator))
        assert response.status_code == 200, (path, response.text)
    assert routed("replica") - before == len(read_paths(portfolio))
    staleness = REGISTRY.get_sample_value(
        "loomworks_replica_staleness_seconds", {"replica": "replica 1"}
    )
    assert staleness is not None and 0 <= staleness < 1
    download = await replicated.client.get(
        read_paths(portfolio)[-1], headers=as_(portfolio.operator)
    )
    assert download.content == FILE
    needs_you = await replicated.client.get(
        "/me/dashboard/needs_you", headers=as_(portfolio.operator)
    )
    assert needs_you.json()["total_count"] == 2
    await zones_run_on_the_standby(replicated.client, portfolio.operator, standby_engine, engine)


async def test_my_decision_never_comes_back_while_the_replica_is_behind(
    replicated: Replicated,
    portfolio: Portfolio,
    db: AsyncConnection,
    standby_engine: AsyncEngine,
) -> None:
    await on_replica(replicated, db, standby_engine, portfolio)
    await replicated.in_use()
    await on(standby_engine, "SELECT pg_wal_replay_pause()")
    path = f"/engagements/{portfolio.engagement}/shapes/{portfolio.first}/confirm"
    decided = await replicated.client.post(path, headers=as_(portfolio.operator))
    assert decided.status_code == 200

    # Over several probes of the paused (still healthy: under 5 s behind) replica, the
    # decider never sees the item again, in the zone, the counts or its detail...
    for _ in range(8):
        mine = await replicated.client.get(
            "/me/dashboard/needs_you", headers=as_(portfolio.operator)
        )
        assert [item["item_id"] for item in mine.json()["items"]] == [str(portfolio.second)]
        counts = await replicated.client.get(
            "/me/dashboard/counts", headers=as_(portfolio.operator)
        )
        assert counts.json()["zones"]["needs_you"]["total"] == 1
        detail = await replicated.client.get(
            f"/engagements/{portfolio.engagement}/shapes/{portfolio.first}",
            headers=as_(portfolio.operator),
        )
        assert detail.json()["waiting"] is False
        await asyncio.sleep(PROBE_SECONDS)
    # ...while the colleague, who wrote nothing, is still served by the replica, which has
    # not replayed the decision: that is the bounded staleness others' writes may have.
    assert replicated.reads.replicas[0].healthy
    theirs = await replicated.client.get(
        "/me/dashboard/needs_you", headers=as_(portfolio.colleague)
    )
    assert theirs.json()["total_count"] == 2

    # A session made after the pause is found (sessions are checked on the primary).
    newcomer = await make_person(db)
    await join(db, newcomer, portfolio.engagement, "viewer")
    fresh = await make_session(db, newcomer)
    assert (
        await replicated.client.get("/me/dashboard/recent", headers=as_(fresh))
    ).status_code == 200

    # Once the replica replays the decision, the decider's reads go back to it.
    await on(standby_engine, "SELECT pg_wal_replay_resume()")
    written = (
        await db.execute(select(persons.c.written_lsn).where(persons.c.id == portfolio.operator_id))
    ).scalar_one()
    await eventually(lambda: replicated.reads.replicas[0].replayed >= written)
    assert replicated.reads.choose(portfolio.operator_id, written) is not None
    theirs = await replicated.client.get(
        "/me/dashboard/needs_you", headers=as_(portfolio.colleague)
    )
    assert theirs.json()["total_count"] == 1


async def test_a_replica_stopped_mid_traffic_costs_no_error(
    replicated: Replicated,
    portfolio: Portfolio,
    db: AsyncConnection,
    engine: AsyncEngine,
    standby: Standby,
    standby_engine: AsyncEngine,
) -> None:
    await on_replica(replicated, db, standby_engine, portfolio)
    statuses: Counter[int] = Counter()
    stop_at = time.monotonic() + 3.0

    async def reader(offset: int) -> None:
        paths = read_paths(portfolio)
        n = offset
        while time.monotonic() < stop_at:
            response = await replicated.client.get(
                paths[n % len(paths)], headers=as_(portfolio.operator)
            )
            statuses[response.status_code] += 1
            n += 1

    readers = [asyncio.ensure_future(reader(n)) for n in range(6)]
    await asyncio.sleep(0.8)
    await asyncio.to_thread(standby.stop)
    await asyncio.gather(*readers)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 50
    assert not replicated.reads.replicas[0].healthy

    # Back by itself once the standby is.
    await asyncio.to_thread(standby.start)
    await replicated.in_use()
    await standby_engine.dispose()  # the test's own connections died with the standby
    await zones_run_on_the_standby(replicated.client, portfolio.operator, standby_engine, engine)


async def test_a_lagging_replica_is_skipped_until_it_catches_up(
    database_url: str,
    standby: Standby,
    portfolio: Portfolio,
    db: AsyncConnection,
    standby_engine: AsyncEngine,
) -> None:
    settings = replica_settings(database_url, standby.url, max_replica_lag_seconds=0.5)
    async with started(settings) as service:
        await on_replica(service, db, standby_engine, portfolio)
        await service.in_use()
        await on(standby_engine, "SELECT pg_wal_replay_pause()")
        # The primary moves on: the paused replica falls more than 0.5 s behind.
        added = 0
        while service.reads.replicas[0].healthy:
            await make_shape(db, portfolio.engagement, title=f"Late {added}")
            added += 1
            await asyncio.sleep(0.1)
        # Skipped: the colleague (no write of their own) now reads the primary's state.
        theirs = await service.client.get(
            "/me/dashboard/needs_you", headers=as_(portfolio.colleague)
        )
        assert theirs.status_code == 200
        assert theirs.json()["total_count"] == 2 + added
        await on(standby_engine, "SELECT pg_wal_replay_resume()")
        await service.in_use()


async def next_change(subscriber: Subscriber) -> ZoneChanged:
    while True:
        message = await subscriber.queue.get()
        if isinstance(message, ZoneChanged):
            return message


async def test_an_event_is_sent_once_a_reread_would_show_the_change(
    database_url: str,
    standby: Standby,
    portfolio: Portfolio,
    db: AsyncConnection,
    standby_engine: AsyncEngine,
) -> None:
    """A client re-reads a zone when told it changed: by then, whichever database the read
    goes to must show the change."""
    settings = replica_settings(database_url, standby.url, max_replica_lag_seconds=1.0)
    async with started(settings) as service:
        await on_replica(service, db, standby_engine, portfolio)
        await service.in_use()
        hub: EventHub = service.app.state.events
        await eventually(hub.listening.is_set)
        subscriber = await hub.subscribe(
            person_id=portfolio.operator_id, token_hash="test", after=None
        )

        async def reread() -> int:
            response = await service.client.get(
                "/me/dashboard/needs_you", headers=as_(portfolio.operator)
            )
            total: int = response.json()["total_count"]
            return total

        # Replaying: the event comes at once, and the replica already shows the change.
        await make_shape(db, portfolio.engagement, title="Third")
        await asyncio.wait_for(next_change(subscriber), 5)
        assert service.reads.replicas[0].healthy
        assert await reread() == 3

        # Paused: the event waits until the replica is skipped; the re-read is the primary's.
        await on(standby_engine, "SELECT pg_wal_replay_pause()")
        written_at = time.monotonic()
        await make_shape(db, portfolio.engagement, title="Fourth")
        await asyncio.wait_for(next_change(subscriber), 10)
        # Held (sent at once it would take milliseconds): until the replica fell a second
        # behind, counted from the last probe before the write, a probe or so earlier.
        assert time.monotonic() - written_at > 0.5
        assert not service.reads.replicas[0].healthy
        assert await reread() == 4
        hub.unsubscribe(subscriber)


def test_a_read_url_that_is_not_postgresql_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="not a PostgreSQL URL"):
        Settings(read_database_urls="postgresql://db/app, mysql://replica/app")


# GET routes that read only the primary, and why; every other GET reads through ReadConn.
PRIMARY_ONLY_READS = {
    "/me": "the session check, which is on the primary",
    "/me/memberships": "what the caller may see: memberships are read where sessions are",
    "/me/tokens": "credentials, read where they are checked: a new token is listed at once",
    "/me/sessions": "sessions, read where they are checked: an ended one is gone at once",
    "/me/webhooks": "a person's own settings: a new webhook is listed at once",
    "/me/snoozes": "a person's own triage: a snooze set is listed at once",
    "/me/webhooks/{webhook_id}/deliveries": "attempts the sender records on the primary",
}


def dependency_calls(dependant: Dependant) -> set[object]:
    calls = {dependant.call}
    for sub in dependant.dependencies:
        calls |= dependency_calls(sub)
    return calls


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also those of included routers (FastAPI keeps them apart)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def test_every_read_route_reads_where_a_replica_may_serve_it(settings: Settings) -> None:
    app = create_app(settings)
    checked = 0
    for route in api_routes(app.routes):
        calls = dependency_calls(route.dependant)
        # The dashboard's reads take their connection from get_dashboard_caller, which reads
        # where ReadConn would once replicas are configured.
        if "GET" not in route.methods or not {get_conn, get_dashboard_caller} & set(calls):
            continue
        checked += 1
        if route.path not in PRIMARY_ONLY_READS:
            assert {get_read_conn, get_dashboard_caller} & set(calls), (
                f"{route.path} reads the primary only; use ReadConn"
            )
    assert checked >= 12  # the zones, counts, details, history, downloads, /me...


async def test_each_person_keeps_to_one_replica_and_a_leaving_one_moves_only_its_readers() -> None:
    engines = [create_engine(f"postgresql://x@/db{n}?host=/nowhere") for n in range(4)]
    replicas = [
        Replica(f"replica {n}", engine, replayed=100, healthy=True)
        for n, engine in enumerate(engines[1:], 1)
    ]
    router = ReadRouter(engines[0], replicas, max_lag=5, probe_every=1, probe_timeout=1)
    people = [uuid.uuid4() for _ in range(300)]
    first = {person: router.choose(person, None) for person in people}
    assert {replica.name for replica in first.values() if replica} == {
        "replica 1",
        "replica 2",
        "replica 3",
    }
    assert all(router.choose(person, 100) is first[person] for person in people)

    replicas[1].healthy = False  # replica 2 leaves: only its readers move
    for person in people:
        now = router.choose(person, None)
        assert now is not replicas[1]
        if first[person] is not replicas[1]:
            assert now is first[person]
    # A person whose last write no replica has replayed reads the primary.
    assert router.choose(people[0], 101) is None
    for engine in engines:
        await engine.dispose()


async def test_a_removed_member_never_reads_a_replica_that_still_lists_them(
    replicated: Replicated,
    portfolio: Portfolio,
    db: AsyncConnection,
    standby_engine: AsyncEngine,
) -> None:
    await on_replica(replicated, db, standby_engine, portfolio)
    colleague = as_(portfolio.colleague)
    before = await replicated.client.get("/me/dashboard/needs_you", headers=colleague)
    assert before.json()["total_count"] == 2
    await on(standby_engine, "SELECT pg_wal_replay_pause()")
    await db.execute(
        engagement_memberships.delete().where(
            engagement_memberships.c.engagement_id == portfolio.engagement,
            engagement_memberships.c.person_id != portfolio.operator_id,
        )
    )
    # The replica still lists the membership and stays in use (under 5 s behind), yet over
    # several probes the removed member sees nothing of the engagement.
    for _ in range(8):
        assert replicated.reads.replicas[0].healthy
        zone = await replicated.client.get("/me/dashboard/needs_you", headers=colleague)
        assert zone.json()["total_count"] == 0
        detail = await replicated.client.get(
            f"/engagements/{portfolio.engagement}/shapes/{portfolio.first}", headers=colleague
        )
        assert detail.status_code == 404
        await asyncio.sleep(PROBE_SECONDS)
    # The operator, whose memberships did not change, still reads the (stale) replica.
    mine = await replicated.client.get("/me/dashboard/needs_you", headers=as_(portfolio.operator))
    assert mine.json()["total_count"] == 2
    assert routed("replica") > 0


async def test_only_the_winning_decision_fences_its_decider(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    """Eight operators decide one shape at once with a replica configured: one 200 and seven
    409s, and only the winner's reads are fenced, past where the WAL was before the race."""
    engagement_id = await make_engagement(db)
    operators = [await make_person(db, name=f"Operator {n}") for n in range(8)]
    for operator in operators:
        await join(db, operator, engagement_id, "operator")
    tokens = [await make_session(db, operator) for operator in operators]
    shape = await make_shape(db, engagement_id)
    await db.execute(update(persons).values(written_lsn=None))  # the joins' own fences
    before = (await db.execute(select(CURRENT_LSN))).scalar_one()
    path = f"/engagements/{engagement_id}/shapes/{shape}/confirm"
    settings = replica_settings(database_url, NOWHERE).model_copy(update={"db_pool_size": 8})
    async with started(settings) as service:
        answers = await asyncio.gather(
            *(service.client.post(path, headers=as_(token)) for token in tokens)
        )
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 409: 7}
    winner = operators[[answer.status_code for answer in answers].index(200)]
    rows = await db.execute(select(persons.c.id, persons.c.written_lsn))
    fences = {row.id: row.written_lsn for row in rows}
    assert fences.pop(winner.id) >= before
    assert set(fences.values()) == {None}
