"""GET /me/dashboard/events over real HTTP (uvicorn on a loopback port) against real
PostgreSQL writes made on other connections."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.people import Person
from loomworks.db.tables import shapes
from loomworks.live.hub import LISTENER_NAME
from loomworks.platform.security import token_hash
from loomworks.platform.settings import Settings
from tests.fixtures.data import (
    join,
    make_engagement,
    make_person,
    make_render,
    make_session,
    make_shape,
    make_shaping_job,
)
from tests.fixtures.live import Event, LiveServer, live_events_server, live_server, open_stream

HEARTBEAT = 0.5


@pytest.fixture
async def live(database_url: str, engine: AsyncEngine) -> AsyncIterator[LiveServer]:
    async with live_events_server(database_url, heartbeat=HEARTBEAT) as server:
        yield server


async def signed_in(db: AsyncConnection, **lifetime: float) -> tuple[Person, str]:
    person = await make_person(db)
    token = await make_session(
        db, person, timedelta(**lifetime) if lifetime else timedelta(hours=1)
    )
    return person, token


def changed(event: Event | None) -> tuple[str, uuid.UUID]:
    assert event is not None, "the stream ended"
    assert event.event == "zone_changed"
    assert event.id is not None and event.id.isdigit()
    body = event.json
    assert set(body) == {"zone", "engagement_id"}
    return body["zone"], uuid.UUID(body["engagement_id"])


async def test_unauthenticated_401(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    response = await client.get("/me/dashboard/events")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    person = await make_person(db)
    expired = await make_session(db, person, timedelta(seconds=-1))
    response = await client.get(
        "/me/dashboard/events", headers={"cookie": f"loomworks_session={expired}"}
    )
    assert response.status_code == 401
    assert response.json()["detail"]


async def test_openapi_documents_the_stream(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/me/dashboard/events"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    for status in ("401", "503"):
        content = operation["responses"][status]["content"]
        assert list(content) == ["application/json"]
        assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


async def test_write_elsewhere_arrives_within_a_second(
    live: LiveServer, db: AsyncConnection
) -> None:
    me, token = await signed_in(db)
    harbour = await make_engagement(db, "Harbour")
    await join(db, me, harbour, "operator")
    async with open_stream(live, token) as stream:
        committed = time.monotonic()
        await make_shape(db, harbour)
        event = await stream.next()
        assert time.monotonic() - committed < 1.0
        assert changed(event) == ("needs_you", harbour)
        assert event is not None and event.id is not None
        version = (
            await db.execute(
                text("SELECT version FROM dashboard_counts WHERE item_kind = 'pending_shape'")
            )
        ).scalar_one()
        assert int(event.id) == version


async def test_only_my_engagements_and_needs_you_only_where_i_decide(
    live: LiveServer, db: AsyncConnection
) -> None:
    me, token = await signed_in(db)
    mine = await make_engagement(db, "Mine")
    await join(db, me, mine, "owner")
    watched = await make_engagement(db, "Watched")
    await join(db, me, watched, "viewer")
    foreign = await make_engagement(db, "Foreign")
    async with open_stream(live, token) as stream:
        await make_shaping_job(db, foreign)
        await make_shape(db, foreign)
        await make_shape(db, watched)  # needs_you of an engagement I only view
        await make_shaping_job(db, watched)  # its active zone I do see
        assert changed(await stream.next()) == ("active", watched)
        # A produced render waits for review (needs_you) and is finished (recent): one
        # statement, two zones; the viewer sees only the second.
        await make_render(db, watched)
        assert changed(await stream.next()) == ("recent", watched)
        await make_render(db, mine)
        got = {changed(await stream.next()), changed(await stream.next())}
        assert got == {("needs_you", mine), ("recent", mine)}
        await stream.nothing_within(0.3)


async def test_several_kinds_of_one_zone_in_one_commit_are_one_event(
    live: LiveServer, db: AsyncConnection, engine: AsyncEngine
) -> None:
    me, token = await signed_in(db)
    harbour = await make_engagement(db, "Harbour")
    await join(db, me, harbour, "operator")
    async with open_stream(live, token) as stream:
        async with engine.begin() as conn:  # a shaping and a render job: two active kinds
            await make_shaping_job(conn, harbour)
            await conn.execute(
                text(
                    "INSERT INTO render_jobs (engagement_id, render_type, status, started_at) "
                    "VALUES (:e, 'summary_report', 'queued', now())"
                ),
                {"e": harbour},
            )
        first = await stream.next()
        assert changed(first) == ("active", harbour)
        newest = (
            await db.execute(
                text("SELECT max(version) FROM dashboard_counts WHERE engagement_id = :e"),
                {"e": harbour},
            )
        ).scalar_one()
        assert first is not None and first.id == str(newest)
        await make_shape(db, harbour)
        assert changed(await stream.next()) == ("needs_you", harbour)


async def test_last_event_id_resumes_with_exactly_what_changed(
    live: LiveServer, db: AsyncConnection
) -> None:
    me, token = await signed_in(db)
    harbour = await make_engagement(db, "Harbour")
    await join(db, me, harbour, "operator")
    bridge = await make_engagement(db, "Bridge")
    await join(db, me, bridge, "viewer")
    foreign = await make_engagement(db, "Foreign")
    await make_shaping_job(db, bridge)  # before the last event seen: not resent
    async with open_stream(live, token) as stream:
        await make_shape(db, harbour)
        last = await stream.next()
        assert changed(last) == ("needs_you", harbour)
    assert last is not None and last.id is not None
    # While disconnected:
    await make_shaping_job(db, harbour)
    await make_render(db, bridge)  # recent, and needs_you which a viewer never gets
    await make_shaping_job(db, foreign)
    async with open_stream(live, token, last_event_id=last.id) as stream:
        resumed = [changed(await stream.next()), changed(await stream.next())]
        assert sorted(resumed, key=str) == sorted(
            [("active", harbour), ("recent", bridge)], key=str
        )
        await make_shape(db, harbour)  # then live events
        assert changed(await stream.next()) == ("needs_you", harbour)
    # A malformed id resumes nothing (and does not fail the reconnect).
    async with open_stream(live, token, last_event_id="yesterday") as stream:
        await stream.nothing_within(0.3)


async def test_heartbeat(live: LiveServer, db: AsyncConnection) -> None:
    _, token = await signed_in(db)
    async with open_stream(live, token) as stream:
        assert await stream.next_comment(within=HEARTBEAT * 4) == "keep-alive"


async def test_logout_ends_the_stream(live: LiveServer, db: AsyncConnection) -> None:
    _, token = await signed_in(db)
    async with open_stream(live, token) as stream:
        async with httpx.AsyncClient(base_url=live.url) as other:
            response = await other.post(
                "/auth/logout", headers={"cookie": f"loomworks_session={token}"}
            )
            assert response.status_code == 204
        assert await stream.next(within=HEARTBEAT * 6) is None
        assert any("signed out" in comment for comment in stream.comments)
    async with httpx.AsyncClient(base_url=live.url) as other:
        again = await other.get(
            "/me/dashboard/events", headers={"cookie": f"loomworks_session={token}"}
        )
        assert again.status_code == 401


async def test_expiry_ends_the_stream(live: LiveServer, db: AsyncConnection) -> None:
    _, token = await signed_in(db, seconds=1)
    async with open_stream(live, token) as stream:
        assert await stream.next(within=1 + HEARTBEAT * 6) is None


async def test_joining_an_engagement_announces_its_zones(
    live: LiveServer, db: AsyncConnection
) -> None:
    me, token = await signed_in(db)
    harbour = await make_engagement(db, "Harbour")
    async with open_stream(live, token) as stream:
        await make_shape(db, harbour)  # not a member yet
        await join(db, me, harbour, "viewer")
        announced = {changed(await stream.next()), changed(await stream.next())}
        assert announced == {("active", harbour), ("recent", harbour)}
        await make_shaping_job(db, harbour)
        assert changed(await stream.next()) == ("active", harbour)
        await db.execute(
            text("UPDATE engagement_memberships SET designation = 'owner' WHERE person_id = :p"),
            {"p": me.id},
        )
        assert changed(await stream.next()) == ("needs_you", harbour)
        await db.execute(
            text("DELETE FROM engagement_memberships WHERE person_id = :p"), {"p": me.id}
        )
        gone = {changed(await stream.next()) for _ in range(3)}
        assert gone == {("active", harbour), ("recent", harbour), ("needs_you", harbour)}
        await make_shape(db, harbour)
        await stream.nothing_within(0.3)


async def test_listener_reconnects_and_catches_up(live: LiveServer, db: AsyncConnection) -> None:
    me, token = await signed_in(db)
    harbour = await make_engagement(db, "Harbour")
    await join(db, me, harbour, "operator")
    hub = live.app.state.events
    async with open_stream(live, token) as stream:
        killed = (
            await db.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": LISTENER_NAME},
            )
        ).scalar_one()
        assert killed == 1
        await make_shape(db, harbour)  # likely while nobody listens
        assert changed(await stream.next(within=5)) == ("needs_you", harbour)
        await asyncio.wait_for(hub.listening.wait(), timeout=5)
        await make_shaping_job(db, harbour)
        assert changed(await stream.next()) == ("active", harbour)


async def test_shutdown_ends_open_streams(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    _, token = await signed_in(db)
    settings = Settings(database_url=database_url, db_pool_size=2)  # a 15 s heartbeat
    started = time.monotonic()
    async with live_server(settings) as live, open_stream(live, token) as stream:
        live.server.should_exit = True
        assert await stream.next(within=5) is None
    assert time.monotonic() - started < 5


async def test_slow_subscriber_is_dropped_fast_one_keeps_receiving(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    person = await make_person(db)
    fast_token = await make_session(db, person)
    slow_token = await make_session(db, person)
    engagements = [await make_engagement(db, f"E{n}") for n in range(100)]
    for engagement_id in engagements:
        await join(db, person, engagement_id, "operator")
    settings = Settings(
        database_url=database_url,
        db_pool_size=2,
        events_queue_size=len(engagements) * 2,
        events_heartbeat_seconds=5,
    )
    async with (
        live_server(settings, send_buffer=4096) as live,
        open_stream(live, fast_token) as fast,
    ):
        hub = live.app.state.events
        slow = await _unread_stream(live, slow_token)
        try:
            await _wait_for(lambda: len(hub.subscribers) == 2)
            batches = 0
            while any(
                not s.ended for s in hub.subscribers if s.token_hash != token_hash(fast_token)
            ):
                # One statement: a needs_you change in each of the 100 engagements.
                await db.execute(
                    insert(shapes),
                    [
                        {
                            "engagement_id": e,
                            "shape_type": "site",
                            "title": "t",
                            "state": "pending_confirmation",
                        }
                        for e in engagements
                    ],
                )
                got = {changed(await fast.next())[1] for _ in engagements}
                assert got == set(engagements)
                batches += 1
                assert batches < 500, "the slow stream was never dropped"
            # The fast stream still gets everything.
            await make_shaping_job(db, engagements[0])
            assert changed(await fast.next()) == ("active", engagements[0])
        finally:
            slow.close()


async def _unread_stream(live: LiveServer, token: str) -> socket.socket:
    """A stream whose client reads nothing: a tiny receive window that soon closes."""
    host, port = live.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    request = (
        f"GET /me/dashboard/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Cookie: loomworks_session={token}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    return sock


async def _wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 (the hub has no event to wait on for this)
            await asyncio.sleep(0.01)


async def test_a_resume_larger_than_the_queue_is_sent_whole(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    me, token = await signed_in(db)
    engagements = [await make_engagement(db, f"E{n}", member=me) for n in range(3)]
    for engagement_id in engagements:
        await make_shaping_job(db, engagement_id)
        await make_shape(db, engagement_id)
    settings = Settings(database_url=database_url, db_pool_size=2, events_queue_size=2)
    async with (
        live_server(settings) as live,
        open_stream(live, token, last_event_id="0") as stream,
    ):
        resumed = {changed(await stream.next()) for _ in range(6)}
        assert resumed == {(z, e) for z in ("active", "needs_you") for e in engagements}
        await make_shape(db, engagements[0])
        assert changed(await stream.next()) == ("needs_you", engagements[0])


async def test_a_client_that_stops_reading_is_abandoned_after_a_heartbeat(
    database_url: str, engine: AsyncEngine, db: AsyncConnection
) -> None:
    person = await make_person(db)
    token = await make_session(db, person)
    engagements = [await make_engagement(db, f"E{n}", member=person) for n in range(100)]
    settings = Settings(
        database_url=database_url,
        db_pool_size=2,
        events_queue_size=100_000,  # never full here: only the stall can end it
        events_heartbeat_seconds=HEARTBEAT,
    )
    async with live_server(settings, send_buffer=4096) as live:
        hub = live.app.state.events
        stalled = await _unread_stream(live, token)
        try:
            await _wait_for(lambda: len(hub.subscribers) == 1)
            (subscriber,) = hub.subscribers
            rows = [
                {
                    "engagement_id": e,
                    "shape_type": "s",
                    "title": "t",
                    "state": "pending_confirmation",
                }
                for e in engagements
            ]
            while subscriber.sending_since is None:  # until a write to it blocks
                await db.execute(insert(shapes), rows)
                await asyncio.sleep(0.02)
            await _wait_for(lambda: not hub.subscribers)
            assert subscriber.ended
            # The server closed the connection: the client reads what was sent, then EOF.
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(5):
                while await loop.sock_recv(stalled, 65536):
                    pass
        finally:
            stalled.close()
