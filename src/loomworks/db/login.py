"""Sign-in: the failed-login throttle kept in PostgreSQL (so every worker process counts the
same failures) and the password check run off the event loop.

A failure row is written *before* the password is checked, under an advisory lock per client
address and per email, and deleted again when the password was right. So however many
attempts arrive at once, from however many processes, at most the limit of passwords are
checked per window: the throttle has no race margin. A request abandoned while its password
is being checked keeps its row, and counts as a failure.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.db.people import credentials_for, issue_session, normalise_email
from loomworks.db.tables import login_failures
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
    per_email: int
    per_address: int
    window: timedelta


@dataclass(frozen=True)
class SignedIn:
    token: str


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
    *,
    email: str,
    password: str,
    client_address: str,
    limits: LoginLimits,
    session_lifetime: timedelta,
    hashing: Executor,
) -> SignedIn | WrongCredentials | Throttled:
    """Check the throttle, then the password, then issue a session.

    Two short transactions with the password check between them: no pooled connection waits
    on a hashing thread, so a flood of sign-ins cannot starve the dashboard of connections."""
    email = normalise_email(email)
    async with engine.begin() as conn:
        reserved = await _reserve_attempt(
            conn, email=email, client_address=client_address, limits=limits
        )
        if isinstance(reserved, Throttled):
            return reserved
        credentials = await credentials_for(conn, email)
    # Unknown emails are checked against a dummy hash, at the same cost as a wrong password.
    matches = await asyncio.get_running_loop().run_in_executor(
        hashing, verify_password, password, credentials.password_hash
    )
    if not matches or credentials.person is None:
        return WrongCredentials()
    async with engine.begin() as conn:
        await conn.execute(delete(login_failures).where(login_failures.c.id == reserved.failure_id))
        token = await issue_session(
            conn, person_id=credentials.person.id, lifetime=session_lifetime
        )
    return SignedIn(token)


async def _reserve_attempt(
    conn: AsyncConnection, *, email: str, client_address: str, limits: LoginLimits
) -> _Reserved | Throttled:
    """Throttled, or a failure row recorded for this attempt (in the caller's transaction)."""
    for lock_class, key in ((_ADDRESS_LOCK, client_address), (_EMAIL_LOCK, email)):
        await conn.execute(select(func.pg_advisory_xact_lock(lock_class, func.hashtext(key))))
    cutoff: ColumnElement[Any] = func.now() - limits.window
    now, email_nth, address_nth = (
        await conn.execute(
            select(
                func.now(),
                _nth_newest(
                    login_failures.c.email, email, limits.per_email, cutoff
                ).scalar_subquery(),
                _nth_newest(
                    login_failures.c.client_address, client_address, limits.per_address, cutoff
                ).scalar_subquery(),
            )
        )
    ).one()
    blocking = [failed_at for failed_at in (email_nth, address_nth) if failed_at is not None]
    if blocking:
        return Throttled(_seconds_until(max(blocking) + limits.window, now))
    failure_id: uuid.UUID = (
        await conn.execute(
            insert(login_failures)
            .values(email=email, client_address=client_address)
            .returning(login_failures.c.id)
        )
    ).scalar_one()
    await _prune(conn, cutoff)
    return _Reserved(failure_id)


def _nth_newest(
    column: ColumnElement[str], value: str, limit: int, cutoff: ColumnElement[Any]
) -> Select[tuple[datetime]]:
    """The limit-th newest failure in the window: while it exists, the limit is reached, and
    when it leaves the window one more attempt may be checked (the Retry-After moment). Reads
    at most `limit` entries of the (column, failed_at) index."""
    return (
        select(login_failures.c.failed_at)
        .where(column == value, login_failures.c.failed_at > cutoff)
        .order_by(login_failures.c.failed_at.desc())
        .offset(limit - 1)
        .limit(1)
    )


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
