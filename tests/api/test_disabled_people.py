"""Disabling a person ends their sessions and tokens for good, whoever disables them
(`loomworks person disable`, or any UPDATE of persons.disabled_at): enabled again, they sign
in anew and make new tokens; the old cookie and the old bearer token stay 401."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.api.deps.session import SESSION_ENDED
from loomworks.core.states import TokenScope
from loomworks.db.people import Person, PersonDisabled, count_live_sessions, issue_session
from loomworks.db.tables import persons
from loomworks.db.tokens import count_live_tokens, create_token
from tests.fixtures.data import (
    PASSWORD,
    join,
    make_engagement,
    make_person,
    make_session,
    waiting_on_a_lock,
)
from tests.fixtures.disabling import HOW, set_disabled
from tests.fixtures.receiver import eventually


@pytest.fixture(autouse=True)
def _database_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOMWORKS_DATABASE_URL", database_url)


def _cookie(token: str) -> dict[str, str]:
    return {"cookie": f"loomworks_session={token}"}


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def _credentials(
    client: httpx.AsyncClient, db: AsyncConnection, person: Person
) -> list[dict[str, str]]:
    """A session cookie and a bearer token of `person` (made over HTTP with the session)."""
    session = _cookie(await make_session(db, person))
    made = await client.post(
        "/me/tokens", json={"name": "script", "scopes": ["read"]}, headers=session
    )
    assert made.status_code == 201, made.text
    return [session, _bearer(made.json()["token"])]


def _paths(engagement: uuid.UUID) -> list[str]:
    """Where a caller is checked: the dependencies (/me), and inside a zone's statement."""
    return ["/me", "/me/dashboard/needs_you", f"/engagements/{engagement}/dashboard/needs_you"]


async def _statuses(
    client: httpx.AsyncClient, credentials: list[dict[str, str]], paths: list[str]
) -> set[int]:
    # The cookie is passed per request; the client keeps none.
    client.cookies.clear()
    return {
        (await client.get(path, headers=headers)).status_code
        for headers in credentials
        for path in paths
    }


@pytest.mark.parametrize("how", HOW)
async def test_enabling_a_disabled_person_again_revives_no_old_session_or_token(
    client: httpx.AsyncClient, db: AsyncConnection, how: str
) -> None:
    ada, bea = await make_person(db, name="Ada"), await make_person(db, name="Bea")
    harbour = await make_engagement(db, "Harbour", member=ada)
    await join(db, bea, harbour, "operator")
    adas, beas = await _credentials(client, db, ada), await _credentials(client, db, bea)
    assert await _statuses(client, adas + beas, _paths(harbour)) == {200}

    said = await set_disabled(how, db, ada, disabled=True)
    if how == "cli":
        assert "1 session signed out, 1 token revoked, 0 webhooks switched off" in said
    assert await _statuses(client, adas, _paths(harbour)) == {401}
    await set_disabled(how, db, ada, disabled=False)

    # Her old session and token stay ended; Bea's were never touched.
    assert await _statuses(client, adas, _paths(harbour)) == {401}
    assert await _statuses(client, beas, _paths(harbour)) == {200}
    # She signs in anew, and has no live token until she makes one.
    login = await client.post("/auth/login", json={"email": ada.email, "password": PASSWORD})
    assert login.status_code == 204
    assert (await client.get("/me")).json()["id"] == str(ada.id)
    assert (await client.get("/me/tokens")).json() == {"items": []}
    sessions = (await client.get("/me/sessions")).json()["items"]
    assert [s["current"] for s in sessions] == [True]


async def test_enabling_revokes_nothing(client: httpx.AsyncClient, db: AsyncConnection) -> None:
    """Only disabling ends credentials: enabling an enabled person (an UPDATE of disabled_at
    to NULL) leaves their session and token working."""
    ada = await make_person(db)
    harbour = await make_engagement(db, "Harbour", member=ada)
    adas = await _credentials(client, db, ada)
    await set_disabled("sql", db, ada, disabled=False)
    assert await _statuses(client, adas, _paths(harbour)) == {200}


async def _issue_session(conn: AsyncConnection, person: Person) -> object:
    return await issue_session(conn, person_id=person.id, lifetime=timedelta(hours=1))


async def _create_token(conn: AsyncConnection, person: Person) -> object:
    scopes = (TokenScope.READ,)
    return await create_token(
        conn, person_id=person.id, name="cli", scopes=scopes, lifetime=timedelta(days=1)
    )


@pytest.mark.parametrize("credential", [_issue_session, _create_token], ids=["session", "token"])
async def test_a_credential_made_while_the_person_is_being_disabled_is_refused(
    engine: AsyncEngine,
    db: AsyncConnection,
    credential: Callable[[AsyncConnection, Person], Awaitable[object]],
) -> None:
    """A session (a sign-in, `loomworks session issue`) or a token made at the moment the
    person is disabled: it waits for the disabling to commit and is then refused, rather than
    slipping past the trigger's revocation to come alive when they are enabled again."""
    ada = await make_person(db)

    async def make() -> object:
        async with engine.begin() as conn:
            return await credential(conn, ada)

    async with engine.connect() as disabling:
        disable = update(persons).where(persons.c.id == ada.id).values(disabled_at=func.now())
        await disabling.execute(disable)  # the trigger has run; not committed yet
        making = asyncio.create_task(make())
        await eventually(lambda: making.done() or waiting_on_a_lock(db))
        await disabling.commit()
    with pytest.raises(PersonDisabled):
        await making
    assert await count_live_sessions(db, person_id=ada.id) == 0
    assert await count_live_tokens(db, person_id=ada.id) == 0


async def test_a_token_asked_for_while_the_person_is_being_disabled_is_401(
    client: httpx.AsyncClient, engine: AsyncEngine, db: AsyncConnection
) -> None:
    """Over HTTP: the session passed its check before the disabling committed; the token is
    refused as the session is (401), and nothing is made."""
    ada = await make_person(db)
    session = _cookie(await make_session(db, ada))
    body = {"name": "script", "scopes": ["read"]}
    async with engine.connect() as disabling:
        disable = update(persons).where(persons.c.id == ada.id).values(disabled_at=func.now())
        await disabling.execute(disable)
        asking = asyncio.create_task(client.post("/me/tokens", json=body, headers=session))
        await eventually(lambda: asking.done() or waiting_on_a_lock(db))
        await disabling.commit()
    response = await asking
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": SESSION_ENDED}
    assert await count_live_tokens(db, person_id=ada.id) == 0
