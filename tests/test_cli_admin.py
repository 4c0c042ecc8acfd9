"""The `loomworks` administration commands end to end: listing, membership changes,
passwords and sessions; every mistake is one line and a non-zero exit.

The commands run through `main(argv)` in a worker thread (their own event loop, as in the
real command) with stdin, stdout and stderr swapped: the whole command but the interpreter's
start-up, which costs seconds per run on a busy machine. tests/test_cli.py runs real
processes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.cli import main
from loomworks.core.webhooks import OWNER_DISABLED
from loomworks.db.tables import sessions, webhook_deliveries, webhooks
from loomworks.db.webhooks import webhooks_of
from tests.fixtures.data import (
    make_engagement,
    make_person,
    make_session,
    make_shape,
    make_shaping_job,
)
from tests.fixtures.webhooks import pinged_webhook

PASSWORD = "a-long-enough-secret"


@pytest.fixture(autouse=True)
def _database_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOMWORKS_DATABASE_URL", database_url)


def _run(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    real_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)  # not a terminal, like a script's stdin
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = real_stdin
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


async def loomworks(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_run, list(args), stdin or "")


async def _ok(database_url: str, *args: str, stdin: str | None = None) -> str:
    result = await loomworks(database_url, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _fails(database_url: str, *args: str, message: str, stdin: str | None = None) -> None:
    result = await loomworks(database_url, *args, stdin=stdin)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_lists_show_people_engagements_and_members(
    database_url: str, db: AsyncConnection
) -> None:
    ada = await make_person(db, "ada@example.test", "Ada Lovelace")
    bea = await make_person(db, "bea@example.test", "Bea")
    await make_engagement(db, "Harbour", member=ada, designation="owner")
    bay = await make_engagement(db, "Bay", member=bea, designation="viewer")
    persons = (await _ok(database_url, "person", "list")).splitlines()
    assert [line.split("  ")[0] for line in persons] == ["ada@example.test", "bea@example.test"]
    assert "Ada Lovelace" in persons[0] and str(ada.id) in persons[0]
    engagements = (await _ok(database_url, "engagement", "list")).splitlines()
    assert engagements[0].startswith("Bay") and str(bay) in engagements[0]
    assert engagements[1].startswith("Harbour") and engagements[1].endswith("  1 member")
    members = (await _ok(database_url, "member", "list", "Harbour")).splitlines()
    assert len(members) == 1
    assert members[0].split() == ["ada@example.test", "Ada", "Lovelace", "owner"]
    assert (await _ok(database_url, "member", "list", str(bay))).split() == [
        "bea@example.test",
        "Bea",
        "viewer",
    ]


async def test_member_remove_and_set_designation(
    database_url: str, db: AsyncConnection, client: httpx.AsyncClient
) -> None:
    ada = await make_person(db, "ada@example.test")
    await make_engagement(db, "Harbour", member=ada, designation="viewer")
    await make_engagement(db, "Bay", member=ada)
    client.cookies.set("loomworks_session", await make_session(db, ada))
    await _ok(database_url, "member", "set-designation", "ADA@example.test", "Harbour", "owner")
    memberships = (await client.get("/me/memberships")).json()["items"]
    assert [(m["engagement_name"], m["designation"]) for m in memberships] == [
        ("Bay", "operator"),
        ("Harbour", "owner"),
    ]
    await _ok(database_url, "member", "remove", "ada@example.test", "Bay")
    memberships = (await client.get("/me/memberships")).json()["items"]
    assert [m["engagement_name"] for m in memberships] == ["Harbour"]
    await _fails(
        database_url, "member", "remove", "ada@example.test", "Bay", message="not a member"
    )
    await _fails(
        database_url,
        "member",
        "set-designation",
        "ada@example.test",
        "Bay",
        "owner",
        message="not a member",
    )
    await _fails(
        database_url,
        "member",
        "remove",
        "nobody@example.test",
        "Harbour",
        message="no person with email",
    )
    await _fails(database_url, "member", "list", "Nowhere", message="no engagement named")
    bad = await loomworks(
        database_url, "member", "set-designation", "ada@example.test", "Harbour", "boss"
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


async def test_session_revoke_signs_a_person_out_everywhere(
    database_url: str, db: AsyncConnection, client: httpx.AsyncClient
) -> None:
    ada = await make_person(db, "ada@example.test")
    bea = await make_person(db, "bea@example.test")
    tokens = [await make_session(db, ada) for _ in range(3)]
    bea_token = await make_session(db, bea)
    assert "3 sessions signed out" in await _ok(
        database_url, "session", "revoke", "ada@example.test"
    )
    for token in tokens:
        client.cookies.set("loomworks_session", token)
        assert (await client.get("/me")).status_code == 401
    client.cookies.set("loomworks_session", bea_token)
    assert (await client.get("/me")).status_code == 200
    await _fails(database_url, "session", "revoke", "nobody@example.test", message="no person")


async def test_set_password_from_stdin_changes_it_and_ends_sessions(
    database_url: str, db: AsyncConnection, client: httpx.AsyncClient
) -> None:
    ada = await make_person(db, "ada@example.test")
    old = await make_session(db, ada)
    out = await _ok(
        database_url,
        "person",
        "set-password",
        "ada@example.test",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert "1 session signed out" in out
    client.cookies.set("loomworks_session", old)
    assert (await client.get("/me")).status_code == 401
    client.cookies.clear()
    login = {"email": "ada@example.test", "password": PASSWORD}
    assert (await client.post("/auth/login", json=login)).status_code == 204


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("person", "set-password", "ada@example.test"), "", "no terminal"),
        (("person", "add", "c@example.test", "--name", "C"), "", "no terminal"),
        (
            ("person", "set-password", "ada@example.test", "--password-stdin"),
            "short\n",
            "at least 12 characters",
        ),
        (
            ("person", "add", "c@example.test", "--name", "C", "--password", "elevenchars"),
            None,
            "at least 12 characters",
        ),
        (
            ("person", "set-password", "nobody@example.test", "--password", PASSWORD),
            None,
            "no person with email",
        ),
    ],
)
async def test_password_mistakes_are_one_line(
    database_url: str,
    engine: AsyncEngine,
    db: AsyncConnection,
    args: tuple[str, ...],
    stdin: str | None,
    message: str,
) -> None:
    await make_person(db, "ada@example.test")
    await _fails(database_url, *args, message=message, stdin=stdin)


async def test_duplicate_engagement_names_are_refused(
    database_url: str, engine: AsyncEngine
) -> None:
    await _ok(database_url, "engagement", "add", "Harbour")
    await _fails(database_url, "engagement", "add", "harbour ", message="already exists")
    assert len((await _ok(database_url, "engagement", "list")).splitlines()) == 1


async def test_empty_lists_say_so(database_url: str, db: AsyncConnection) -> None:
    assert (await _ok(database_url, "person", "list")).startswith("no people yet")
    assert (await _ok(database_url, "engagement", "list")).startswith("no engagements yet")
    await make_engagement(db, "Empty")
    assert (await _ok(database_url, "member", "list", "Empty")).strip() == "'Empty' has no members"


async def test_the_last_owner_stays_unless_forced(database_url: str, db: AsyncConnection) -> None:
    ada = await make_person(db, "ada@example.test")
    bea = await make_person(db, "bea@example.test")
    await make_engagement(db, "Harbour", member=ada, designation="owner")
    for args in (
        ("member", "remove", "ada@example.test", "Harbour"),
        ("member", "set-designation", "ada@example.test", "Harbour", "viewer"),
        ("person", "remove", "ada@example.test"),
    ):
        await _fails(database_url, *args, message="the only owner of 'Harbour'")
    await _ok(database_url, "member", "add", bea.email, "Harbour", "--designation", "owner")
    await _ok(database_url, "member", "set-designation", ada.email, "Harbour", "viewer")
    await _ok(database_url, "member", "remove", bea.email, "Harbour", "--force")
    assert "viewer" in await _ok(database_url, "member", "list", "Harbour")


async def test_disable_ends_sessions_and_sign_in_until_enabled(
    database_url: str, db: AsyncConnection, client: httpx.AsyncClient
) -> None:
    ada = await make_person(db, "ada@example.test")
    token = await make_session(db, ada)
    assert "1 session signed out" in await _ok(database_url, "person", "disable", ada.email)
    client.cookies.set("loomworks_session", token)
    assert (await client.get("/me")).status_code == 401
    login = {"email": ada.email, "password": "correct horse battery staple"}
    assert (await client.post("/auth/login", json=login)).status_code == 401
    # No session is issued for them either: enabling them would make it valid.
    issued = await _count(db, sessions)
    await _fails(database_url, "session", "issue", ada.email, message="is disabled")
    assert await _count(db, sessions) == issued
    await _ok(database_url, "person", "enable", ada.email)
    assert (await client.post("/auth/login", json=login)).status_code == 204
    await _ok(database_url, "session", "issue", ada.email)


async def _count(db: AsyncConnection, table: object) -> int:
    return int((await db.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_disable_switches_webhooks_off_and_enable_leaves_them_off(
    database_url: str, db: AsyncConnection
) -> None:
    ada = await make_person(db, "ada@example.test")
    await pinged_webhook(db, ada.id, events=["needs_you.arrived"])
    out = await _ok(database_url, "person", "disable", ada.email)
    assert "1 webhook switched off" in out
    (hook,) = await webhooks_of(db, person_id=ada.id)
    assert (hook.active, hook.deactivated_reason) == (False, OWNER_DISABLED)
    states = select(webhook_deliveries.c.state, webhook_deliveries.c.completed_at.is_not(None))
    assert (await db.execute(states)).all() == [("failed", True)]
    out = await _ok(database_url, "person", "enable", ada.email)
    assert "may sign in again; 1 webhook stays off until they ping it" in out
    (hook,) = await webhooks_of(db, person_id=ada.id)
    assert not hook.active


async def test_remove_a_person_and_rename_and_remove_an_engagement(
    database_url: str, db: AsyncConnection, client: httpx.AsyncClient
) -> None:
    ada = await make_person(db, "ada@example.test")
    token = await make_session(db, ada)
    harbour = await make_engagement(db, "Harbour", member=ada, designation="operator")
    await make_engagement(db, "Bay")
    await pinged_webhook(db, ada.id, events=["needs_you.arrived"])
    assert "1 session signed out" in await _ok(database_url, "person", "remove", ada.email)
    assert (await _count(db, webhooks), await _count(db, webhook_deliveries)) == (0, 0)
    client.cookies.set("loomworks_session", token)
    assert (await client.get("/me")).status_code == 401
    assert "ada@example.test" not in await _ok(database_url, "person", "list")
    await _fails(database_url, "engagement", "rename", "Harbour", "bay", message="already exists")
    await _ok(database_url, "engagement", "rename", "Harbour", "Harbour North")
    await make_shape(db, harbour)
    await make_shaping_job(db, harbour)
    # Without --yes it says what would go and deletes nothing.
    held = "holds 0 members, 1 job, 1 item and 0 decisions on record; nothing removed"
    await _fails(database_url, "engagement", "remove", "Harbour North", message=held)
    assert "Harbour North" in await _ok(database_url, "engagement", "list")
    removed = await _ok(database_url, "engagement", "remove", "Harbour North", "--yes")
    assert "removed with 0 members, 1 job, 1 item and 0 decisions on record" in removed
    listed = await _ok(database_url, "engagement", "list")
    assert "Harbour" not in listed and "Bay" in listed


async def test_a_person_with_decisions_on_record_is_disabled_not_removed(
    database_url: str, db: AsyncConnection, client: httpx.AsyncClient
) -> None:
    ada = await make_person(db, "ada@example.test")
    eid = await make_engagement(db, "Harbour", member=ada)
    shape = await make_shape(db, eid)
    client.cookies.set("loomworks_session", await make_session(db, ada))
    assert (await client.post(f"/engagements/{eid}/shapes/{shape}/confirm")).status_code == 200
    await _fails(database_url, "person", "remove", ada.email, message="1 decision on record")


@pytest.mark.parametrize("port", ["0", "70000", "99999", "-5", "80.5", "x"])
async def test_serve_refuses_ports_outside_the_range_in_one_line(
    database_url: str, port: str
) -> None:
    result = await loomworks(database_url, "serve", f"--port={port}")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "is not a port (1-65535)" in result.stderr


async def test_session_issue_prints_a_curl_line_for_the_configured_address(
    database_url: str, db: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_person(db, "ada@example.test")
    monkeypatch.setenv("LOOMWORKS_HOST", "0.0.0.0")  # noqa: S104 (a setting, not a bind)
    monkeypatch.setenv("LOOMWORKS_PORT", "8123")
    out = await _ok(database_url, "session", "issue", "ada@example.test")
    assert "http://127.0.0.1:8123/me/dashboard/active" in out.splitlines()[1]
