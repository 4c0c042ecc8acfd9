"""Acting on needs_you: one route per decision of every needs_you source (from the registry),
an item's detail, many decisions in one call, undoing one, an engagement's decision history
and my own."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Body, Response

from loomworks.api.deps import (
    Conn,
    CurrentPerson,
    CursorKey,
    DecidingMember,
    ReadConn,
    ReadMember,
    Undoing,
    WriteFence,
    deciding_member,
    engagement_member,
)
from loomworks.api.http.conditional import NoStore
from loomworks.api.http.csrf import SameSite
from loomworks.api.http.cursor import decode_cursor, encode_cursor
from loomworks.api.http.errors import (
    Conflict,
    Forbidden,
    LoomworksError,
    NotFound,
    Unprocessable,
)
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
    ItemFact,
    PersonRef,
    RenderFileRead,
)
from loomworks.api.schemas.errors import errors
from loomworks.api.schemas.examples import EXAMPLES
from loomworks.core import items, labels
from loomworks.core.access import UndoRule, may_decide
from loomworks.core.kinds import SOURCE_OF, Decision, Source, sources_in
from loomworks.core.states import NeedsYouKind, Zone
from loomworks.db.decisions import (
    HistoryPage,
    ItemDetail,
    ItemNotWaiting,
    ItemUnknown,
    RecordedDecision,
    decide,
    decision_history,
    item_detail,
    my_decisions,
)
from loomworks.db.people import Membership
from loomworks.db.undo import CannotUndo, DecisionUnknown, NotTheDecider, undo
from loomworks.platform.metrics import DECISIONS, UNDOS

router = APIRouter(tags=["decisions"])
Note = Annotated[
    DecisionCreate | None,
    Body(
        description="optional; {} or no body at all",
        openapi_examples={
            "note": {"summary": "with a note", "value": EXAMPLES["DecisionCreate"]},
            "none": {"summary": "no note", "value": {}},
        },
    ),
]
HISTORY = "decisions"
MINE = "my_decisions"
NOT_STORED = {"Cache-Control": "private, no-store"}


def decision_read(recorded: RecordedDecision, rule: UndoRule, designation: str) -> DecisionRead:
    """A recorded decision as the caller (`rule`), a member of `designation`, sees it."""
    until = rule.until(
        decided_by=recorded.person_id,
        decided_at=recorded.decided_at,
        undone_at=recorded.undone_at,
        designation=designation,
    )
    return DecisionRead(
        decision_id=recorded.id,
        engagement_id=recorded.engagement_id,
        engagement_name=recorded.engagement_name,
        item_kind=NeedsYouKind(recorded.item_kind),
        item_id=recorded.item_id,
        item_label=recorded.item_label,
        decision=recorded.decision,
        state=recorded.outcome,
        decided_by=PersonRef(id=recorded.person_id, display_name=recorded.person_name),
        decided_at=recorded.decided_at,
        note=recorded.note,
        follow_up_id=recorded.follow_up_id,
        undone_at=recorded.undone_at,
        undo_url=items.undo_url(recorded.engagement_id, recorded.id) if until else None,
        undo_until=until,
    )


async def take(
    conn: Conn,
    rule: UndoRule,
    membership: Membership,
    source: Source,
    decision: Decision,
    item_id: uuid.UUID,
    note: str | None,
    override_claim: bool = False,
) -> DecisionRead:
    """Decide, or say why not: 404 unknown item, 409 no longer waiting (and who decided) or
    held by a colleague's claim (unless `override_claim`)."""
    try:
        decided = await decide(
            conn,
            source,
            decision,
            engagement_id=membership.engagement_id,
            item_id=item_id,
            person_id=rule.caller,
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
        await settle_claims(conn, rule.caller, source, item_id, override_claim)
    await conn.commit()
    if decided.won:  # counted once committed; a repeat of one's own decision is no new one
        DECISIONS.labels(source.kind, decision.name).inc()
    return decision_read(decided.recorded, rule, membership.designation)


def _decision_route(source: Source, decision: Decision) -> Callable[..., Awaitable[DecisionRead]]:
    async def route(
        item_id: uuid.UUID,
        membership: DecidingMember,
        conn: Conn,
        rule: Undoing,
        body: Note = None,
    ) -> DecisionRead:
        note, override = (body.note, body.override_claim) if body else (None, False)
        return await take(conn, rule, membership, source, decision, item_id, note, override)

    return route


def _decided_detail(source: Source, last: RecordedDecision | None) -> str:
    """What an item that no longer waits says instead of asking for a decision."""
    decision = source.decision(last.decision) if last is not None else None
    if last is None or decision is None:
        return "No longer waiting for a decision."
    when = last.decided_at.strftime("%H:%M UTC on %Y-%m-%d")
    return f"{decision.done.capitalize()} by {last.person_name} at {when}; nothing left to decide."


def _detail_route(source: Source) -> Callable[..., Awaitable[ItemDetailResponse]]:
    async def route(
        item_id: uuid.UUID,
        membership: ReadMember,
        conn: ReadConn,
        rule: Undoing,
    ) -> ItemDetailResponse:
        item = await item_detail(
            conn, source, engagement_id=membership.engagement_id, item_id=item_id
        )
        if item is None:
            raise NotFound()
        claim = await claim_on(conn, source, item_id, waiting=item.waiting)
        return _detail_response(source, item, membership.designation, rule).model_copy(update=claim)

    return route


def _detail_response(
    source: Source, item: ItemDetail, designation: str, rule: UndoRule
) -> ItemDetailResponse:
    decidable = item.waiting and may_decide(designation)
    assert source.detail is not None
    last = item.last_decision
    return ItemDetailResponse(
        engagement_id=item.engagement_id,
        engagement_name=item.engagement_name,
        item_kind=NeedsYouKind(source.kind),
        item_id=item.item_id,
        item_label=source.label(item.label_parts),
        detail=(source.detail(item.label_parts) if item.waiting else _decided_detail(source, last)),
        state=item.state,
        waiting=item.waiting,
        created_at=item.key,
        facts=[ItemFact(key=fact.key, label=fact.label, value=value) for fact, value in item.facts],
        content_kind=item.content_kind,
        inline_content=item.inline_content,
        files=[
            RenderFileRead(
                file_id=file.id,
                filename=file.filename,
                media_type=file.media_type,
                byte_size=file.byte_size,
                url=items.file_url(item.engagement_id, item.item_id, file.id),
            )
            for file in item.files
        ],
        download_url=(
            items.download_url(item.engagement_id, item.item_id) if item.downloadable else None
        ),
        actions=items.actions(source, item.engagement_id, item.item_id) if decidable else [],
        last_decision=decision_read(last, rule, designation) if last else None,
    )


for _source in sources_in(Zone.NEEDS_YOU):
    _path = f"/engagements/{{engagement_id}}/{_source.collection}/{{item_id}}"
    router.add_api_route(
        _path,
        _detail_route(_source),
        methods=["GET"],
        name=f"read_{_source.kind}",
        summary=f"One {_source.kind.replace('_', ' ')}, with what I may decide on it",
        responses=errors(401, 404, 422, 503),
        dependencies=[NoStore],
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
    body: BulkDecisionCreate, conn: Conn, me: CurrentPerson, rule: Undoing
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
                rule,
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


def _history_response(
    page: HistoryPage, rule: UndoRule, key: bytes, listing: str
) -> DecisionHistoryResponse:
    return DecisionHistoryResponse(
        items=[decision_read(row, rule, designation) for row, designation in page.rows],
        total_count=page.total_count,
        next_cursor=encode_cursor(key, listing, page.next_after) if page.next_after else None,
    )


@router.get(
    "/engagements/{engagement_id}/decisions",
    responses=errors(400, 401, 404, 422, 503),
    dependencies=[NoStore],
)
async def read_decision_history(
    membership: ReadMember,
    conn: ReadConn,
    key: CursorKey,
    rule: Undoing,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DecisionHistoryResponse:
    """Every decision taken in one engagement, newest first (viewers too)."""
    after = decode_cursor(key, HISTORY, cursor) if cursor is not None else None
    page = await decision_history(
        conn,
        engagement_id=membership.engagement_id,
        designation=membership.designation,
        limit=limit,
        after=after,
    )
    return _history_response(page, rule, key, HISTORY)


@router.get("/me/decisions", responses=errors(400, 401, 422, 503))
async def read_my_decisions(
    response: Response,
    conn: ReadConn,
    key: CursorKey,
    rule: Undoing,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DecisionHistoryResponse:
    """My own decisions in the engagements I still belong to, newest first, with undo_url
    while I can still undo one."""
    response.headers.update(NOT_STORED)
    after = decode_cursor(key, MINE, cursor) if cursor is not None else None
    page = await my_decisions(conn, person_id=rule.caller, limit=limit, after=after)
    return _history_response(page, rule, key, MINE)


@router.post(
    "/engagements/{engagement_id}/decisions/{decision_id}/undo",
    responses=errors(400, 401, 403, 404, 409, 413, 422, 503),
    dependencies=[SameSite, WriteFence],
)
async def undo_decision(
    decision_id: uuid.UUID,
    response: Response,
    membership: DecidingMember,
    conn: Conn,
    rule: Undoing,
) -> DecisionRead:
    """Undo my decision within LOOMWORKS_UNDO_SECONDS: the item waits again exactly as before
    (a retry's new production is cancelled); the history keeps the decision, with undone_at.
    Undoing again answers the same; 403 someone else's, 409 too late or the item moved on."""
    response.headers.update(NOT_STORED)
    try:
        undone = await undo(
            conn,
            engagement_id=membership.engagement_id,
            decision_id=decision_id,
            person_id=rule.caller,
            window=rule.window,
        )
    except DecisionUnknown:
        await conn.rollback()
        raise NotFound() from None
    except NotTheDecider:
        await conn.rollback()
        raise Forbidden("Only the person who took a decision can undo it.") from None
    except CannotUndo as exc:
        await conn.rollback()
        raise Conflict(str(exc)) from None
    await conn.commit()
    if undone.changed:
        UNDOS.labels(undone.recorded.item_kind, undone.recorded.decision).inc()
    return decision_read(undone.recorded, rule, membership.designation)
