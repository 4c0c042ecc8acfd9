"""What job code puts before people to decide: a shape waiting for confirmation, an assertion
held until someone commits or withdraws it (the needs_you items that are not renders or
failures). The demo simulator writes through these, as real job code would."""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.states import AssertionState, ShapeState
from loomworks.db.tables import assertions, shapes


async def propose_shape(
    conn: AsyncConnection, *, engagement_id: uuid.UUID, shape_type: str, title: str
) -> uuid.UUID:
    """A shape a shaping job produced, pending a person's confirmation."""
    shape_id: uuid.UUID = (
        await conn.execute(
            insert(shapes)
            .values(
                engagement_id=engagement_id,
                shape_type=shape_type,
                title=title,
                state=ShapeState.PENDING_CONFIRMATION,
            )
            .returning(shapes.c.id)
        )
    ).scalar_one()
    return shape_id


async def hold_assertion(
    conn: AsyncConnection, *, engagement_id: uuid.UUID, statement: str
) -> uuid.UUID:
    """An assertion held until a person commits or withdraws it."""
    assertion_id: uuid.UUID = (
        await conn.execute(
            insert(assertions)
            .values(engagement_id=engagement_id, statement=statement, state=AssertionState.HELD)
            .returning(assertions.c.id)
        )
    ).scalar_one()
    return assertion_id
