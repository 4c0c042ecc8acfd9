"""Password hashing, session tokens and signed device cookies: what is stored is never what
the client holds."""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import os
import secrets
import struct
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

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


def new_webhook_secret() -> str:
    """A webhook's signing secret: 256 random bits, recognisable by its prefix."""
    return "lwhook_" + secrets.token_urlsafe(32)


# --- device cookies --------------------------------------------------------------------------
# Set at a successful sign-in; a browser that holds one for a person is exempt from that
# person's per-email sign-in brake (not from the per-address ones). Value:
# base64url(person id | expiry as epoch seconds) "." base64url(HMAC-SHA256 tag, 16 bytes).
DEVICE_COOKIE_LIFETIME = timedelta(days=90)
_DEVICE_LAYOUT = struct.Struct(">16sq")
_DEVICE_TAG_BYTES = 16
MAX_DEVICE_COOKIE_LENGTH = 128


def device_key(installation_key: bytes) -> bytes:
    """A key of its own for device cookies, so no cursor can pass for one (or the reverse)."""
    return hmac.new(installation_key, b"loomworks device cookie", hashlib.sha256).digest()


def device_cookie(key: bytes, person_id: uuid.UUID, *, now: datetime) -> str:
    expires = int((now + DEVICE_COOKIE_LIFETIME).timestamp())
    payload = _DEVICE_LAYOUT.pack(person_id.bytes, expires)
    return f"{_b64(payload)}.{_b64(_device_tag(key, payload))}"


def device_person(key: bytes, value: str | None, *, now: datetime) -> uuid.UUID | None:
    """The person a device cookie was issued to; None unless it is genuine and unexpired."""
    if not value or len(value) > MAX_DEVICE_COOKIE_LENGTH or value.count(".") != 1:
        return None
    encoded_payload, encoded_tag = value.split(".")
    try:
        payload, tag = _unb64(encoded_payload), _unb64(encoded_tag)
    except (binascii.Error, ValueError):
        return None
    if len(payload) != _DEVICE_LAYOUT.size or not hmac.compare_digest(
        tag, _device_tag(key, payload)
    ):
        return None
    person, expires = _DEVICE_LAYOUT.unpack(payload)
    return uuid.UUID(bytes=person) if expires > now.timestamp() else None


def _device_tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_DEVICE_TAG_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
