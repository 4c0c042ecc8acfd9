"""The async engine: libpq-form URLs in (platform/urls.py), an asyncpg-backed engine out."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from loomworks.platform.settings import Settings
from loomworks.platform.urls import async_url


def read_json(text: str) -> Any:
    """A JSON value read from the database, whatever job code stored. PostgreSQL keeps numbers
    and nesting that Python's parsers refuse, and one such document must not fail the whole
    statement (everyone sharing that job's engagement would get a 500): an integer too long
    for Python reads as a float (infinity), which no reader takes for a count, and a document
    nested deeper than Python recurses reads as null (absent). orjson reads the usual small
    documents (docs/benchmarks.md, step 12); its refusals go the slow way."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text, parse_int=_int_or_float)
    except RecursionError:
        return None


def _int_or_float(digits: str) -> int | float:
    try:
        return int(digits)
    except ValueError:  # more than sys.get_int_max_str_digits() digits
        return float(digits)


class DatabaseTimeouts(NamedTuple):
    """How long to wait on the database, in seconds, before calling it unavailable."""

    connect: float
    # None: statements run as long as they need (migrations and other tools).
    statement: float | None
    pool: float

    @classmethod
    def for_service(cls, settings: Settings) -> DatabaseTimeouts:
        return cls(
            connect=settings.db_connect_timeout_seconds,
            statement=settings.db_statement_timeout_seconds,
            pool=settings.db_pool_timeout_seconds,
        )


TOOL_TIMEOUTS = DatabaseTimeouts(connect=10.0, statement=None, pool=30.0)

# A hung server never enforces its own statement_timeout, so the client gives up too, this
# much later: a live server's cancel (a clear error) still comes first.
CLIENT_STATEMENT_MARGIN_SECONDS = 0.5


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    timeouts: DatabaseTimeouts = TOOL_TIMEOUTS,
    application_name: str = "loomworks",
) -> AsyncEngine:
    # application_name: what pg_stat_activity shows, so an operator can tell the API's
    # connections ("loomworks-api") from tools' and scripts'.
    server_settings = {"jit": "off", "application_name": application_name}
    # Every query is ours and parameterised; caching prepared statements per connection
    # keeps the dashboard statements from being re-planned on every poll.
    connect_args: dict[str, Any] = {
        "prepared_statement_cache_size": 256,
        # asyncpg's own cache, for the dashboard statements sent to it directly
        # (db/dashboard.py): the largest (needs_you, ~18 KB) is over its 15 KiB default.
        "max_cacheable_statement_size": 64 * 1024,
        "timeout": timeouts.connect,
        "server_settings": server_settings,
    }
    if timeouts.statement is not None:
        server_settings["statement_timeout"] = str(round(timeouts.statement * 1000))
        connect_args["command_timeout"] = timeouts.statement + CLIENT_STATEMENT_MARGIN_SECONDS
    engine = create_async_engine(
        async_url(url),
        json_deserializer=read_json,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeouts.pool,
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "invalidate", _cut_at_once)
    return engine


def _cut_at_once(
    dbapi_connection: Any, record: ConnectionPoolEntry, exception: BaseException | None
) -> None:
    """An invalidated connection (timed out, cancelled, lost) may be to a server that never
    answers again: cut its socket now. SQLAlchemy would first ask it to close politely, and
    wait up to 2 s on a hung server, inside the request that found it hung."""
    driver = record.driver_connection
    if driver is not None:
        driver.terminate()
