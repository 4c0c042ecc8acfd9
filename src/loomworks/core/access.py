"""Who may do what in an engagement: the one place that says it. The Python checks (a viewer's
403, the live hub's fan-out) call these; the SQL (db/visibility.py) is written from them."""

from __future__ import annotations

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
