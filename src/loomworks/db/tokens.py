"""Personal access tokens: made, listed, revoked, and resolved to their person and scopes.

A token is `lw_` and 43 random characters; only its SHA-256 is stored, so the database never
holds what a request presents. last_used_at is written at most once a minute per token, in
the statement that resolves it, so using a token costs no extra round trip."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Row,
    Select,
    Text,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import TokenScope
from loomworks.db.people import PERSON_COLUMNS, Person, PersonDisabled, while_enabled
from loomworks.db.tables import access_tokens, persons
from loomworks.platform.security import new_session_token, token_hash

TOKEN_PREFIX = "lw_"  # noqa: S105 (a prefix, not a secret)
LAST_USED_EVERY = timedelta(minutes=1)
_LAST_USED_INTERVAL = f"interval '{int(LAST_USED_EVERY.total_seconds())} seconds'"


@dataclass(frozen=True)
class AccessToken:
    id: uuid.UUID
    name: str
    scopes: tuple[TokenScope, ...]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class Bearer:
    """The person a bearer token speaks for, and what it may do."""

    person: Person
    token_id: uuid.UUID
    scopes: frozenset[TokenScope]


_columns = (
    access_tokens.c.id,
    access_tokens.c.name,
    access_tokens.c.scopes,
    access_tokens.c.created_at,
    access_tokens.c.expires_at,
    access_tokens.c.last_used_at,
)


def _token(row: Row[Any, Any, Any, Any, Any, Any]) -> AccessToken:
    return AccessToken(
        row.id,
        row.name,
        tuple(TokenScope(scope) for scope in row.scopes),
        row.created_at,
        row.expires_at,
        row.last_used_at,
    )


def _live() -> list[ColumnElement[bool]]:
    return [access_tokens.c.revoked_at.is_(None), access_tokens.c.expires_at > func.now()]


def _use_noted(which: ColumnElement[bool]) -> CTE:
    """Notes the use of the live token `which` selects, at most once a LAST_USED_EVERY: a
    writing CTE (RETURNING its id), so the statement that checks the token notes it too."""
    last_used = access_tokens.c.last_used_at
    return (
        update(access_tokens)
        .where(
            which,
            *_live(),
            or_(last_used.is_(None), last_used < func.now() - literal_column(_LAST_USED_INTERVAL)),
        )
        .values(last_used_at=func.now())
        .returning(access_tokens.c.id)
        .cte("touched")
    )


def token_person(hashed: ColumnElement[str]) -> Select[tuple[uuid.UUID]]:
    """The person of the live token whose secret hashes to `hashed`, unless disabled: what a
    dashboard statement checks a bearer token by (db/dashboard.py, one round trip)."""
    return (
        select(access_tokens.c.person_id)
        .join(persons, persons.c.id == access_tokens.c.person_id)
        .where(access_tokens.c.token_hash == hashed, *_live(), persons.c.disabled_at.is_(None))
    )


def token_use_noted(hashed: ColumnElement[str]) -> CTE:
    return _use_noted(access_tokens.c.token_hash == hashed)


async def create_token(
    conn: AsyncConnection,
    *,
    person_id: uuid.UUID,
    name: str,
    scopes: tuple[TokenScope, ...],
    lifetime: timedelta,
) -> tuple[AccessToken, str]:
    """A new token and its secret (shown once; only the hash is kept). Never for a disabled
    person (PersonDisabled), as sessions (db/people.while_enabled)."""
    secret = TOKEN_PREFIX + new_session_token()
    row = (
        await conn.execute(
            insert(access_tokens)
            .from_select(
                ["person_id", "name", "token_hash", "scopes", "expires_at"],
                while_enabled(
                    person_id,
                    literal(name, Text),
                    literal(token_hash(secret), Text),
                    literal([str(scope) for scope in scopes], access_tokens.c.scopes.type),
                    func.now() + lifetime,
                ),
            )
            .returning(*_columns)
        )
    ).one_or_none()
    if row is None:
        raise PersonDisabled()
    return _token(row), secret


async def tokens_of(conn: AsyncConnection, *, person_id: uuid.UUID) -> list[AccessToken]:
    """A person's live tokens (not revoked, not expired), newest first."""
    rows = await conn.execute(
        select(*_columns)
        .where(access_tokens.c.person_id == person_id, *_live())
        .order_by(access_tokens.c.created_at.desc(), access_tokens.c.id.desc())
    )
    return [_token(row) for row in rows]


async def revoke_token(conn: AsyncConnection, *, person_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    """False when the person has no live token with that id."""
    revoked = await conn.execute(
        update(access_tokens)
        .where(
            access_tokens.c.id == token_id,
            access_tokens.c.person_id == person_id,
            *_live(),
        )
        .values(revoked_at=func.now())
        .returning(access_tokens.c.id)
    )
    return revoked.one_or_none() is not None


async def count_live_tokens(conn: AsyncConnection, *, person_id: uuid.UUID) -> int:
    """How many of the person's tokens are live (what disabling them would end)."""
    found = await conn.scalar(
        select(func.count())
        .select_from(access_tokens)
        .where(access_tokens.c.person_id == person_id, *_live())
    )
    return int(found or 0)


async def revoke_tokens_of(conn: AsyncConnection, *, person_id: uuid.UUID) -> int:
    """End every live token of a person (disabled or removed); how many that ended."""
    ended = await conn.execute(
        update(access_tokens)
        .where(access_tokens.c.person_id == person_id, *_live())
        .values(revoked_at=func.now())
        .returning(access_tokens.c.id)
    )
    return len(ended.all())


async def bearer_for(conn: AsyncConnection, secret: str) -> Bearer | None:
    """The live token behind `secret` with its person, in one statement that also notes its
    use (at most once a minute). `secret` has the token's form (api/deps/session.py checks
    it before asking)."""
    found = (
        select(access_tokens.c.id, access_tokens.c.scopes)
        .where(access_tokens.c.token_hash == token_hash(secret), *_live())
        .cte("found")
    )
    touched = _use_noted(access_tokens.c.id == found.c.id)
    noted = select(func.count()).select_from(touched).scalar_subquery()
    row = (
        await conn.execute(
            select(*PERSON_COLUMNS, found.c.id, found.c.scopes, noted)
            .join_from(found, access_tokens, access_tokens.c.id == found.c.id)
            .join(persons, persons.c.id == access_tokens.c.person_id)
            .where(persons.c.disabled_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    *person, token_id, scopes, touched_rows = row
    if touched_rows:
        # Keep the note of use: this runs first on the request's connection, so nothing
        # else of the request is committed with it.
        await conn.commit()
    return Bearer(Person(*person), token_id, frozenset(TokenScope(s) for s in scopes))
