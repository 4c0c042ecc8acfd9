"""Sign-in: the failed-login throttle kept in PostgreSQL (so every worker process counts the
same failures) and the password check run off the event loop.

Three brakes, each over the window: failures for one email from one client address (the
pair), from one address, and for one email from anywhere. The last one is lifted for a
browser that holds a device cookie from an earlier sign-in as that person, so wrong
passwords sent from elsewhere cannot lock a person out.

A refused attempt costs one read-only statement and takes no lock: under a flood it waits
on nothing and nothing waits on it. An attempt that may go ahead reserves its failure row
*before* the password is checked, under an advisory lock per client address and per email
(taken by at most one request per process at a time, so at most one pooled connection per
process waits on it), and the row is deleted again when the password was right. So however
many attempts arrive at once, from however many processes, at most the limit of passwords
are checked per window: the throttle has no race margin. A request abandoned while its
password is being checked keeps its row, and counts as a failure.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.people import PersonDisabled, credentials_for, issue_session, normalise_email
from loomworks.db.tables import login_failures, persons
from loomworks.platform.faults import connection
from loomworks.platform.security import verify_password

# Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)); any constants
# that no other code uses. Address before email, always, so two sign-ins never deadlock.
_ADDRESS_LOCK = 0x4C57_0001
_EMAIL_LOCK = 0x4C57_0002
# Expired rows deleted per attempt: enough to keep up with any flood the throttle lets in,
# small enough that no attempt pays for a backlog.
_PRUNE_BATCH = 100


@dataclass(frozen=True)
class LoginLimits:
    per_pair: int  # one email from one client address
    per_address: int
    per_email: int  # from every address; a device cookie of that person lifts it
    window: timedelta


@dataclass
class SignInGates:
    """Per process: how many throttle checks may hold a pooled connection at once (the rest
    wait without one, leaving the pool to everything else), and the one admission at a time
    that may wait on the advisory locks."""

    checks: asyncio.Semaphore
    admission: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def for_pool(cls, pool_size: int) -> SignInGates:
        return cls(asyncio.Semaphore(max(1, pool_size // 4)))


@dataclass(frozen=True)
class Attempt:
    email: str
    client_address: str
    # The person whose valid device cookie the browser sent, if any.
    device_person_id: uuid.UUID | None = None


@dataclass(frozen=True)
class SignedIn:
    token: str
    person_id: uuid.UUID


@dataclass(frozen=True)
class WrongCredentials:
    pass


@dataclass(frozen=True)
class Throttled:
    retry_after: int  # whole seconds until one more attempt would be checked


@dataclass(frozen=True)
class _Reserved:
    failure_id: uuid.UUID


async def sign_in(
    engine: AsyncEngine,
    attempt: Attempt,
    *,
    password: str,
    limits: LoginLimits,
    gates: SignInGates,
    session_lifetime: timedelta,
    hashing: Executor,
) -> SignedIn | WrongCredentials | Throttled:
    """Check the throttle, then the password, then issue a session.

    No pooled connection waits on a hashing thread, so a flood of sign-ins cannot starve
    the dashboard of connections."""
    attempt = Attempt(
        normalise_email(attempt.email), attempt.client_address, attempt.device_person_id
    )
    async with gates.checks, connection(engine) as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        refused = await throttled(conn, attempt, limits)
    if refused is not None:
        return refused
    async with gates.admission, engine.begin() as conn:
        reserved = await _reserve_attempt(conn, attempt, limits)
        if isinstance(reserved, Throttled):
            return reserved
        credentials = await credentials_for(conn, attempt.email)
    # Unknown emails are checked against a dummy hash, at the same cost as a wrong password.
    matches = await asyncio.get_running_loop().run_in_executor(
        hashing, verify_password, password, credentials.password_hash
    )
    if not matches or credentials.person is None:
        return WrongCredentials()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                delete(login_failures).where(login_failures.c.id == reserved.failure_id)
            )
            token = await issue_session(
                conn, person_id=credentials.person.id, lifetime=session_lifetime
            )
    except PersonDisabled:  # disabled since their credentials were read: the failure stays
        return WrongCredentials()
    return SignedIn(token, credentials.person.id)


async def throttled(
    conn: AsyncConnection, attempt: Attempt, limits: LoginLimits
) -> Throttled | None:
    """One read-only statement: Throttled while any brake holds, with the seconds until the
    latest of them releases. It reads at most `limit` entries of an index per brake."""
    cutoff: ColumnElement[Any] = func.now() - limits.window
    email, address = login_failures.c.email, login_failures.c.client_address
    exempt: ColumnElement[bool] = literal(False)
    if attempt.device_person_id is not None:
        person = select(persons.c.id).where(persons.c.email == attempt.email).scalar_subquery()
        exempt = person == attempt.device_person_id
    by_email = _nth_newest(email == attempt.email, limits.per_email, cutoff)
    row = (
        await conn.execute(
            select(
                func.now(),
                func.greatest(
                    _nth_newest(
                        (email == attempt.email) & (address == attempt.client_address),
                        limits.per_pair,
                        cutoff,
                    ),
                    _nth_newest(address == attempt.client_address, limits.per_address, cutoff),
                    case((exempt, None), else_=by_email),
                ).label("blocking"),
            )
        )
    ).one()
    if row.blocking is None:
        return None
    return Throttled(_seconds_until(row.blocking + limits.window, row.now))


async def _reserve_attempt(
    conn: AsyncConnection, attempt: Attempt, limits: LoginLimits
) -> _Reserved | Throttled:
    """Throttled, or a failure row recorded for this attempt (in the caller's transaction)."""
    for lock_class, key in ((_ADDRESS_LOCK, attempt.client_address), (_EMAIL_LOCK, attempt.email)):
        await conn.execute(select(func.pg_advisory_xact_lock(lock_class, func.hashtext(key))))
    refused = await throttled(conn, attempt, limits)
    if refused is not None:
        return refused
    failure_id: uuid.UUID = (
        await conn.execute(
            insert(login_failures)
            .values(email=attempt.email, client_address=attempt.client_address)
            .returning(login_failures.c.id)
        )
    ).scalar_one()
    await _prune(conn, func.now() - limits.window)
    return _Reserved(failure_id)


def _nth_newest(
    where: ColumnElement[bool], limit: int, cutoff: ColumnElement[Any]
) -> ColumnElement[datetime]:
    """The limit-th newest failure in the window: while it exists, the limit is reached, and
    when it leaves the window one more attempt may be checked (the Retry-After moment)."""
    nth: Select[tuple[datetime]] = (
        select(login_failures.c.failed_at)
        .where(where, login_failures.c.failed_at > cutoff)
        .order_by(login_failures.c.failed_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    return nth.scalar_subquery()


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


async def _prune(conn: AsyncConnection, cutoff: ColumnElement[Any]) -> None:
    """Delete a bounded batch of expired failures, so the table stays the size of a window."""
    expired = (
        select(login_failures.c.id)
        .where(login_failures.c.failed_at <= cutoff)
        .limit(_PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await conn.execute(delete(login_failures).where(login_failures.c.id.in_(expired)))
