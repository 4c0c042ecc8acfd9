"""Opaque, signed page cursors: the full-precision recency key, the id tie-breaker and the list
they page through (a zone, or an engagement's decision history).

A cursor is base64url(version | list | key in epoch microseconds | item id | filter digest |
HMAC tag), signed with the installation's key (table instance_secrets), so every worker and
every restart accepts it, and an altered, truncated, other-list or other-filter cursor is
refused with a clear 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from datetime import UTC, datetime, timedelta

from loomworks.api.http.errors import BadCursor
from loomworks.core.rows import Position

_VERSION = 2
# The lists a cursor can page through (zone names, "decisions"), as written into it.
_LISTS: dict[str, int] = {
    "active": 1,
    "needs_you": 2,
    "recent": 3,
    "decisions": 4,
    "my_decisions": 5,
}
_LAYOUT = struct.Struct(">BBq16s4s")
_TAG_BYTES = 12
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MAX_CURSOR_LENGTH = 128


def encode_cursor(key: bytes, listing: str, position: Position, bound_to: str = "") -> str:
    """`bound_to` names what else the list was narrowed by (its filters): the cursor is only
    accepted with the same."""
    micros = (position.key - _EPOCH) // _MICROSECOND
    payload = _LAYOUT.pack(
        _VERSION, _LISTS[listing], micros, position.item_id.bytes, _digest(bound_to)
    )
    token = payload + _tag(key, payload)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode()


def decode_cursor(key: bytes, listing: str, cursor: str, bound_to: str = "") -> Position:
    """The position a cursor stands for; BadCursor for anything this list did not issue."""
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise BadCursor("Malformed cursor: pass next_cursor from a previous page unchanged.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise BadCursor("Malformed cursor: it is not valid base64url.") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != cursor:
        # Non-canonical spellings (stray bits in the last character) are altered cursors too.
        raise BadCursor("Invalid cursor: it was altered or not issued by this service.")
    payload, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    if len(raw) != _LAYOUT.size + _TAG_BYTES or not hmac.compare_digest(tag, _tag(key, payload)):
        raise BadCursor("Invalid cursor: it was altered or not issued by this service.")
    version, zone_code, micros, item_id, digest = _LAYOUT.unpack(payload)
    if version != _VERSION:
        raise BadCursor("Expired cursor format: start again from the first page.")
    if zone_code != _LISTS[listing]:
        raise BadCursor(f"This cursor belongs to another dashboard zone or list, not '{listing}'.")
    if digest != _digest(bound_to):
        raise BadCursor("This cursor was issued under other filters: start again from page one.")
    try:
        moment = _EPOCH + micros * _MICROSECOND
    except OverflowError:
        raise BadCursor("Invalid cursor: its position is out of range.") from None
    return Position(key=moment, item_id=uuid.UUID(bytes=item_id))


def _digest(bound_to: str) -> bytes:
    return hashlib.blake2b(bound_to.encode(), digest_size=4).digest()


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_TAG_BYTES]
