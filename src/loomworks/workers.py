"""`loomworks serve --workers N`: uvicorn's worker supervisor over one database the CLI owns.

The CLI process starts the embedded PostgreSQL (or takes the configured URL), migrates once,
then becomes uvicorn's supervisor. Each worker builds its app with
`loomworks.app:app_from_env`, reading the URL from LOOMWORKS_DATABASE_URL. Background work
(the demo simulator) runs in this parent process only, in a thread of its own, so N workers
never move the demo N times as fast.
"""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from loomworks.app import BackgroundWork
from loomworks.platform.engine import DatabaseTimeouts, create_engine
from loomworks.platform.metrics import MULTIPROC_ENV
from loomworks.platform.settings import Settings

FACTORY = "loomworks.app:app_from_env"
WORKER_HEALTHCHECK_SECONDS = 30
# How long the parent waits for its background thread after cancelling it.
BACKGROUND_STOP_SECONDS = 5.0


def run_workers(
    settings: Settings,
    *,
    url: str,
    host: str,
    port: int,
    workers: int,
    background: Sequence[BackgroundWork] = (),
) -> None:
    """Serve with `workers` processes until SIGINT/SIGTERM; returns once every worker has
    exited (the caller then stops the embedded server)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    with _worker_environment(url), _background_thread(settings, url, background):
        config = uvicorn.Config(
            FACTORY,
            factory=True,
            workers=workers,
            **server_options(settings, host, port),
            # A new worker answers its first health ping only once Python has imported the
            # app, which takes several seconds on a busy small machine; uvicorn's 5 s default
            # kills and respawns workers there for ever.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )
        # uvicorn.run() would do the same, but swallows KeyboardInterrupt and calls sys.exit
        # on its own; the supervisor alone returns to us so the database stops after it.
        Multiprocess(config, sockets=[config.bind_socket()]).run()


def server_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """uvicorn's options for the service, one process or several."""
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": log_config(),
        "access_log": False,  # loomworks.access logs each request, with its id and route
        # A client that stopped reading keeps its connection open; stop waiting for it.
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
    }


def log_config() -> dict[str, Any]:
    """uvicorn's logging set-up plus the service's own loggers (`loomworks.access` and the
    rest), at INFO, through uvicorn's handler: configured in every worker as it starts."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["loomworks"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@contextmanager
def _worker_environment(url: str) -> Iterator[None]:
    """What every worker inherits: the database URL (the embedded server's, perhaps) and,
    unless one is configured, a fresh directory for prometheus-client's multi-process files
    (the workers' counters are summed from it), removed afterwards."""
    saved = {name: os.environ.get(name) for name in ("LOOMWORKS_DATABASE_URL", MULTIPROC_ENV)}
    with tempfile.TemporaryDirectory(prefix="loomworks-metrics-") as metrics_dir:
        os.environ["LOOMWORKS_DATABASE_URL"] = url
        os.environ.setdefault(MULTIPROC_ENV, metrics_dir)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextmanager
def _background_thread(
    settings: Settings, url: str, background: Sequence[BackgroundWork]
) -> Iterator[None]:
    """Run `background` on an event loop in a daemon thread for the duration of the block;
    the supervisor owns the main thread (it waits on signals there)."""
    if not background:
        yield
        return
    loop = asyncio.new_event_loop()
    main = loop.create_task(_run_background(settings, url, background))
    thread = threading.Thread(
        target=loop.run_until_complete, args=(main,), name="background", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(main.cancel)
        thread.join(BACKGROUND_STOP_SECONDS)
        if not thread.is_alive():
            loop.close()


async def _run_background(
    settings: Settings, url: str, background: Sequence[BackgroundWork]
) -> None:
    engine = create_engine(url, pool_size=1, timeouts=DatabaseTimeouts.for_service(settings))
    try:
        await asyncio.gather(*(work(engine) for work in background))
    except asyncio.CancelledError:
        pass
    finally:
        try:
            async with asyncio.timeout(settings.db_connect_timeout_seconds):
                await engine.dispose()
        except TimeoutError:
            pass  # a hung database must not keep the parent from stopping it
