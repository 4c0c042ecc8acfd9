"""What the event streams ask the database: who sees which engagements (and so which zones),
which of their zones changed after a version, and which stream sessions are still valid."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import String, column, func, select, true, union_all, values
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import SOURCES
from loomworks.core.states import Designation, Zone
from loomworks.db.tables import access_tokens, dashboard_counts, engagement_memberships, sessions
from loomworks.db.visibility import zone_seen

# Each counted item kind's zone, as a VALUES list the statement joins (from the registry).
_ZONE_OF_KIND = values(
    column("item_kind", String), column("zone", String), name="zone_of_kind", literal_binds=True
).data([(source.kind.value, source.zone.value) for source in SOURCES])

# A version no change reaches: asking for changes after it asks for memberships only.
NO_CHANGES = 2**63 - 1


class VisibleChange(NamedTuple):
    """One membership of a person and, when one of its zones changed after the version asked
    about, that zone and its newest version (a membership with no such change has None)."""

    person_id: uuid.UUID
    engagement_id: uuid.UUID
    designation: Designation
    zone: Zone | None
    version: int | None


async def visible_changes(
    conn: AsyncConnection, *, person_ids: Collection[uuid.UUID], after: int
) -> list[VisibleChange]:
    """Every membership of these people, each with the zones of it they may see whose
    counters moved past `after` (needs_you only where they may decide), oldest change first:
    one statement over dashboard_counts joined to the memberships."""
    membership = engagement_memberships.alias("m")
    may_see = zone_seen(_ZONE_OF_KIND.c.zone, membership.c.designation)
    changed = (
        select(_ZONE_OF_KIND.c.zone, func.max(dashboard_counts.c.version).label("version"))
        .select_from(dashboard_counts)
        .join(_ZONE_OF_KIND, _ZONE_OF_KIND.c.item_kind == dashboard_counts.c.item_kind)
        .where(
            dashboard_counts.c.engagement_id == membership.c.engagement_id,
            dashboard_counts.c.version > after,
            may_see,
        )
        .group_by(_ZONE_OF_KIND.c.zone)
        .lateral("changed")
    )
    rows = await conn.execute(
        select(
            membership.c.person_id,
            membership.c.engagement_id,
            membership.c.designation,
            changed.c.zone,
            changed.c.version,
        )
        .select_from(membership.outerjoin(changed, true()))
        .where(membership.c.person_id.in_(list(person_ids)))
        .order_by(changed.c.version.asc().nulls_first())
    )
    return [
        VisibleChange(
            row.person_id,
            row.engagement_id,
            Designation(row.designation),
            Zone(row.zone) if row.zone is not None else None,
            row.version,
        )
        for row in rows
    ]


async def valid_session_hashes(conn: AsyncConnection, token_hashes: Collection[str]) -> set[str]:
    """Those of these credential hashes (session cookies and access tokens) that are neither
    revoked nor expired: a stream ends with the credential it was opened with."""
    hashes = list(token_hashes)
    rows = await conn.execute(
        union_all(
            *(
                select(table.c.token_hash).where(
                    table.c.token_hash.in_(hashes),
                    table.c.revoked_at.is_(None),
                    table.c.expires_at > func.now(),
                )
                for table in (sessions, access_tokens)
            )
        )
    )
    return set(rows.scalars())
