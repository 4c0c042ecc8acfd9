"""Persons, sessions and memberships: the identity side of the substrate, and what disabling a
person ends at once, whoever does it (a trigger on persons.disabled_at)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import Designation
from loomworks.core.webhooks import OWNER_DISABLED, DeliveryState
from loomworks.db.tables import (
    decisions,
    engagement_memberships,
    engagements,
    persons,
    sessions,
)
from loomworks.platform.security import hash_password, new_session_token, token_hash


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    email: str
    display_name: str
    created_at: datetime
    # Where their last decision ended in the primary's WAL (None: never decided); a replica
    # serves their reads only once it has replayed this far (loomworks.db.replicas).
    written_lsn: int | None = None


@dataclass(frozen=True)
class Membership:
    engagement_id: uuid.UUID
    engagement_name: str
    designation: Designation


PERSON_COLUMNS = (
    persons.c.id,
    persons.c.email,
    persons.c.display_name,
    persons.c.created_at,
    persons.c.written_lsn,
)


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_person(
    conn: AsyncConnection, *, email: str, display_name: str, password: str | None
) -> Person | None:
    """Insert a person; None when the email is already taken."""
    row = (
        await conn.execute(
            pg_insert(persons)
            .values(
                email=normalise_email(email),
                display_name=display_name,
                password_hash=hash_password(password) if password else None,
            )
            .on_conflict_do_nothing(index_elements=[persons.c.email])
            .returning(*PERSON_COLUMNS)
        )
    ).one_or_none()
    return Person(*row) if row else None


async def person_by_email(conn: AsyncConnection, email: str) -> Person | None:
    row = (
        await conn.execute(select(*PERSON_COLUMNS).where(persons.c.email == normalise_email(email)))
    ).one_or_none()
    return Person(*row) if row else None


@dataclass(frozen=True)
class Credentials:
    """What a sign-in checks: the person (None for an unknown email) and their hash."""

    person: Person | None
    password_hash: str | None


async def credentials_for(conn: AsyncConnection, email: str) -> Credentials:
    row = (
        await conn.execute(
            select(*PERSON_COLUMNS, persons.c.password_hash).where(
                persons.c.email == normalise_email(email), persons.c.disabled_at.is_(None)
            )
        )
    ).one_or_none()
    if row is None:
        return Credentials(None, None)
    return Credentials(Person(*row[:-1]), row.password_hash)


class PersonDisabled(Exception):
    """A session or token was asked for a person who is disabled (or gone)."""


def while_enabled(person_id: uuid.UUID, *values: ColumnElement[Any]) -> Select[Any]:
    """The person's id and `values`, one row while they are not disabled (none otherwise): what
    a credential (a session, a token) is inserted from. The person's row is read FOR SHARE, so
    a disabling under way is waited for and then seen, and one that starts later waits for the
    credential, which its trigger then revokes (DISABLED_FUNCTION_SQL)."""
    return (
        select(persons.c.id, *values)
        .where(persons.c.id == person_id, persons.c.disabled_at.is_(None))
        .with_for_update(read=True)
    )


async def issue_session(conn: AsyncConnection, *, person_id: uuid.UUID, lifetime: timedelta) -> str:
    """Create a session and return its token; only the token's hash is stored. Never for a
    disabled person (PersonDisabled): enabling them again would make it valid."""
    token = new_session_token()
    issued = await conn.execute(
        insert(sessions)
        .from_select(
            ["person_id", "token_hash", "expires_at"],
            while_enabled(person_id, literal(token_hash(token), Text), func.now() + lifetime),
        )
        .returning(sessions.c.id)
    )
    if issued.first() is None:
        raise PersonDisabled()
    return token


def _signed_in(hashed: ColumnElement[str] | str) -> list[ColumnElement[bool]]:
    """The live session whose token hashes to `hashed`, of a person not disabled (sessions
    joined to persons)."""
    return [sessions.c.token_hash == hashed, *_valid(), persons.c.disabled_at.is_(None)]


async def person_for_token(conn: AsyncConnection, token: str) -> Person | None:
    """The person behind a live session token (not revoked, not expired), unless disabled."""
    row = (
        await conn.execute(
            select(*PERSON_COLUMNS)
            .join(sessions, sessions.c.person_id == persons.c.id)
            .where(*_signed_in(token_hash(token)))
        )
    ).one_or_none()
    return Person(*row) if row else None


def session_person(hashed: ColumnElement[str]) -> Select[tuple[uuid.UUID]]:
    """person_for_token as a query for the session whose token hashes to `hashed`: what a
    dashboard statement checks a session by (db/dashboard.py, one round trip)."""
    return (
        select(sessions.c.person_id)
        .join(persons, persons.c.id == sessions.c.person_id)
        .where(*_signed_in(hashed))
    )


async def revoke_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(
        update(sessions)
        .where(sessions.c.token_hash == token_hash(token), sessions.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def memberships_of(conn: AsyncConnection, *, person_id: uuid.UUID) -> list[Membership]:
    rows = await conn.execute(
        select(
            engagements.c.id,
            engagements.c.name,
            engagement_memberships.c.designation,
        )
        .join(engagement_memberships, engagement_memberships.c.engagement_id == engagements.c.id)
        .where(engagement_memberships.c.person_id == person_id)
        .order_by(engagements.c.name, engagements.c.id)
    )
    return [Membership(row.id, row.name, Designation(row.designation)) for row in rows]


async def membership_in(
    conn: AsyncConnection, *, person_id: uuid.UUID, engagement_id: uuid.UUID
) -> Membership | None:
    row = (
        await conn.execute(
            select(engagements.c.id, engagements.c.name, engagement_memberships.c.designation)
            .join(
                engagement_memberships,
                engagement_memberships.c.engagement_id == engagements.c.id,
            )
            .where(
                engagement_memberships.c.person_id == person_id,
                engagements.c.id == engagement_id,
            )
        )
    ).one_or_none()
    return Membership(row.id, row.name, Designation(row.designation)) if row else None


async def all_persons(conn: AsyncConnection) -> list[Person]:
    rows = await conn.execute(select(*PERSON_COLUMNS).order_by(persons.c.email))
    return [Person(*row) for row in rows]


async def set_password(conn: AsyncConnection, *, person_id: uuid.UUID, password: str) -> None:
    await conn.execute(
        update(persons)
        .where(persons.c.id == person_id)
        .values(password_hash=hash_password(password))
    )


async def revoke_sessions_of(conn: AsyncConnection, *, person_id: uuid.UUID) -> int:
    """Sign a person out everywhere; how many live sessions that ended."""
    ended = await conn.execute(
        update(sessions)
        .where(_live(person_id))
        .values(revoked_at=func.now())
        .returning(sessions.c.id)
    )
    return len(ended.all())


@dataclass(frozen=True)
class SessionRow:
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    current: bool


def _valid() -> list[ColumnElement[bool]]:
    """A session neither revoked nor expired."""
    return [sessions.c.revoked_at.is_(None), sessions.c.expires_at > func.now()]


def _live(person_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(sessions.c.person_id == person_id, *_valid())


async def live_sessions(
    conn: AsyncConnection, *, person_id: uuid.UUID, current_token: str
) -> list[SessionRow]:
    """A person's valid sessions, newest first, marking the one `current_token` belongs to."""
    rows = await conn.execute(
        select(
            sessions.c.id,
            sessions.c.created_at,
            sessions.c.expires_at,
            (sessions.c.token_hash == token_hash(current_token)).label("current"),
        )
        .where(_live(person_id))
        .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
    )
    return [SessionRow(*row) for row in rows]


async def end_session(
    conn: AsyncConnection, *, person_id: uuid.UUID, session_id: uuid.UUID
) -> bool:
    """Revoke one of the person's valid sessions; False when they have no such session."""
    ended = await conn.execute(
        update(sessions)
        .where(_live(person_id), sessions.c.id == session_id)
        .values(revoked_at=func.now())
        .returning(sessions.c.id)
    )
    return ended.one_or_none() is not None


async def end_other_sessions(
    conn: AsyncConnection, *, person_id: uuid.UUID, current_token: str
) -> int:
    """Revoke every valid session of the person but the current one; how many ended."""
    ended = await conn.execute(
        update(sessions)
        .where(_live(person_id), sessions.c.token_hash != token_hash(current_token))
        .values(revoked_at=func.now())
        .returning(sessions.c.id)
    )
    return len(ended.all())


# Disabling a person, by `loomworks person disable` or any UPDATE of persons.disabled_at,
# ends in the same transaction their live sessions and personal access tokens (sign-in and
# every check also refuse a disabled person, but only revoking keeps them ended once
# disabled_at is cleared again, by whatever means) and their webhooks' pending deliveries,
# and switches the webhooks off, so nothing queued or waiting for a retry is sent afterwards
# (the sender also checks at send time: db/webhooks.py). Enabling them again revives none of
# it: they sign in anew, make new tokens, and ping each webhook to resume it (their
# deliberate act; what happened meanwhile is never replayed). Deliveries first, then
# webhooks: the order the sender's recorder locks them in. Migrations 0018 and 0019 install
# frozen copies; tests/db/test_migrations.py compares the newest with this.
if "'" in OWNER_DISABLED:
    raise AssertionError("OWNER_DISABLED is written into SQL as a literal")
DISABLED_FUNCTION_SQL = f"""\
CREATE OR REPLACE FUNCTION person_disabled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_deliveries d
    SET state = '{DeliveryState.FAILED}', completed_at = now()
    FROM webhooks w
    WHERE w.id = d.webhook_id AND w.person_id = NEW.id AND d.state = '{DeliveryState.PENDING}';
    UPDATE webhooks
    SET active = false, deactivated_at = now(), deactivated_reason = '{OWNER_DISABLED}'
    WHERE person_id = NEW.id AND active;
    UPDATE sessions SET revoked_at = now()
    WHERE person_id = NEW.id AND revoked_at IS NULL AND expires_at > now();
    UPDATE access_tokens SET revoked_at = now()
    WHERE person_id = NEW.id AND revoked_at IS NULL AND expires_at > now();
    RETURN NULL;
END
$$"""  # noqa: S608 (constants of the code, never input)
DISABLED_TRIGGER_SQL = (
    "CREATE TRIGGER person_disabled AFTER UPDATE OF disabled_at ON persons "
    "FOR EACH ROW WHEN (NEW.disabled_at IS NOT NULL) "
    "EXECUTE FUNCTION person_disabled()"
)


async def count_live_sessions(conn: AsyncConnection, *, person_id: uuid.UUID) -> int:
    """How many of the person's sessions are live (what disabling them would end)."""
    found = await conn.scalar(select(func.count()).select_from(sessions).where(_live(person_id)))
    return int(found or 0)


async def set_disabled(conn: AsyncConnection, *, person_id: uuid.UUID, disabled: bool) -> None:
    """Disable a person (no sign-in; the trigger above ends their sessions and tokens and
    switches their webhooks off) or let them sign in again (what disabling ended stays
    ended)."""
    await conn.execute(
        update(persons)
        .where(persons.c.id == person_id)
        .values(disabled_at=func.now() if disabled else None)
    )


async def decisions_by(conn: AsyncConnection, *, person_id: uuid.UUID) -> int:
    """How many decisions the person has on record (history that keeps them from removal)."""
    count = await conn.execute(
        select(func.count()).select_from(decisions).where(decisions.c.person_id == person_id)
    )
    return int(count.scalar_one())


async def remove_person(conn: AsyncConnection, *, person_id: uuid.UUID) -> None:
    """Delete the person, their sessions and memberships (cascades)."""
    await conn.execute(delete(persons).where(persons.c.id == person_id))
