"""The dashboard zones, one ZoneSpec each: what rows the zone's statement returns, how a row
becomes an item, which kinds it holds and who sees it. api/routers/dashboard.py makes the
global and per-engagement routes from ZONES; the page reads the same list (GET /registry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic

from loomworks.core import items
from loomworks.core.access import Audience
from loomworks.core.labels import KIND_NAMES
from loomworks.core.rows import ActiveRow, NeedsYouRow, RecentRow, RowT
from loomworks.core.states import ActiveKind, ArtifactKind, NeedsYouKind, Zone


@dataclass(frozen=True)
class ZoneSpec(Generic[RowT]):
    zone: Zone
    row: type[RowT]
    item: Callable[[RowT, items.Moment], items.Item]
    kinds: type[StrEnum]  # what its `kind` filter accepts
    audience: Audience
    title: str  # what the page calls it
    empty: str  # what the page says when it holds nothing
    summary: str  # what its route does, across the caller's engagements
    engagement_summary: str  # the same, for one engagement

    @property
    def clock_sensitive(self) -> bool:
        """Active items read the clock (stalled jobs), needs_you items too (overdue); recent
        pages ignore it."""
        return self.zone in (Zone.ACTIVE, Zone.NEEDS_YOU)


ZONES: dict[Zone, ZoneSpec[Any]] = {
    spec.zone: spec
    for spec in (
        ZoneSpec(
            Zone.ACTIVE,
            ActiveRow,
            items.active_item,
            ActiveKind,
            Audience.MEMBERS,
            title="Active",
            empty="Nothing is running right now.",
            summary="Jobs running now in all my engagements, newest first, each with a "
            "truthful progress hint.",
            engagement_summary="Jobs running now in one of my engagements (404 unless I am a "
            "member).",
        ),
        ZoneSpec(
            Zone.NEEDS_YOU,
            NeedsYouRow,
            items.needs_you_item,
            NeedsYouKind,
            Audience.DECIDERS,
            title="Needs you",
            empty="Nothing waits for you.",
            summary="What waits for my decision, newest first; never from engagements where I "
            "am a viewer.",
            engagement_summary="What waits for my decision in one of my engagements (empty "
            "where I am a viewer).",
        ),
        ZoneSpec(
            Zone.RECENT,
            RecentRow,
            items.recent_item,
            ArtifactKind,
            Audience.MEMBERS,
            title="Recent",
            empty="Nothing has been produced yet.",
            summary="Produced renders in all my engagements, newest first, with download links.",
            engagement_summary="Produced renders of one of my engagements, newest first, with "
            "download links.",
        ),
    )
}
if set(ZONES) != set(Zone):
    raise AssertionError(f"zones without a ZoneSpec: {set(Zone) - set(ZONES)}")
for _spec in ZONES.values():
    if _unnamed := [kind for kind in _spec.kinds if kind not in KIND_NAMES]:
        raise AssertionError(
            f"kinds of {_spec.zone} without a name in labels.KIND_NAMES: {_unnamed}"
        )


def audience_of(zone: Zone) -> Audience:
    return ZONES[zone].audience
