"""The operator dashboard: one call per zone across all of the caller's engagements (or some,
or one), with conditional GET for pollers, and the per-zone counts behind badges. Every zone's
two routes (global and per engagement) are made from its ZoneSpec (core/zones.py)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from loomworks.api.deps import AppSettings, DashboardRead
from loomworks.api.deps.connections import get_cursor_key, get_settings
from loomworks.api.deps.reads import DashboardCaller
from loomworks.api.http.conditional import entity_tag, matches, not_modified, poll_headers
from loomworks.api.http.cursor import decode_cursor, encode_cursor
from loomworks.api.http.errors import BadCursor, NotFound
from loomworks.api.http.paging import Cursor, Limit
from loomworks.api.http.responses import JSONBody
from loomworks.api.routers.triage import triage_of
from loomworks.api.schemas.dashboard import ZONE_RESPONSES, DashboardCountsResponse
from loomworks.api.schemas.errors import errors
from loomworks.core import items
from loomworks.core.rows import Position
from loomworks.core.zones import ZONES, ZoneSpec
from loomworks.db.dashboard import (
    NO_FILTER,
    NotAMember,
    ZoneFilter,
    counts_of,
    zone_page,
    zone_state,
)
from loomworks.db.triage import PLAIN, Triage

router = APIRouter(
    prefix="/me/dashboard", tags=["dashboard"], responses=errors(400, 401, 404, 422, 503)
)
# The same zones for one engagement: what a per-engagement screen (and the benchmark's
# "one call per engagement" baseline) uses.
engagement_router = APIRouter(
    prefix="/engagements/{engagement_id}/dashboard",
    tags=["dashboard"],
    responses=errors(400, 401, 404, 422, 503),
)

Engagements = Annotated[
    list[uuid.UUID],
    Query(alias="engagement_id", description="only these of my engagements (repeatable)"),
]
POLLED: dict[int | str, dict[str, Any]] = {
    200: {"description": "the page, with ETag, Cache-Control, Vary and X-Poll-Interval"},
    304: {"description": "If-None-Match matched: nothing changed since that page"},
}


@contextmanager
def _answers() -> Iterator[None]:
    """What the statements found about the caller, as HTTP: a filter naming an engagement
    they are not a member of is 404 (a session or token that is not live is 401 before it,
    from DashboardCaller.read, as when the dependencies checked them in turn)."""
    try:
        yield
    except NotAMember:
        raise NotFound() from None


@dataclass(frozen=True)
class ZoneReader:
    """What answering any zone needs from the request: the read (where, for whom) and the
    app's settings."""

    request: Request
    caller: DashboardCaller
    key: bytes
    settings: AppSettings

    async def respond(
        self,
        spec: ZoneSpec[Any],
        limit: int,
        cursor: str | None,
        where: ZoneFilter,
        *,
        path: ZoneFilter = NO_FILTER,
    ) -> Response:
        """304 if the caller's copy is current (their version of the zone alone), else the
        page; one statement either way (a poll that finds a change runs both). `path`: the
        engagement the route's path names, whose membership goes before a bad cursor."""
        filters = f"{where.engagement_ids}{where.kinds}"
        if where.triage != PLAIN:  # cursors and ETags are bound to the order and filters too
            filters += repr(where.triage)
        after = await self._position(spec, cursor, filters, path) if cursor else None
        moment = items.Moment.now(self.settings.stall_after, self.settings.overdue_after)
        clock = moment.as_of if spec.clock_sensitive else None

        def headers(state: str) -> dict[str, str]:
            etag = entity_tag(spec.zone, filters, limit, cursor, clock, state)
            return poll_headers(etag, self.settings.poll_interval_seconds)

        with _answers():
            async with self.caller.read() as read:
                if_none_match = self.request.headers.get("if-none-match")
                if if_none_match:
                    state = await zone_state(read.conn, spec.zone, caller=read.caller, where=where)
                    if matches(if_none_match, headers(state)["ETag"]):
                        return not_modified(headers(state))
                page = await zone_page(
                    read.conn, spec.row, caller=read.caller, limit=limit, after=after, where=where
                )
        next_cursor = (
            encode_cursor(self.key, spec.zone, page.next_after, filters)
            if page.next_after
            else None
        )
        body = {
            "items": [spec.item(row, moment) for row in page.rows],
            "total_count": page.total_count,
            "next_cursor": next_cursor,
        }
        return JSONBody(body, headers=headers(page.state))

    async def _position(
        self, spec: ZoneSpec[Any], cursor: str, filters: str, path: ZoneFilter
    ) -> Position:
        """Where the cursor points. A bad cursor is 400 only once the caller is known to be
        signed in and a member of the path's engagement (401 and 404 come first, as when
        the dependencies checked those before the route ran): an error path, so the check
        is a statement of its own."""
        try:
            return decode_cursor(self.key, spec.zone, cursor, filters)
        except BadCursor:
            with _answers():
                async with self.caller.read() as read:
                    await zone_state(read.conn, spec.zone, caller=read.caller, where=path)
            raise


async def zone_reader(request: Request, caller: DashboardRead) -> ZoneReader:
    """The settings and the cursor key are the app's (get_settings, get_cursor_key), read
    here rather than as dependencies of their own: each dependency FastAPI resolves costs
    every zone read and poll (docs/benchmarks.md, step 15)."""
    return ZoneReader(request, caller, await get_cursor_key(request), await get_settings(request))


Reader = Annotated[ZoneReader, Depends(zone_reader)]


@router.get("/counts", response_model=DashboardCountsResponse, responses=POLLED)
async def dashboard_counts(
    request: Request, caller: DashboardRead, settings: AppSettings
) -> Response:
    """How many items each zone holds for me, in total and per engagement and kind."""
    moment = items.Moment.now(settings.stall_after, settings.overdue_after)
    with _answers():
        async with caller.read() as read:
            overdue_before = moment.overdue_before
            rows = await counts_of(read.conn, caller=read.caller, overdue_before=overdue_before)
    headers = poll_headers(entity_tag("counts", rows), settings.poll_interval_seconds)
    if matches(request.headers.get("if-none-match"), headers["ETag"]):
        return not_modified(headers)
    return JSONBody(items.counts(rows), headers=headers)


def _kinds_of(spec: ZoneSpec[Any], route: Callable[..., Awaitable[Response]]) -> None:
    """Give the route's `kind` parameter the zone's own kinds (unknown kinds: 422), and its
    `triage` the zone's triage parameters (api/routers/triage.py: `q` everywhere, order and
    claims on needs_you)."""
    kinds = Annotated[list[spec.kinds], Query(alias="kind", description="only these kinds")]  # type: ignore[name-defined]
    triage = triage_of(spec.zone)
    signature = inspect.signature(route, eval_str=True)
    parameters = [
        parameter.replace(annotation=kinds)
        if parameter.name == "kind"
        else parameter.replace(default=Depends(triage))
        if parameter.name == "triage"
        else parameter
        for parameter in signature.parameters.values()
    ]
    route.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]


def _add_zone_routes(spec: ZoneSpec[Any]) -> None:
    async def across(
        reader: Reader,
        limit: Limit = 50,
        cursor: Cursor = None,
        engagement_id: Engagements = [],  # noqa: B006 (FastAPI copies defaults)
        kind: list[str] = [],  # noqa: B006 (the zone's kinds: _kinds_of)
        triage: Triage = PLAIN,  # the zone's triage parameters: _kinds_of
    ) -> Response:
        where = ZoneFilter.of(engagement_id, kind, triage)
        return await reader.respond(spec, limit, cursor, where)

    async def in_engagement(
        engagement_id: uuid.UUID,
        reader: Reader,
        limit: Limit = 50,
        cursor: Cursor = None,
        kind: list[str] = [],  # noqa: B006
        triage: Triage = PLAIN,
    ) -> Response:
        # Not a member: the statement finds it (404), after the session (401).
        path = ZoneFilter.of([engagement_id])
        where = ZoneFilter.of([engagement_id], kind, triage)
        return await reader.respond(spec, limit, cursor, where, path=path)

    for target, route, name, summary in (
        (router, across, f"dashboard_{spec.zone}", spec.summary),
        (engagement_router, in_engagement, f"engagement_{spec.zone}", spec.engagement_summary),
    ):
        _kinds_of(spec, route)
        target.add_api_route(
            f"/{spec.zone}",
            route,
            methods=["GET"],
            name=name,
            description=summary,
            response_model=ZONE_RESPONSES[spec.zone],
            responses=POLLED,
        )


for _spec in ZONES.values():
    _add_zone_routes(_spec)
