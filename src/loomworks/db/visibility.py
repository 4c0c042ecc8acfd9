"""Who sees what, as SQL: written from core/access.py and each zone's audience (core/zones.py),
so the statements and the Python checks cannot disagree. Designations are literal SQL (our
own constants), so PostgreSQL plans them like any other constant."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Text, false, literal_column, or_, true

from loomworks.core.access import ADMITTED, Audience
from loomworks.core.kinds import sources_in
from loomworks.core.states import Designation, Zone
from loomworks.core.webhooks import EVENT_ZONE, audience_of_event
from loomworks.core.zones import audience_of


def _literals(values: list[str]) -> list[ColumnElement[str]]:
    return [literal_column(f"'{value}'", Text) for value in values]


def admitted(designation: ColumnElement[str], audience: Audience) -> ColumnElement[bool]:
    """The membership's designation lets it see what `audience` sees."""
    if set(ADMITTED[audience]) == set(Designation):
        return true()
    return designation.in_(_literals(list(ADMITTED[audience])))


def sees_zone(designation: ColumnElement[str], zone: Zone) -> ColumnElement[bool]:
    return admitted(designation, audience_of(zone))


def _seen(
    column: ColumnElement[str],
    designation: ColumnElement[str],
    values_of: Callable[[Zone], list[str]],
) -> ColumnElement[bool]:
    clauses = []
    for audience in Audience:
        values = [
            value for zone in Zone if audience_of(zone) == audience for value in values_of(zone)
        ]
        if values:
            clauses.append(column.in_(_literals(values)) & admitted(designation, audience))
    return or_(false(), *clauses)


def kind_seen(
    item_kind: ColumnElement[str], designation: ColumnElement[str]
) -> ColumnElement[bool]:
    """An item kind's counters are seen by the membership: its zone's audience admits it."""
    return _seen(item_kind, designation, lambda zone: [s.kind.value for s in sources_in(zone)])


def zone_seen(zone: ColumnElement[str], designation: ColumnElement[str]) -> ColumnElement[bool]:
    return _seen(zone, designation, lambda z: [z.value])


def event_seen(event: ColumnElement[str], designation: ColumnElement[str]) -> ColumnElement[bool]:
    """A webhook event about an engagement reaches a member of it whose designation its
    zone's audience admits (needs_you.arrived: never a viewer)."""
    return or_(
        false(),
        *(
            (event == literal_column(f"'{kind}'", Text))
            & admitted(designation, audience_of_event(kind))
            for kind in EVENT_ZONE
        ),
    )
