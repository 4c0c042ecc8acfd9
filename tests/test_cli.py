"""The `loomworks` command as a person runs it: admin commands, clear errors, clean shutdown."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine


def loomworks(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOMWORKS_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "loomworks.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_admin_commands_build_a_working_login(
    database_url: str, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    ok = loomworks(
        database_url,
        "person",
        "add",
        "Ada@Example.test",
        "--name",
        "Ada",
        "--password",
        "pw-123456-long",
    )
    assert ok.returncode == 0, ok.stderr
    assert loomworks(database_url, "engagement", "add", "Harbour").returncode == 0
    added = loomworks(
        database_url, "member", "add", "ada@example.test", "Harbour", "--designation", "viewer"
    )
    assert added.returncode == 0, added.stderr
    issued = loomworks(database_url, "session", "issue", "ada@example.test")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.splitlines()[0]
    assert re.search(r"curl -b 'loomworks_session=" + re.escape(token) + "' http://", issued.stdout)
    client.cookies.set("loomworks_session", token)
    memberships = (await client.get("/me/memberships")).json()["items"]
    assert [(m["engagement_name"], m["designation"]) for m in memberships] == [
        ("Harbour", "viewer")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("session", "issue", "nobody@example.test"), "no person with email"),
        (
            ("member", "add", "nobody@example.test", "Harbour", "--designation", "owner"),
            "no person",
        ),
        (("person", "add", "not-an-email", "--name", "X", "--password", "p" * 12), "not an email"),
    ],
)
async def test_bad_input_is_one_line_and_nonzero(
    database_url: str, engine: AsyncEngine, args: tuple[str, ...], message: str
) -> None:
    result = loomworks(database_url, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_duplicates_and_bad_designation_are_refused(
    database_url: str, engine: AsyncEngine
) -> None:
    assert (
        loomworks(
            database_url, "person", "add", "b@example.test", "--name", "B", "--password", "p" * 12
        ).returncode
        == 0
    )
    dup = loomworks(
        database_url, "person", "add", "B@example.test", "--name", "B", "--password", "p" * 12
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr
    assert loomworks(database_url, "engagement", "add", "Bay").returncode == 0
    assert (
        loomworks(
            database_url, "member", "add", "b@example.test", "Bay", "--designation", "owner"
        ).returncode
        == 0
    )
    again = loomworks(
        database_url, "member", "add", "b@example.test", "Bay", "--designation", "owner"
    )
    assert again.returncode == 1 and "already a member" in again.stderr
    bad = loomworks(database_url, "member", "add", "b@example.test", "Bay", "--designation", "boss")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    missing = loomworks(
        database_url, "member", "add", "b@example.test", "Nowhere", "--designation", "owner"
    )
    assert missing.returncode == 1 and "no engagement named" in missing.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_for(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if (
            proc.info["name"] == "postgres"
            and str(data_dir) in cmdline
            and proc.status() != "zombie"
        ):
            found.append(proc)
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_demo_answers_and_leaves_no_postgres(tmp_path: Path, stop_signal: int) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "LOOMWORKS_DATABASE_URL"}
    env["LOOMWORKS_DATA_DIR"] = str(tmp_path / "data")
    env["LOOMWORKS_DEMO_TICK_SECONDS"] = "0.2"
    server = subprocess.Popen(
        [sys.executable, "-m", "loomworks.cli", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        curl = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not curl:
            line = server.stdout.readline()
            if line.startswith("curl "):
                curl = line
        token = re.search(r"loomworks_session=([^']+)'", curl)
        assert token, "serve --demo printed no curl line"
        url = f"http://127.0.0.1:{port}/me/dashboard/active"
        for _ in range(100):
            try:
                response = httpx.get(url, cookies={"loomworks_session": token.group(1)})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["items"]
        assert _postgres_for(tmp_path)
        # The CLI runs the demo simulator beside the API: the active zone changes.
        for _ in range(50):
            time.sleep(0.2)
            moved = httpx.get(url, cookies={"loomworks_session": token.group(1)})
            if moved.json() != response.json():
                break
        assert moved.json() != response.json(), "the demo simulator did not move any job"
    finally:
        server.send_signal(stop_signal)
        server.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _postgres_for(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _postgres_for(tmp_path) == []
