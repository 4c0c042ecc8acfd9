"""The search index (db/search.py) never loses a match, and the zone statements use it.

Whenever a label contains `q` ignoring case as the zones test it (ILIKE), the label's
trigrams must hold all of q's, or the index would hide a real match: checked in PostgreSQL
itself (its lower() and ILIKE are what count, not Python's) over random labels and queries
with mixed case, non-ASCII letters whose case mapping is unusual, `%`, `_`, `\\` and short
queries.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from loomworks.core.kinds import sources_in
from loomworks.core.states import Zone
from loomworks.db.dashboard import ZoneFilter, _compiled, zone_parameters, zone_statement
from loomworks.db.search import has_trigrams, like_pattern
from loomworks.db.triage import Triage
from tests.fixtures.data import make_engagement, make_person

# Letters with case pairs, letters whose lower() is special (dotted/dotless i, sharp s and its
# capital, final sigma, Kelvin sign, a titlecase digraph, a ligature), a combining accent,
# an emoji, digits, spaces and what a LIKE pattern treats specially.
ALPHABET = "aAbBsSiIzZ09 -#:%_\\ßẞİıΣσςÄäÉé\u0301Kǅǆﬁ🙂"
LABELS = st.text(ALPHABET, max_size=24)


def _recase(text: str, flips: list[bool]) -> str:
    return "".join(
        char.swapcase() if flip else char for char, flip in zip(text, flips, strict=True)
    )


@st.composite
def searches(draw: st.DrawFn) -> tuple[str, str]:
    """A label and a query: mostly a piece of the label in another case (a match, unless the
    case change is one PostgreSQL's lower() does not undo), else any short text."""
    label = draw(LABELS)
    if label and draw(st.booleans()):
        start = draw(st.integers(0, len(label) - 1))
        end = draw(st.integers(start + 1, len(label)))
        piece = label[start:end]
        flips = draw(st.lists(st.booleans(), min_size=len(piece), max_size=len(piece)))
        query = _recase(piece, flips)
    else:
        query = draw(st.text(ALPHABET, min_size=1, max_size=6))
    return label, query


LOST = text(
    """
    SELECT label, q FROM unnest(CAST(:labels AS text[]), CAST(:qs AS text[]),
                                CAST(:patterns AS text[])) AS t(label, q, pattern)
    WHERE label ILIKE pattern AND NOT (search_trigrams(label) @> search_trigrams(q))
    """
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pairs=st.lists(searches(), min_size=1, max_size=20))
@example(pairs=[("İSTANBUL", "iSt"), ("STRASSE", "ẞe"), ("Straße", "STRASSE"), ("ΟΔΟΣ", "ΔΟΣ")])
@example(pairs=[("100% done_x\\y", "0% d"), ("a_b\\c", "_b\\"), ("KELVIN", "kel")])
async def test_the_trigram_test_never_drops_an_ilike_match(
    db: AsyncConnection, pairs: list[tuple[str, str]]
) -> None:
    indexed = [(label, q) for label, q in pairs if has_trigrams(q)]
    parameters = {
        "labels": [label for label, _ in indexed],
        "qs": [q for _, q in indexed],
        "patterns": [like_pattern(q) for _, q in indexed],
    }
    assert (await db.execute(LOST, parameters)).all() == []


async def test_a_match_is_found_and_a_miss_is_not(db: AsyncConnection) -> None:
    """The test is not vacuous: it passes the label that contains q, and not one that holds
    some of q's pieces but not q."""
    row = (
        await db.execute(
            text(
                "SELECT search_trigrams('Render #12: Sheet 12') @> search_trigrams('sheet 1'),"
                " search_trigrams('plan of the site') @> search_trigrams('site plan'),"
                " search_trigrams('ab'), search_trigrams('')"
            )
        )
    ).one()
    assert tuple(row) == (True, False, [], [])


async def _plan(db: AsyncConnection, zone: Zone) -> str:
    """EXPLAIN of the zone statement with `q`, as the app sends it."""
    triage = Triage.of(q="north wing")
    statement = zone_statement(zone, after=False, scoped=False, kinds=(), limit=50, triage=triage)
    sql, names = _compiled(statement, db.dialect)
    parameters = zone_parameters(
        caller=uuid.uuid4(), after=None, where=ZoneFilter.of(triage=triage)
    )
    result = await db.exec_driver_sql("EXPLAIN " + sql, tuple(parameters[name] for name in names))
    return "\n".join(row[0] for row in result.all())


async def test_each_zone_statement_with_q_tests_each_arms_search_index(
    db: AsyncConnection,
) -> None:
    """The label expression the zone statement tests is its arm's index expression, as
    PostgreSQL reads both (both come from db/search.label_text): were they to differ, the
    planner could not use the index and would read every row again, silently. (Which plan
    it picks depends on the data: at bench scale, docs/benchmarks.md, it is the index.)"""
    await make_engagement(db, "Harbour", member=await make_person(db))
    for zone in Zone:
        plan = await _plan(db, zone)
        for source in sources_in(zone):
            definition = (
                await db.execute(
                    text("SELECT pg_get_indexdef(CAST(:name AS regclass))"),
                    {"name": f"{source.index}_search"},
                )
            ).scalar_one()
            indexed = definition.split(" USING gin (", 1)[1].rsplit(") WHERE ", 1)[0]
            assert indexed.startswith("search_trigrams(")
            assert f"{indexed} @> " in plan, (zone, source.kind, indexed)
