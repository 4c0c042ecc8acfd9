"""Password hashing and session tokens: what is stored is never what the client holds."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(),))


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email costs as much as a wrong
    password. Made on first use, not at import: a command that checks no password (most of
    the CLI) does not spend a quarter of a second of argon2 on it."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _dummy_hash())
        return False
    try:
        return _hasher.verify(password, password_hash)
    except ValueError:
        # A malformed stored hash must read as "wrong password", never as a server error.
        return False


def hashing_pool(workers: int) -> ThreadPoolExecutor:
    """Threads for password checks: at most `workers` argon2 runs at once (each takes a core
    for ~0.25 s), and at the lowest CPU priority, so that under a flood of sign-ins the event
    loop serving everything else still gets the CPU when it needs it; sign-ins queue instead."""
    pool = ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="password-hash", initializer=_lowest_priority
    )
    # The service makes its dummy hash at start-up, in the background, so its first unknown
    # email costs one verification like any other sign-in.
    pool.submit(_dummy_hash)
    return pool


def _lowest_priority() -> None:
    # Linux keeps a nice value per thread (setpriority on the thread id); elsewhere that call
    # would name a process, so the threads keep the normal priority there.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a session token: the lower-case hex SHA-256 of the cookie's token."""
    return hashlib.sha256(token.encode()).hexdigest()
