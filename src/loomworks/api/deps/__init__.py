"""The typed dependencies routes take, by concern: what the app holds (connections), who is
calling (session), where a read runs (reads) and the caller's membership (membership)."""

from loomworks.api.deps.connections import (
    AppSettings,
    Conn,
    CursorKey,
    DeviceKey,
    Engine,
    Gates,
    Hashing,
    Hub,
    Stopping,
)
from loomworks.api.deps.membership import (
    DecidingMember,
    Member,
    ReadMember,
    Undoing,
    deciding_member,
    engagement_member,
)
from loomworks.api.deps.reads import (
    DashboardRead,
    ReadConn,
    ReadEngines,
    ReplicaFallback,
    WriteFence,
)
from loomworks.api.deps.session import (
    SESSION_COOKIE,
    CurrentPerson,
    SessionToken,
    StreamCaller,
    StreamSession,
)

__all__ = [
    "SESSION_COOKIE",
    "AppSettings",
    "Conn",
    "CurrentPerson",
    "CursorKey",
    "DashboardRead",
    "DecidingMember",
    "DeviceKey",
    "Engine",
    "Gates",
    "Hashing",
    "Hub",
    "Member",
    "ReadConn",
    "ReadEngines",
    "ReadMember",
    "ReplicaFallback",
    "SessionToken",
    "Stopping",
    "StreamCaller",
    "StreamSession",
    "Undoing",
    "WriteFence",
    "deciding_member",
    "engagement_member",
]
