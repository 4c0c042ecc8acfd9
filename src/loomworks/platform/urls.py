"""Database URLs: any libpq-form PostgreSQL URL in, the asyncpg URL the engine uses out."""

from __future__ import annotations

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError


class BadDatabaseURL(ValueError):
    """The configured database URL is not a PostgreSQL URL we can use."""


def async_url(url: str) -> URL:
    """Turn any libpq-style PostgreSQL URL (including `?host=/socket/dir`) into an asyncpg URL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise BadDatabaseURL(f"not a database URL: {url!r}") from exc
    backend = parsed.drivername.split("+", 1)[0]
    if backend not in ("postgresql", "postgres"):
        raise BadDatabaseURL(f"not a PostgreSQL URL (scheme {parsed.drivername!r})")
    query = dict(parsed.query)
    # asyncpg spells libpq's sslmode as ssl; other libpq-only options would be rejected by it.
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return parsed.set(drivername="postgresql+asyncpg", query=query)
