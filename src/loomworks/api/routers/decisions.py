"""Acting on needs_you: one route per decision of every needs_you source (from the registry),
an item's detail, many decisions in one call, and an engagement's decision history."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Body

from loomworks.api.deps import (
    Conn,
    CurrentPerson,
    CursorKey,
    DecidingMember,
    ReadConn,
    ReadMember,
    WriteFence,
    deciding_member,
    engagement_member,
)
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.cursor import decode_cursor, encode_cursor
from loomworks.api.http.errors import Conflict, LoomworksError, NotFound, Unprocessable
from loomworks.api.http.paging import Cursor, Limit
from loomworks.api.routers.triage import claim_on, settle_claims
from loomworks.api.schemas.decisions import (
    BulkDecisionCreate,
    BulkDecisionResponse,
    BulkDecisionResult,
    DecisionCreate,
    DecisionHistoryResponse,
    DecisionRead,
    ItemDetailResponse,
    PersonRef,
)
from loomworks.api.schemas.errors import errors
from loomworks.core import items, labels
from loomworks.core.access import may_decide
from loomworks.core.kinds import SOURCE_OF, Decision, Source, sources_in
from loomworks.core.states import NeedsYouKind, Zone
from loomworks.db.decisions import (
    ItemNotWaiting,
    ItemUnknown,
    RecordedDecision,
    decide,
    decision_history,
    item_detail,
)
from loomworks.db.people import Membership, Person
from loomworks.platform.metrics import DECISIONS

router = APIRouter(tags=["decisions"])
Note = Annotated[DecisionCreate | None, Body(description="optional; {} or no body at all")]
HISTORY = "decisions"


def decision_read(recorded: RecordedDecision) -> DecisionRead:
    return DecisionRead(
        decision_id=recorded.id,
        engagement_id=recorded.engagement_id,
        item_kind=NeedsYouKind(recorded.item_kind),
        item_id=recorded.item_id,
        item_label=recorded.item_label,
        decision=recorded.decision,
        state=recorded.outcome,
        decided_by=PersonRef(id=recorded.person_id, display_name=recorded.person_name),
        decided_at=recorded.decided_at,
        note=recorded.note,
        follow_up_id=recorded.follow_up_id,
    )


async def take(
    conn: Conn,
    me: Person,
    membership: Membership,
    source: Source,
    decision: Decision,
    item_id: uuid.UUID,
    note: str | None,
    override_claim: bool = False,
) -> DecisionRead:
    """Decide, or say why not: 404 unknown item, 409 no longer waiting (and who decided) or
    held by a colleague's claim."""
    try:
        decided = await decide(
            conn,
            source,
            decision,
            engagement_id=membership.engagement_id,
            item_id=item_id,
            person_id=me.id,
            note=note,
        )
    except ItemUnknown:
        await conn.rollback()
        raise NotFound() from None
    except ItemNotWaiting as exc:
        await conn.rollback()
        last = exc.last
        taken = source.decision(last.decision) if last is not None else None
        if last is None or taken is None:
            raise Conflict(labels.no_longer_waiting(exc.state)) from None
        raise Conflict(
            labels.already_decided(taken.done, last.person_name, last.decided_at)
        ) from None
    if decided.won:  # a decision ends the snoozes and the claim (api/routers/triage.py)
        await settle_claims(conn, me, source, item_id, override_claim)
    await conn.commit()
    if decided.won:  # counted once committed; a repeat of one's own decision is no new one
        DECISIONS.labels(source.kind, decision.name).inc()
    return decision_read(decided.recorded)


def _decision_route(source: Source, decision: Decision) -> Callable[..., Awaitable[DecisionRead]]:
    async def route(
        item_id: uuid.UUID,
        membership: DecidingMember,
        conn: Conn,
        me: CurrentPerson,
        body: Note = None,
    ) -> DecisionRead:
        note, override = (body.note, body.override_claim) if body else (None, False)
        return await take(conn, me, membership, source, decision, item_id, note, override)

    return route


def _detail_route(source: Source) -> Callable[..., Awaitable[ItemDetailResponse]]:
    async def route(
        item_id: uuid.UUID, membership: ReadMember, conn: ReadConn
    ) -> ItemDetailResponse:
        item = await item_detail(
            conn, source, engagement_id=membership.engagement_id, item_id=item_id
        )
        if item is None:
            raise NotFound()
        decidable = item.waiting and may_decide(membership.designation)
        assert source.detail is not None
        return ItemDetailResponse(
            engagement_id=item.engagement_id,
            engagement_name=item.engagement_name,
            item_kind=NeedsYouKind(source.kind),
            item_id=item.item_id,
            item_label=source.label(item.label_parts),
            detail=source.detail(item.label_parts),
            state=item.state,
            waiting=item.waiting,
            created_at=item.key,
            download_url=(
                items.download_url(item.engagement_id, item.item_id) if item.downloadable else None
            ),
            actions=items.actions(source, item.engagement_id, item.item_id) if decidable else [],
            last_decision=decision_read(item.last_decision) if item.last_decision else None,
            **await claim_on(conn, source, item_id, waiting=item.waiting),
        )

    return route


for _source in sources_in(Zone.NEEDS_YOU):
    _path = f"/engagements/{{engagement_id}}/{_source.collection}/{{item_id}}"
    router.add_api_route(
        _path,
        _detail_route(_source),
        methods=["GET"],
        name=f"read_{_source.kind}",
        summary=f"One {_source.kind.replace('_', ' ')}, with what I may decide on it",
        responses=errors(401, 404, 422, 503),
    )
    for _decision in _source.decisions:
        router.add_api_route(
            f"{_path}/{_decision.name}",
            _decision_route(_source, _decision),
            methods=["POST"],
            name=f"{_decision.name}_{_source.kind}",
            summary=f"{_decision.label} a {_source.kind.replace('_', ' ')}",
            description=(
                f"Marks the item {_decision.done} if it still waits: 200 with the decision. "
                "The same person repeating the same decision gets the recorded one again."
            ),
            responses=errors(400, 401, 403, 404, 409, 413, 422, 503),
            dependencies=[SameSite, WriteFence],
        )


@router.post(
    "/me/dashboard/needs_you/decisions",
    responses=errors(400, 401, 403, 413, 422, 503),
    dependencies=[SameSite, WriteFence],
)
async def decide_many(
    body: BulkDecisionCreate, conn: Conn, me: CurrentPerson
) -> BulkDecisionResponse:
    """Several decisions in one call, each taken on its own (one failing changes nothing else);
    one result per entry, in order, with the status the single route would have answered."""
    results = []
    for entry in body.decisions:
        try:
            source = SOURCE_OF.get(entry.item_kind)
            if source is None or source.zone != Zone.NEEDS_YOU:
                raise Unprocessable(f"{entry.item_kind!r} is not a kind of needs_you item.")
            decision = source.decision(entry.decision)
            if decision is None:
                names = ", ".join(d.name for d in source.decisions)
                raise Unprocessable(
                    f"{entry.decision!r} is not a decision on {source.kind}; choose {names}."
                )
            membership = await deciding_member(
                await engagement_member(entry.engagement_id, conn, me)
            )
            read = await take(
                conn,
                me,
                membership,
                source,
                decision,
                entry.item_id,
                entry.note,
                entry.override_claim,
            )
            results.append(BulkDecisionResult(item_id=entry.item_id, status=200, decision=read))
        except LoomworksError as exc:
            await conn.rollback()
            results.append(
                BulkDecisionResult(item_id=entry.item_id, status=exc.status_code, detail=exc.detail)
            )
    return BulkDecisionResponse(results=results)


@router.get("/engagements/{engagement_id}/decisions", responses=errors(400, 401, 404, 422, 503))
async def read_decision_history(
    membership: ReadMember, conn: ReadConn, key: CursorKey, limit: Limit = 50, cursor: Cursor = None
) -> DecisionHistoryResponse:
    """Every decision taken in one engagement, newest first (viewers too)."""
    after = decode_cursor(key, HISTORY, cursor) if cursor is not None else None
    page = await decision_history(
        conn, engagement_id=membership.engagement_id, limit=limit, after=after
    )
    return DecisionHistoryResponse(
        items=[decision_read(row) for row in page.rows],
        total_count=page.total_count,
        next_cursor=encode_cursor(key, HISTORY, page.next_after) if page.next_after else None,
    )
