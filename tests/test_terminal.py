"""The inbox in a terminal: the real `loomworks` CLI against the app served on a loopback
port: login, inbox, decide, a 409 as one line, watch, logout."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.platform.settings import Settings
from tests.fixtures.data import (
    PASSWORD,
    join,
    make_engagement,
    make_person,
    make_session,
    make_shape,
)
from tests.fixtures.live import LiveServer, live_server

EMAIL = "ada@example.test"


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[LiveServer]:
    settings = Settings(database_url=database_url, db_pool_size=4, events_heartbeat_seconds=1)
    async with live_server(settings) as server:
        yield server


def _env(config: Path) -> dict[str, str]:
    return {**os.environ, "LOOMWORKS_CONFIG_DIR": str(config)}


async def _cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "loomworks.cli", *args],
        input=stdin,
        env=_env(config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_login_inbox_decide_and_logout(
    live: LiveServer, db: AsyncConnection, tmp_path: Path
) -> None:
    person = await make_person(db, EMAIL)
    eid = await make_engagement(db, "Harbour", member=person)
    shape_id = await make_shape(db, eid, title="North wing footprint")

    wrong = await _cli(
        tmp_path, "login", "--url", live.url, "--email", EMAIL, "--password-stdin", stdin="nope\n"
    )
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr

    signed = await _cli(
        tmp_path,
        "login",
        "--url",
        live.url,
        "--email",
        EMAIL,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert signed.returncode == 0, signed.stderr
    (credentials,) = list(tmp_path.glob("*"))  # noqa: ASYNC240 (a test, a tmp folder)
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    kept = json.loads(credentials.read_text())
    assert kept["token"].startswith("lw_") and PASSWORD not in credentials.read_text()

    inbox = await _cli(tmp_path, "inbox")
    assert inbox.returncode == 0, inbox.stderr
    assert "North wing footprint" in inbox.stdout and str(shape_id) in inbox.stdout
    listed = json.loads((await _cli(tmp_path, "inbox", "--json")).stdout)
    assert [item["item_id"] for item in listed] == [str(shape_id)]

    decided = await _cli(tmp_path, "decide", str(shape_id), "confirm", "--note", "fine")
    assert decided.returncode == 0, decided.stderr
    assert "confirmed" in decided.stdout.lower() or "Confirm" in decided.stdout
    # My own decision again is mine again, not a conflict.
    again = await _cli(tmp_path, "decide", str(shape_id), "confirm")
    assert again.returncode == 0, again.stderr
    assert (await _cli(tmp_path, "inbox")).stdout.strip() == "Nothing waits for you."

    out = await _cli(tmp_path, "logout")
    assert out.returncode == 0, out.stderr
    assert not credentials.exists()
    async with httpx.AsyncClient(base_url=live.url) as client:
        me = await client.get("/me", headers={"authorization": f"Bearer {kept['token']}"})
    assert me.status_code == 401
    after = await _cli(tmp_path, "inbox")
    assert after.returncode == 1 and "login" in after.stderr


async def test_a_409_from_a_quicker_colleague_is_one_line(
    live: LiveServer, db: AsyncConnection, tmp_path: Path
) -> None:
    person = await make_person(db, EMAIL)
    colleague = await make_person(db, "bob@example.test", name="Bob")
    eid = await make_engagement(db, "Harbour", member=person)
    await join(db, colleague, eid, "operator")
    shape_id = await make_shape(db, eid)
    login = ["login", "--url", live.url, "--email", EMAIL, "--password-stdin"]
    assert (await _cli(tmp_path, *login, stdin=PASSWORD + "\n")).returncode == 0
    assert str(shape_id) in (await _cli(tmp_path, "inbox")).stdout
    wrong = await _cli(tmp_path, "decide", str(shape_id), "approve")
    assert wrong.returncode == 1 and "confirm" in wrong.stderr

    # Bob is quicker between my inbox and my decision.
    async with httpx.AsyncClient(base_url=live.url) as bob:
        bob.cookies.set("loomworks_session", await make_session(db, colleague))
        taken = await bob.post(f"/engagements/{eid}/shapes/{shape_id}/reject")
        assert taken.status_code == 200
    late = await _cli(tmp_path, "decide", str(shape_id), "confirm")
    assert late.returncode == 1
    assert late.stderr.startswith("loomworks: error: 409") and "Bob" in late.stderr
    assert late.stderr.count("\n") == 1 and "Traceback" not in late.stderr


async def test_watch_prints_each_arrival_once(
    live: LiveServer, db: AsyncConnection, tmp_path: Path
) -> None:
    person = await make_person(db, EMAIL)
    eid = await make_engagement(db, "Harbour", member=person)
    await make_shape(db, eid, title="Already there")
    login = ["login", "--url", live.url, "--email", EMAIL, "--password-stdin"]
    assert (await _cli(tmp_path, *login, stdin=PASSWORD + "\n")).returncode == 0

    watcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loomworks.cli",
        "watch",
        "--json",
        env=_env(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert watcher.stdout is not None and watcher.stderr is not None
        # Once it says it is watching, it has its snapshot and its stream.
        ready = await asyncio.wait_for(watcher.stderr.readline(), timeout=30)
        assert ready.startswith(b"Watching"), ready
        arrived = await make_shape(db, eid, title="New arrival")
        line = await asyncio.wait_for(watcher.stdout.readline(), timeout=30)
        item = json.loads(line)
        assert item["item_id"] == str(arrived) and item["item_label"].startswith("New arrival")
        second = await make_shape(db, eid, title="Second arrival")
        line = await asyncio.wait_for(watcher.stdout.readline(), timeout=30)
        assert json.loads(line)["item_id"] == str(second)
    finally:
        watcher.terminate()
        await watcher.wait()


async def test_the_admin_lists_and_revokes_anyones_tokens(
    live: LiveServer, db: AsyncConnection, database_url: str, tmp_path: Path
) -> None:
    await make_person(db, EMAIL)
    login = ["login", "--url", live.url, "--email", EMAIL, "--password-stdin"]
    assert (await _cli(tmp_path, *login, stdin=PASSWORD + "\n")).returncode == 0
    admin = {"LOOMWORKS_DATABASE_URL": database_url}

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "loomworks.cli", *args],
            env={**_env(tmp_path), **admin},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    listed = await run("token", "list", EMAIL)
    assert listed.returncode == 0 and "loomworks CLI on" in listed.stdout
    assert "read+decide" in listed.stdout
    revoked = await run("token", "revoke", EMAIL)
    assert revoked.returncode == 0 and "1 token revoked" in revoked.stdout
    after = await _cli(tmp_path, "inbox")
    assert after.returncode == 1 and "no longer valid" in after.stderr
    assert "no live tokens" in (await run("token", "list", EMAIL)).stdout
