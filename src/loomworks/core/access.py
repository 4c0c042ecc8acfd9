"""Who may do what in an engagement: the one place that says it. The Python checks (a viewer's
403, the live hub's fan-out) call these; the SQL (db/visibility.py) is written from them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from loomworks.core.states import Designation

# Who may act on what waits for a decision; a viewer sees the work and decides nothing.
DECIDING_DESIGNATIONS = (Designation.OWNER, Designation.OPERATOR)


class Audience(StrEnum):
    """Who of an engagement's members sees a zone's items."""

    MEMBERS = "members"
    DECIDERS = "deciders"


ADMITTED: dict[Audience, tuple[Designation, ...]] = {
    Audience.MEMBERS: tuple(Designation),
    Audience.DECIDERS: DECIDING_DESIGNATIONS,
}


def may_decide(designation: str) -> bool:
    return designation in DECIDING_DESIGNATIONS


def admits(audience: Audience, designation: str) -> bool:
    return designation in ADMITTED[audience]


@dataclass(frozen=True)
class UndoRule:
    """Who may undo a decision, and until when: only the person who took it, while they may
    still decide in its engagement, once, within `window` of deciding."""

    caller: uuid.UUID
    window: timedelta
    now: datetime

    @classmethod
    def at_once(cls, caller: uuid.UUID, window: timedelta) -> UndoRule:
        return cls(caller, window, datetime.now(UTC))

    def until(
        self,
        *,
        decided_by: uuid.UUID,
        decided_at: datetime,
        undone_at: datetime | None,
        designation: str,
    ) -> datetime | None:
        """When the caller's chance to undo ends; None when they have none (any more)."""
        if undone_at is not None or decided_by != self.caller or not may_decide(designation):
            return None
        until = decided_at + self.window
        return until if until > self.now else None
