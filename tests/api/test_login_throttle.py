"""Failed sign-ins throttled in PostgreSQL: per email and client address, per address, per
email (lifted by a device cookie), across processes, and exactly at the limit under
concurrency; password hashing off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.app import create_app
from loomworks.db import login
from loomworks.db.tables import login_failures
from loomworks.platform.settings import Settings
from tests.fixtures.data import PASSWORD, make_person

EMAIL = "ada@example.test"
# httpx's ASGITransport presents every request as coming from this address.
CLIENT_ADDRESS = "127.0.0.1"


async def _login(client: httpx.AsyncClient, password: str, email: str = EMAIL) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def _failures(db: AsyncConnection) -> int:
    return int((await db.execute(select(func.count()).select_from(login_failures))).scalar_one())


async def _fail_at(db: AsyncConnection, ago: timedelta, *, email: str, address: str) -> None:
    await db.execute(
        insert(login_failures).values(
            email=email, client_address=address, failed_at=func.now() - ago
        )
    )


@pytest.fixture
def counted_checks(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every password check the app makes, by the time it started."""
    checks: list[float] = []
    real = login.verify_password

    def counting(password: str, password_hash: str | None) -> bool:
        checks.append(time.monotonic())
        return real(password, password_hash)

    monkeypatch.setattr(login, "verify_password", counting)
    return checks


async def test_ten_failures_then_429_even_with_the_right_password(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    for _ in range(10):
        assert (await _login(client, "wrong")).status_code == 401
    response = await _login(client, PASSWORD)
    assert response.status_code == 429
    assert response.json()["detail"]
    assert "set-cookie" not in response.headers
    # The oldest counted failure was just now: it leaves the 15-minute window in ~900 s.
    assert 895 <= int(response.headers["retry-after"]) <= 900
    # Another email from the same address is not affected.
    other = await make_person(db, "bea@example.test")
    assert (await _login(client, PASSWORD, other.email)).status_code == 204


async def test_retry_after_is_when_the_oldest_counted_failure_leaves_the_window(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    await _fail_at(db, timedelta(minutes=14), email=EMAIL, address=CLIENT_ADDRESS)
    for _ in range(9):
        await _fail_at(db, timedelta(minutes=1), email=EMAIL, address=CLIENT_ADDRESS)
    response = await _login(client, PASSWORD)
    assert response.status_code == 429
    assert 55 <= int(response.headers["retry-after"]) <= 60


async def test_failures_older_than_the_window_do_not_count_and_are_pruned(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    for _ in range(10):
        await _fail_at(db, timedelta(minutes=16), email=EMAIL, address=CLIENT_ADDRESS)
    assert (await _login(client, PASSWORD)).status_code == 204
    assert await _failures(db) == 0


async def test_a_right_password_leaves_no_failure_behind(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    assert (await _login(client, "wrong")).status_code == 401
    assert (await _login(client, PASSWORD)).status_code == 204
    rows = (await db.execute(select(login_failures.c.email, login_failures.c.client_address))).all()
    assert [tuple(row) for row in rows] == [(EMAIL, CLIENT_ADDRESS)]


async def test_unknown_emails_are_throttled_too(client: httpx.AsyncClient) -> None:
    for _ in range(10):
        assert (await _login(client, "wrong", "ghost@example.test")).status_code == 401
    assert (await _login(client, "wrong", "GHOST@example.test")).status_code == 429


async def test_one_hundred_failures_from_one_address_block_every_email(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    for n in range(99):
        await _fail_at(db, timedelta(minutes=5), email=f"p{n}@example.test", address=CLIENT_ADDRESS)
    assert (await _login(client, "wrong")).status_code == 401  # the 100th failure
    response = await _login(client, PASSWORD)
    assert response.status_code == 429
    assert 595 <= int(response.headers["retry-after"]) <= 600
    # Failures from other addresses do not add up: a fresh address would still be checked.
    assert await _failures(db) == 100


async def test_failures_from_another_address_do_not_lock_the_person_out(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    """Ten wrong passwords from elsewhere brake that address for this email, not this one."""
    await make_person(db, EMAIL)
    for _ in range(10):
        await _fail_at(db, timedelta(minutes=1), email=EMAIL, address="192.0.2.1")
    assert (await _login(client, PASSWORD)).status_code == 204
    # Up to 99 from anywhere still leave every other address to be checked.
    for n in range(89):
        await _fail_at(db, timedelta(minutes=1), email=EMAIL, address=f"198.51.100.{n}")
    assert (await _login(client, PASSWORD)).status_code == 204


async def _hundred_failures_for(db: AsyncConnection, email: str) -> None:
    for n in range(100):
        await _fail_at(db, timedelta(minutes=5), email=email, address=f"203.0.113.{n}")


async def test_a_device_cookie_passes_the_per_email_brake_only(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    signed_in = await _login(client, PASSWORD)
    assert signed_in.status_code == 204
    device = client.cookies["loomworks_device"]
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith("loomworks_device=")
    )
    assert "HttpOnly" in cookie
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert max_age >= 30 * 24 * 3600
    await _hundred_failures_for(db, EMAIL)

    # This browser still gets in; one without the cookie, or with a forged one, does not.
    assert (await _login(client, PASSWORD)).status_code == 204
    client.cookies.clear()
    refused = await _login(client, PASSWORD)
    assert refused.status_code == 429
    assert 595 <= int(refused.headers["retry-after"]) <= 600
    forged = device[:-2] + ("AA" if not device.endswith("AA") else "BB")
    for value in (forged, "garbage", "a.b", "x" * 5000):
        client.cookies.set("loomworks_device", value)
        assert (await _login(client, PASSWORD)).status_code == 429

    # The cookie is one person's: it does not lift another person's brake ...
    other = await make_person(db, "bea@example.test")
    await _hundred_failures_for(db, other.email)
    client.cookies.set("loomworks_device", device)
    assert (await _login(client, PASSWORD, other.email)).status_code == 429
    # ... nor the per-pair or per-address brakes.
    for _ in range(10):
        await _fail_at(db, timedelta(minutes=1), email=EMAIL, address=CLIENT_ADDRESS)
    assert (await _login(client, PASSWORD)).status_code == 429


async def test_a_device_cookie_does_not_lift_the_per_address_brake(
    client: httpx.AsyncClient, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    assert (await _login(client, PASSWORD)).status_code == 204
    for n in range(100):
        await _fail_at(db, timedelta(minutes=1), email=f"p{n}@example.test", address=CLIENT_ADDRESS)
    assert (await _login(client, PASSWORD)).status_code == 429


@pytest.mark.parametrize("attempt", range(3))
async def test_concurrent_wrong_passwords_check_exactly_the_limit(
    client: httpx.AsyncClient,
    db: AsyncConnection,
    counted_checks: list[float],
    attempt: int,
) -> None:
    await make_person(db, EMAIL)
    responses = await asyncio.gather(*(_login(client, f"wrong-{n}") for n in range(20)))
    statuses = sorted(r.status_code for r in responses)
    # The rule: a failure row is reserved before the check, under a lock, so no race margin.
    assert statuses == [401] * 10 + [429] * 10
    assert len(counted_checks) == 10
    assert await _failures(db) == 10


@pytest.fixture
async def second_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """Another worker: its own app, its own engine and pool."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def test_the_throttle_holds_across_processes(
    client: httpx.AsyncClient, second_app: FastAPI, db: AsyncConnection
) -> None:
    await make_person(db, EMAIL)
    transport = httpx.ASGITransport(app=second_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        for n in range(10):
            assert (await _login(client if n % 2 else other, "wrong")).status_code == 401
        assert (await _login(other, PASSWORD)).status_code == 429
        assert (await _login(client, PASSWORD)).status_code == 429


@pytest.fixture
def slow_checks(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Password checks that take 0.3 s of a thread; returns the most seen running at once."""
    lock = threading.Lock()
    running = 0
    most = 0

    def slow(password: str, password_hash: str | None) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(login, "verify_password", slow)
    return lambda: most


@pytest.fixture
async def two_hashers(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app configured for two password checks at once."""
    app = create_app(settings.model_copy(update={"hash_concurrency": 2}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_password_checks_leave_the_event_loop_free_and_are_bounded(
    two_hashers: httpx.AsyncClient, db: AsyncConnection, slow_checks: Callable[[], int]
) -> None:
    client = two_hashers
    await make_person(db, EMAIL)
    logins = [asyncio.create_task(_login(client, "wrong", f"p{n}@example.test")) for n in range(6)]
    await asyncio.sleep(0.1)
    started = time.monotonic()
    health = await client.get("/healthz")
    # Six checks of 0.3 s, two at a time, take ~0.9 s; the loop answers meanwhile.
    assert health.status_code == 200
    assert time.monotonic() - started < 0.25
    assert not all(task.done() for task in logins)
    assert {r.status_code for r in await asyncio.gather(*logins)} == {401}
    assert slow_checks() == 2
