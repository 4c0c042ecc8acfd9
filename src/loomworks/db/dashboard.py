"""The three dashboard zones, each one SQL statement: a UNION ALL of one arm per source.

Every arm is scoped by the caller's membership subquery and ordered and limited on its own
(so PostgreSQL merges a few rows per arm instead of sorting every match), choosing between a
newest-first fast path and a per-engagement slow path (see _arm_page); the page is cut in
one place, engagement names are joined after the cut, and total_count comes from the
trigger-kept dashboard_counts. docs/dashboard.md explains the shape and its measurements.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache, lru_cache, reduce
from typing import Any, Generic

from sqlalchemy import (
    CTE,
    BigInteger,
    Boolean,
    ColumnElement,
    CompoundSelect,
    DateTime,
    Integer,
    Select,
    Subquery,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    null,
    select,
    text,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import LateralFromClause

from loomworks.core.kinds import SOURCE_OF, Source, sources_in
from loomworks.core.rows import ROW_CLASSES, ZONE_OF_ROW, CountRow, Position, RowT, ZoneRow
from loomworks.core.states import Zone
from loomworks.db.jobs import PROGRESS_TYPES, progress_fields
from loomworks.db.people import session_person
from loomworks.db.renders import has_download
from loomworks.db.search import label_text, like_pattern, query_trigrams, trigrams
from loomworks.db.tables import (
    dashboard_counts,
    dashboard_person_versions,
    engagement_memberships,
    engagements,
    metadata,
)
from loomworks.db.tokens import token_person, token_use_noted
from loomworks.db.triage import (
    PLAIN,
    Triage,
    claim_join,
    counts_adjustments,
    kept,
    zone_total,
)
from loomworks.db.visibility import kind_seen, sees_zone

ITEM_COLUMNS = ("engagement_id", "engagement_name", "item_kind", "item_id", "sort_key")

# The payload columns of each zone and their SQL types, in the row classes' order.
ZONE_PAYLOAD: dict[Zone, dict[str, Any]] = {
    Zone.ACTIVE: {
        "label_text": Text,
        "label_extra": Text,
        "status": Text,
        **PROGRESS_TYPES,  # db/jobs.progress_fields
        "progress_updated_at": DateTime(timezone=True),
    },
    Zone.NEEDS_YOU: {
        "label_text": Text,
        "label_extra": Text,
        "display_number": Integer,
        "claimer_id": UUID(as_uuid=True),  # the item's claim (db/triage.py), if any
        "claimer_name": Text,
        "claimed_until": DateTime(timezone=True),
    },
    Zone.RECENT: {"label_text": Text, "display_number": Integer, "downloadable": Boolean},
}
for _zone, _row in ROW_CLASSES.items():
    if _row._fields != (*ITEM_COLUMNS, *ZONE_PAYLOAD[_zone]):
        raise AssertionError(f"{_row.__name__} does not match the {_zone} statement's columns")


@dataclass(frozen=True)
class Page(Generic[RowT]):
    """A zone's page: its rows, the zone's total, and where the next page starts (None on
    the last page)."""

    rows: list[RowT]
    total_count: int
    next_after: Position | None
    state: str  # what the page was cut from (zone_state): the basis of its ETag


@dataclass(frozen=True)
class Arm:
    """One source of a zone as SQL: which rows, their kind, their recency key and payload."""

    table: Table
    kind: str
    key: ColumnElement[datetime]
    where: ColumnElement[bool]
    payload: dict[str, ColumnElement[Any]]
    label: ColumnElement[str]  # what `q` searches of its label (db/search.py)
    # needs_you: the item's claim, joined to its rows (db/triage.claim_join)
    claim: LateralFromClause | None


def _arm(source: Source) -> Arm:
    table = metadata.tables[source.table]
    payload: dict[str, ColumnElement[Any]] = {
        name: table.c[column] for name, column in source.payload.items()
    }
    if source.zone == Zone.ACTIVE:
        payload |= {
            "status": table.c[source.state_column],
            **progress_fields(table),
            "progress_updated_at": table.c.progress_updated_at,
        }
    if source.downloadable:
        payload["downloadable"] = has_download(table)
    claim = claim_join(source.kind, table.c.id) if source.zone == Zone.NEEDS_YOU else None
    if claim is not None:
        payload |= {column.name: column for column in claim.c}
    # Literal SQL, not bound parameters: PostgreSQL can only match a partial index when it
    # sees the constants, and a prepared statement's generic plan would not.
    where: ColumnElement[bool] = text(source.predicate(table.name))  # type: ignore[assignment]
    label = label_text(source, table)
    return Arm(table, source.kind, table.c[source.key], where, payload, label, claim)


@dataclass(frozen=True)
class ZoneFilter:
    """What a request narrows a zone to: some of the caller's engagements, some of the zone's
    kinds (empty: all). Kept sorted so equal filters are equal."""

    engagement_ids: tuple[uuid.UUID, ...] = ()
    kinds: tuple[str, ...] = ()
    triage: Triage = PLAIN  # order and claimed state (db/triage.py)

    @classmethod
    def of(
        cls,
        engagement_ids: Iterable[uuid.UUID] = (),
        kinds: Iterable[str] = (),
        triage: Triage = PLAIN,
    ) -> ZoneFilter:
        return cls(tuple(sorted(set(engagement_ids))), tuple(sorted(set(kinds))), triage)


NO_FILTER = ZoneFilter()


@cache
def _arms(zone: Zone, kinds: tuple[str, ...] = ()) -> tuple[Arm, ...]:
    return tuple(_arm(source) for source in sources_in(zone) if not kinds or source.kind in kinds)


# Statement parameters: the statements are built once per shape and reused with these.
_PERSON = bindparam("person_id", type_=UUID(as_uuid=True))
_TOKEN = bindparam("token_hash", type_=Text)
_ENGAGEMENTS = bindparam("engagement_ids", type_=ARRAY(UUID(as_uuid=True)))
_AFTER_KEY = bindparam("after_key", type_=DateTime(timezone=True))
_AFTER_ID = bindparam("after_id", type_=UUID(as_uuid=True))
_OVERDUE_BEFORE = bindparam("overdue_before", type_=DateTime(timezone=True))
_PATTERN = bindparam("q_pattern", type_=Text)  # db/search.like_pattern of the request's q
_QUERY = bindparam("q", type_=Text)  # the request's q itself, for its trigrams
_PARAMETERS = {
    param.key
    for param in (
        _PERSON,
        _TOKEN,
        _ENGAGEMENTS,
        _AFTER_KEY,
        _AFTER_ID,
        _OVERDUE_BEFORE,
        _PATTERN,
        _QUERY,
    )
}
# How many of an arm's newest rows (across all engagements) the fast path looks through for
# the caller's; see _candidates. Scanning them is an index-only walk of a few pages.
WINDOW_PER_ROW = 20
MIN_WINDOW = 1000


@dataclass(frozen=True)
class _Sizes:
    """A page size's numbers, written into the SQL as constants (one statement per page
    size), so PostgreSQL's cached generic plan is as good as a fresh one and planning is
    skipped (docs/benchmarks.md, steps 6 and 11)."""

    fetch: ColumnElement[int]  # limit + 1 rows, to see whether more follow
    window: ColumnElement[int]

    @classmethod
    def of(cls, limit: int) -> _Sizes:
        fetch = limit + 1
        window = max(MIN_WINDOW, WINDOW_PER_ROW * fetch)
        return cls(literal_column(str(fetch), Integer), literal_column(str(window), Integer))


@dataclass(frozen=True)
class BySession:
    """A caller known only by their session token's hash: the statement itself finds the
    person of a live session (or none), so the session check costs no round trip of its own."""

    token_hash: str


@dataclass(frozen=True)
class ByToken:
    """A caller known only by their personal access token's hash, found by the statement as
    a session is (and the token's use noted there, at most once a minute: db/tokens.py)."""

    token_hash: str


# Who a statement is for: a person already known (the credential was checked before, on the
# primary: with replicas), or a session or token the statement checks (one database).
Caller = uuid.UUID | BySession | ByToken


class KnownBy(StrEnum):
    """How a statement finds its caller (statements are built once per way)."""

    PERSON = "person"
    SESSION = "session"
    TOKEN = "token"  # noqa: S105 (a name, not a secret)


def known_by_of(caller: Caller) -> KnownBy:
    if isinstance(caller, BySession):
        return KnownBy.SESSION
    return KnownBy.TOKEN if isinstance(caller, ByToken) else KnownBy.PERSON


class NotSignedIn(Exception):
    """The caller's session or token is unknown, expired or revoked (checked inside the
    statement)."""


@cache
def _credential_person(known_by: KnownBy) -> CTE:
    """The person (not disabled) of the live session, or of the live token, whose secret
    hashes to :token_hash (no row: none), as the dependencies check them (db/people.py
    person_for_token, db/tokens.py bearer_for)."""
    person = token_person if known_by == KnownBy.TOKEN else session_person
    return person(_TOKEN).cte("caller")


def _caller(known_by: KnownBy) -> ColumnElement[uuid.UUID]:
    """The caller's person id in a statement: a parameter, or the person of the live session
    or token (NULL when it is not live, so every membership subquery is empty)."""
    if known_by == KnownBy.PERSON:
        return _PERSON
    return select(_credential_person(known_by).c.person_id).scalar_subquery()


def _noting_use(statement: Select[Any], known_by: KnownBy) -> Select[Any]:
    """A statement that finds its caller by a token also notes the token's use (a writing
    CTE, run whether or not anything reads it: db/tokens.token_use_noted)."""
    if known_by != KnownBy.TOKEN:
        return statement
    return statement.add_cte(token_use_noted(_TOKEN))


def _memberships(*, scoped: bool, known_by: KnownBy) -> Select[tuple[uuid.UUID]]:
    """The caller's engagements (only the filter's, when `scoped`)."""
    query = select(engagement_memberships.c.engagement_id).where(
        engagement_memberships.c.person_id == _caller(known_by)
    )
    if scoped:
        query = query.where(engagement_memberships.c.engagement_id == func.any(_ENGAGEMENTS))
    return query


def _visible_engagements(
    zone: Zone, *, scoped: bool, known_by: KnownBy
) -> Select[tuple[uuid.UUID]]:
    """The caller's engagements whose `zone` they see (needs_you: only where they may decide)."""
    query = _memberships(scoped=scoped, known_by=known_by)
    # true() for a zone every member sees: SQLAlchemy drops it from the AND.
    return query.where(sees_zone(engagement_memberships.c.designation, zone))


def _is_visible(
    engagement_id: ColumnElement[uuid.UUID], visible: Select[tuple[uuid.UUID]]
) -> ColumnElement[bool]:
    """`(engagement_id IN (visible)) IS TRUE`: the same test as a plain IN (engagement ids are
    never NULL), written so PostgreSQL cannot turn it into a join: it runs as a hashed
    SubPlan, the caller's engagements hashed once, and the walk still stops at the
    `fetch`-th hit (docs/benchmarks.md, step 14, has the plans and the alternatives)."""
    return engagement_id.in_(visible.scalar_subquery()).is_(true())


def _kind(arm: Arm) -> ColumnElement[str]:
    # A constant in the SQL (kinds are our own identifiers), so the payload arms' filters on it
    # are plain comparisons with a literal.
    return literal_column(f"'{arm.kind}'::text", Text)


def _in_order(
    key: ColumnElement[Any], item_id: ColumnElement[Any], triage: Triage
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """ORDER BY of a zone's order: newest first (key, then id, descending) or oldest first."""
    if triage.oldest:
        return key.asc(), item_id.asc()
    return key.desc(), item_id.desc()


def _past(key: ColumnElement[Any], item_id: ColumnElement[Any], triage: Triage) -> Any:
    """The rows after the cursor's position in the zone's order."""
    position = tuple_(_AFTER_KEY, _AFTER_ID)
    return tuple_(key, item_id) > position if triage.oldest else tuple_(key, item_id) < position


def _candidates(
    arm: Arm,
    visible: Select[tuple[uuid.UUID]],
    sizes: _Sizes,
    *,
    after: bool,
    scoped: bool,
    known_by: KnownBy,
    triage: Triage = PLAIN,
) -> Select[Any] | CompoundSelect[Any]:
    """(item_kind, item_id, sort_key) of the arm's first `fetch` rows for the caller in the
    zone's order, exactly, by whichever path is cheap, read from indexes alone: the window
    (_fast_or_slow) across all engagements, else the walk per engagement (_per_engagement);
    a filter to some engagements always walks; a search matches (_matching)."""
    if triage.search:
        zone = SOURCE_OF[arm.kind].zone
        found = _found(zone, arm.kind, scoped=scoped, known_by=known_by, triage=triage)
        return _matching(found, arm, sizes, after=after, triage=triage)
    caller = _caller(known_by)
    slow = _per_engagement(arm, visible, sizes, after=after, caller=caller, triage=triage)
    if scoped:
        return slow
    return _fast_or_slow(arm, visible, sizes, slow, after=after, caller=caller, triage=triage)


def _per_engagement(
    arm: Arm,
    visible: Select[tuple[uuid.UUID]],
    sizes: _Sizes,
    *,
    after: bool,
    caller: ColumnElement[Any],
    triage: Triage,
) -> Select[Any]:
    """The first `fetch` of each visible engagement (a short walk down its (engagement_id,
    key DESC, id DESC) index), merged."""
    table = arm.table
    before = [_past(arm.key, table.c.id, triage)] if after else []
    memberships = visible.subquery(f"{arm.kind}_engagements")
    per_engagement = (
        select(table.c.id.label("item_id"), arm.key.label("sort_key"))
        .where(
            arm.where,
            *before,
            table.c.engagement_id == memberships.c.engagement_id,
            *kept(arm.kind, table.c.id, caller, triage),
        )
        .order_by(*_in_order(arm.key, table.c.id, triage))
        .limit(sizes.fetch)
        .lateral(f"{arm.kind}_rows")
    )
    return (
        select(_kind(arm).label("item_kind"), per_engagement.c.item_id, per_engagement.c.sort_key)
        .select_from(memberships.join(per_engagement, true()))
        .order_by(*_in_order(per_engagement.c.sort_key, per_engagement.c.item_id, triage))
        .limit(sizes.fetch)
    )


def _fast_or_slow(
    arm: Arm,
    visible: Select[tuple[uuid.UUID]],
    sizes: _Sizes,
    slow: Select[Any],
    *,
    after: bool,
    caller: ColumnElement[Any],
    triage: Triage,
) -> CompoundSelect[Any]:
    """Fast path: walk the arm's first `window` rows of all engagements (a global partial
    index on (key DESC, id DESC) INCLUDE engagement_id) and keep the caller's. If that finds
    `fetch` of them, they are exactly the first `fetch`: anything of the caller's outside
    the window comes later than everything in it. Otherwise (the caller's rows are rare in
    the window: few items, or a small portfolio inside a big installation) `slow` runs
    instead; PostgreSQL evaluates the choice once and skips the branch not taken."""
    table = arm.table
    before = [_past(arm.key, table.c.id, triage)] if after else []
    window = (
        select(table.c.id, arm.key.label("key"), table.c.engagement_id)
        .where(arm.where, *before)
        .order_by(*_in_order(arm.key, table.c.id, triage))
        .limit(sizes.window)
        .subquery(f"{arm.kind}_window")
    )
    hits = (
        select(window.c.id.label("item_id"), window.c.key.label("sort_key"))
        .where(
            _is_visible(window.c.engagement_id, visible),
            *kept(arm.kind, window.c.id, caller, triage),
        )
        .order_by(*_in_order(window.c.key, window.c.id, triage))
        .limit(sizes.fetch)
        .cte(f"{arm.kind}_hits")
    )
    fast_is_exact = select(func.count()).select_from(hits).scalar_subquery() == sizes.fetch
    fast = select(_kind(arm).label("item_kind"), hits.c.item_id, hits.c.sort_key).where(
        fast_is_exact
    )
    slow_sq = slow.subquery(f"{arm.kind}_slow")
    return union_all(fast, select(slow_sq).where(~fast_is_exact))


def _ways(arm: Arm, triage: Triage) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The two ways a row matches `q`: its label (as db/search.py reads it) contains it, found
    through the trigram index when `q` has trigrams; or its engagement's name does."""
    label: ColumnElement[bool] = arm.label.ilike(_PATTERN)
    if triage.indexed:  # the index's test, then the exact one on what it finds
        label = and_(trigrams(arm.label).contains(query_trigrams(_QUERY)), label)
    named = select(engagements.c.id).where(engagements.c.name.ilike(_PATTERN))
    return label, arm.table.c.engagement_id.in_(named)


@lru_cache(maxsize=256)
def _found(zone: Zone, kind: str, *, scoped: bool, known_by: KnownBy, triage: Triage) -> CTE:
    """With `q`: (item_id, sort_key) of every row of the arm the caller sees (in their view:
    db/triage.kept) that matches `q` either way (_ways), each once. One query per way: apart,
    each is planned on its own index, where an OR of the two would be estimated as one wide
    condition and walk the arm. One CTE for both the page and total_count (which needs every
    match anyway), so the matches are found once; cached, so both get the same CTE."""
    arm = next(arm for arm in _arms(zone) if arm.kind == kind)
    table = arm.table
    visible = _visible_engagements(zone, scoped=scoped, known_by=known_by)
    seen = [
        arm.where,
        _is_visible(table.c.engagement_id, visible),
        *kept(arm.kind, table.c.id, _caller(known_by), triage),
    ]
    ways = [
        select(table.c.id.label("item_id"), arm.key.label("sort_key")).where(*seen, way)
        for way in _ways(arm, triage)
    ]
    return union(*ways).cte(f"{arm.kind}_found")


def _matching(found: CTE, arm: Arm, sizes: _Sizes, *, after: bool, triage: Triage) -> Select[Any]:
    """With `q`: the arm's first `fetch` matches in the zone's order (after the cursor)."""
    before = [_past(found.c.sort_key, found.c.item_id, triage)] if after else []
    matches = (
        select(found.c.item_id, found.c.sort_key)
        .where(*before)
        .order_by(*_in_order(found.c.sort_key, found.c.item_id, triage))
        .limit(sizes.fetch)
        .subquery(f"{arm.kind}_matches")
    )
    return select(_kind(arm).label("item_kind"), matches.c.item_id, matches.c.sort_key)


def _search_total(found: Sequence[CTE]) -> ColumnElement[int]:
    """total_count with `q`: the matches counted (the counters cannot know `q`)."""
    counts = [select(func.count()).select_from(cte).scalar_subquery() for cte in found]
    return reduce(operator.add, counts) if counts else literal_column("0", BigInteger)


def _payload(zone: Zone, arm: Arm, page: CTE) -> Select[Any]:
    """The page's rows of this arm with what the items show: read only for the `fetch` rows
    that made the page, not for every candidate."""
    table = arm.table
    rows = (
        select(
            table.c.engagement_id,
            page.c.item_kind,
            page.c.item_id,
            page.c.sort_key,
            *_payload_columns(zone, arm),
        )
        .join_from(page, table, table.c.id == page.c.item_id)
        .where(page.c.item_kind == _kind(arm))
    )
    return _with_claim(rows, arm)


def _payload_columns(zone: Zone, arm: Arm) -> list[ColumnElement[Any]]:
    return [
        (arm.payload[name] if name in arm.payload else cast(null(), sql_type)).label(name)
        for name, sql_type in ZONE_PAYLOAD[zone].items()
    ]


def source_rows(source: Source) -> Select[Any]:
    """A source's rows in item_columns(zone) order, in whatever state they are now (narrow it
    with .where() on `metadata.tables[source.table]`): what a webhook's item is built from.
    Not scoped to a person: never serve it to one unchecked."""
    arm = _arm(source)
    table = arm.table
    rows = select(
        table.c.engagement_id,
        engagements.c.name.label("engagement_name"),
        _kind(arm).label("item_kind"),
        table.c.id.label("item_id"),
        arm.key.label("sort_key"),
        *_payload_columns(source.zone, arm),
    ).join_from(table, engagements, engagements.c.id == table.c.engagement_id)
    # needs_you rows carry their claim (db/triage.py), as in the zone statement.
    return _with_claim(rows, arm)


def _with_claim(rows: Select[Any], arm: Arm) -> Select[Any]:
    return rows if arm.claim is None else rows.outerjoin(arm.claim, true())


def item_columns(zone: Zone) -> tuple[str, ...]:
    return ROW_CLASSES[zone]._fields


def position_of(row: ZoneRow) -> Position:
    """Where a page row sits in its zone's order."""
    return Position(row.sort_key, row.item_id)


def _standing(zone: Zone, *, scoped: bool, known_by: KnownBy) -> list[ColumnElement[Any]]:
    """Who the caller is (NULL: no live session), their version of the zone (the basis of its
    ETag: any change to what the zone shows them moves it; one index lookup) and how many
    filtered engagements they are not a member of."""
    caller = _caller(known_by)
    versions = dashboard_person_versions.c
    version = (
        select(versions.version)
        .where(versions.person_id == caller, versions.zone == literal_column(f"'{zone}'", Text))
        .scalar_subquery()
    )
    return [
        caller.label("person_id"),
        func.coalesce(version, literal_column("0")).label("state"),
        _missing(scoped=scoped, known_by=known_by).label("missing"),
    ]


def _head(
    zone: Zone, arms: Sequence[Arm], *, scoped: bool, known_by: KnownBy, triage: Triage
) -> Subquery:
    """One row (a select of scalars, whatever the counters hold): _standing, and the zone's
    total_count for the caller from the counters, less what their snoozes and claimed
    filter leave out (db/triage.py); with `q`, the matches counted."""
    visible = _visible_engagements(zone, scoped=scoped, known_by=known_by)
    standing = _standing(zone, scoped=scoped, known_by=known_by)
    if triage.search:  # counted, not read from the counters
        matched = _search_total(
            [
                _found(zone, arm.kind, scoped=scoped, known_by=known_by, triage=triage)
                for arm in arms
            ]
        )
        return select(matched.label("total_count"), *standing).subquery("head")
    counters = dashboard_counts.c
    counted = (
        # bigint, not sum()'s numeric: the driver decodes that as a Decimal, for nothing.
        select(cast(func.coalesce(func.sum(counters.n), literal_column("0")), BigInteger))
        .where(
            counters.engagement_id.in_(visible.scalar_subquery()),
            counters.item_kind.in_([_kind(arm) for arm in arms]) if arms else false(),
        )
        .scalar_subquery()
    )
    kinds = [arm.kind for arm in arms]
    total = zone_total(counted, kinds, visible, _caller(known_by), triage)
    # No FROM: exactly one row whatever the total is made of (a claimed filter counts from
    # the claims alone; selected from the counters it would be one row per counter).
    return select(total.label("total_count"), *standing).subquery("head")


def _missing(*, scoped: bool, known_by: KnownBy) -> ColumnElement[int]:
    """How many engagements of the filter the caller is not a member of."""
    if not scoped:
        return literal_column("0", Integer)
    members = _memberships(scoped=True, known_by=known_by).subquery()
    return (
        func.cardinality(_ENGAGEMENTS) - select(func.count()).select_from(members).scalar_subquery()
    )


STATEMENT_HEAD = ("total_count", "person_id", "state", "missing")


@lru_cache(maxsize=2048)
def zone_statement(
    zone: Zone,
    *,
    after: bool,
    scoped: bool,
    kinds: tuple[str, ...],
    limit: int,
    known_by: KnownBy = KnownBy.PERSON,
    triage: Triage = PLAIN,
) -> Select[Any]:
    """The one statement behind a zone, built once per shape: STATEMENT_HEAD, then the page
    (`limit` + 1 rows, to see whether more follow) in item_columns(zone) order; one row of
    NULLs after the head when the page is empty. `after` adds the cursor condition, `scoped`
    narrows the zone to the engagements of the filter, `kinds` (empty: all) to those kinds,
    `known_by`: how the statement finds the caller (KnownBy). Parameters:
    zone_parameters().

    The page is cut from index-only candidates (kind, id, key) of every arm; only its rows
    are then read from their tables and joined to their engagement's name."""
    arms = _arms(zone, kinds)
    counters = _head(zone, arms, scoped=scoped, known_by=known_by, triage=triage)
    head = [counters.c[name] for name in STATEMENT_HEAD]
    if not arms:  # only kinds with no rows behind them yet
        empty = select(*head, *(null().label(name) for name in item_columns(zone)))
        return _noting_use(empty, known_by)
    visible = _visible_engagements(zone, scoped=scoped, known_by=known_by)
    sizes = _Sizes.of(limit)
    candidates = union_all(
        *(
            _candidates(
                arm,
                visible,
                sizes,
                after=after,
                scoped=scoped,
                known_by=known_by,
                triage=triage,
            )
            for arm in arms
        )
    ).subquery("candidates")
    page = (
        select(candidates)
        .order_by(*_in_order(candidates.c.sort_key, candidates.c.item_id, triage))
        .limit(sizes.fetch)
        .cte("page")
    )
    rows = union_all(*(_payload(zone, arm, page) for arm in arms)).subquery("rows")
    columns = {**rows.c, "engagement_name": engagements.c.name.label("engagement_name")}
    statement = (
        select(*head, *(columns[name] for name in item_columns(zone)))
        .select_from(
            counters.outerjoin(rows, true()).outerjoin(
                engagements, engagements.c.id == rows.c.engagement_id
            )
        )
        .order_by(*_in_order(rows.c.sort_key, rows.c.item_id, triage))
    )
    return _noting_use(statement, known_by)


@lru_cache(maxsize=256)
def state_statement(zone: Zone, *, scoped: bool, known_by: KnownBy = KnownBy.PERSON) -> Select[Any]:
    """Only who the caller is, their version of the zone and the filter check (STANDING):
    what a poll with If-None-Match runs instead of the zone statement. The version covers
    every kind of the zone, so a kind filter needs nothing more."""
    return _noting_use(select(*_standing(zone, scoped=scoped, known_by=known_by)), known_by)


@lru_cache(maxsize=2048)
def _compiled(statement: Select[Any], dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """A statement compiled once for the connection's dialect: its SQL text and the names of
    its positional parameters (all of them zone_parameters(); every constant is written into
    the SQL). Executing the text skips SQLAlchemy's per-request lookup of the compiled form,
    which hashes the statement's whole structure (docs/benchmarks.md, step 13)."""
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    if unknown := set(names) - _PARAMETERS:
        raise AssertionError(f"zone statement binds {sorted(unknown)}; write constants as SQL")
    return str(compiled), names


def zone_parameters(
    *, caller: Caller, after: Position | None, where: ZoneFilter = NO_FILTER
) -> dict[str, Any]:
    parameters: dict[str, Any] = (
        {"person_id": caller}
        if isinstance(caller, uuid.UUID)
        else {"token_hash": caller.token_hash}
    )
    if after is not None:
        parameters |= {"after_key": after.key, "after_id": after.item_id}
    if where.engagement_ids:
        parameters["engagement_ids"] = list(where.engagement_ids)
    if where.triage.search:
        parameters["q_pattern"] = like_pattern(where.triage.query)
    if where.triage.indexed:
        parameters["q"] = where.triage.query
    return parameters


SQL = tuple[str, tuple[Any, ...]]  # a statement's text and its positional arguments


def _sql(statement: Select[Any], dialect: Dialect, parameters: dict[str, Any]) -> SQL:
    sql, names = _compiled(statement, dialect)
    return sql, tuple(parameters[name] for name in names)


async def _run(conn: AsyncConnection, query: SQL) -> Sequence[Sequence[Any]]:
    # Through asyncpg itself, as /healthz's ping: SQLAlchemy's exec_driver_sql would cost
    # every read ~50 µs more (docs/benchmarks.md). asyncpg keeps the prepared statement.
    driver: Any = (await conn.get_raw_connection()).driver_connection
    rows: Sequence[Sequence[Any]] = await driver.fetch(query[0], *query[1])
    return rows


class NotAMember(Exception):
    """The filter names an engagement the caller is not a member of."""


def _state(person_id: uuid.UUID | None, version: int, missing: int) -> str:
    """The zone's state for its ETag, once the caller and the filter are known good (else
    NotSignedIn, then NotAMember: who is asking is settled before what they ask for).
    Versions come from one sequence, so a person's version is never reused; the person's id
    keeps two people's equal versions apart."""
    if person_id is None:
        raise NotSignedIn()
    if missing:
        raise NotAMember()
    return f"{person_id}:{version}"


async def zone_state(
    conn: AsyncConnection, zone: Zone, *, caller: Caller, where: ZoneFilter = NO_FILTER
) -> str:
    """The zone's state for the caller under `where`, in one statement: equal states, equal
    pages. NotSignedIn for a session that is not live, NotAMember if the filter names an
    engagement they do not belong to."""
    statement = state_statement(
        zone, scoped=bool(where.engagement_ids), known_by=known_by_of(caller)
    )
    parameters = zone_parameters(caller=caller, after=None, where=where)
    ((person_id, version, missing),) = await _run(conn, _sql(statement, conn.dialect, parameters))
    return _state(person_id, version, missing)


def page_query(
    dialect: Dialect,
    zone: Zone,
    caller: Caller,
    limit: int,
    after: Position | None,
    where: ZoneFilter = NO_FILTER,
) -> SQL:
    """The SQL and arguments zone_page sends for this page (the benchmark EXPLAINs them)."""
    statement = zone_statement(
        zone,
        after=after is not None,
        scoped=bool(where.engagement_ids),
        kinds=where.kinds,
        limit=limit,
        known_by=known_by_of(caller),
        triage=where.triage,
    )
    return _sql(statement, dialect, zone_parameters(caller=caller, after=after, where=where))


async def zone_page(
    conn: AsyncConnection,
    row_class: type[RowT],
    *,
    caller: Caller,
    limit: int,
    after: Position | None,
    where: ZoneFilter = NO_FILTER,
) -> Page[RowT]:
    """A page of the zone whose rows are `row_class` (ROW_CLASSES), narrowed by `where`,
    in one statement (NotSignedIn, NotAMember as zone_state)."""
    query = page_query(conn.dialect, ZONE_OF_ROW[row_class], caller, limit, after, where)
    rows = await _run(conn, query)
    total, person_id, version, missing = rows[0][: len(STATEMENT_HEAD)]
    state = _state(person_id, version, missing)
    # After the head, a page with no items is one row of NULLs.
    start = len(STATEMENT_HEAD)
    items = [row_class._make(row[start:]) for row in rows if row[start] is not None]
    has_more = len(items) > limit
    items = items[:limit]
    return Page(
        rows=items,
        total_count=int(total),
        next_after=position_of(items[-1]) if has_more else None,
        state=state,
    )


@cache
def counts_statement(*, known_by: KnownBy) -> Select[Any]:
    """Who the caller is (NULL: no live session), then every engagement of theirs with its
    counters (one row of NULLs after the caller when they have none); needs_you counts only
    where the caller may decide (a viewer has nothing waiting)."""
    me = select(_caller(known_by).label("person_id")).subquery("me")
    memberships = engagement_memberships.c
    counters = dashboard_counts.c
    visible = kind_seen(counters.item_kind, memberships.designation)
    # What the caller snoozed (left out) and how many of the rest are overdue (db/triage.py).
    triaged = counts_adjustments(_caller(known_by), _OVERDUE_BEFORE)
    theirs = (
        engagement_memberships.join(engagements, engagements.c.id == memberships.engagement_id)
        .outerjoin(
            dashboard_counts, (counters.engagement_id == memberships.engagement_id) & visible
        )
        .outerjoin(
            triaged,
            (triaged.c.engagement_id == counters.engagement_id)
            & (triaged.c.item_kind == counters.item_kind),
        )
    )
    statement = (
        select(
            me.c.person_id,
            memberships.engagement_id,
            engagements.c.name,
            memberships.designation,
            counters.item_kind,
            func.coalesce(counters.n, literal_column("0"))
            - func.coalesce(triaged.c.snoozed, literal_column("0")),
            func.coalesce(counters.version, literal_column("0")),
            func.coalesce(triaged.c.overdue, literal_column("0")),
        )
        .select_from(me.outerjoin(theirs, memberships.person_id == me.c.person_id))
        .order_by(engagements.c.name, memberships.engagement_id, counters.item_kind)
    )
    return _noting_use(statement, known_by)


async def counts_of(
    conn: AsyncConnection, *, caller: Caller, overdue_before: datetime
) -> list[CountRow]:
    """Every engagement of the caller with its counters, in one statement (NotSignedIn for a
    session that is not live)."""
    statement = counts_statement(known_by=known_by_of(caller))
    parameters = zone_parameters(caller=caller, after=None) | {"overdue_before": overdue_before}
    rows = await _run(conn, _sql(statement, conn.dialect, parameters))
    if rows[0][0] is None:
        raise NotSignedIn()
    return [CountRow._make(row[1:]) for row in rows if row[1] is not None]
