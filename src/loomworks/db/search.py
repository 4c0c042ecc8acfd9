"""Search (`q`) as SQL: the text of an item's label a search reads, written from the source's
own label writer, so the wording is said once (core/labels.py) and searched as it reads.

The writer is called once with stand-ins for its parts (LabelParts); what comes back is the
label's template: fixed words with the parts in their places. In SQL the stand-ins become
the source's label columns (a part the writer humanises, `deck_section` -> `Deck section`,
is read with `_` and `-` as spaces; case never matters, ILIKE ignores it). docs/triage.md
says what matches and what does not.

The index: the embedded PostgreSQL has no pg_trgm, so `search_trigrams` (FUNCTION_SQL,
installed by migration 0017) gives a text's distinct 3-character pieces after lower(), and
each source has a GIN index of its label's (db/tables.py). ILIKE compares lower() of both
sides, so whenever a label contains `q` ignoring case, lower(label) contains lower(q) and
so holds every piece of it: `trigrams(label) @> trigrams(q)` never drops a match, and the
ILIKE stays as the exact test of what the index finds.
"""

from __future__ import annotations

import operator
import re
from functools import cache, reduce

from sqlalchemy import ColumnElement, Table, Text, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY

from loomworks.core.kinds import Source, Wording
from loomworks.core.labels import LabelParts

MAX_QUERY_LENGTH = 200
TRIGRAM = 3  # characters per piece

# Installed by migration 0017 (a frozen copy there); tests/db/test_migrations.py compares.
# IMMUTABLE so an index can hold it: lower() follows the database's collation, which an
# index may assume never changes (as for any index on lower()).
FUNCTION_SQL = """\
CREATE FUNCTION search_trigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
SELECT coalesce(array_agg(DISTINCT substr(lowered, i, 3)), '{}')
FROM lower(t) AS lowered, generate_series(1, char_length(lowered) - 2) AS i
$$"""

# Stand-ins: letters that humanise and clip leave alone except for `_` (read as a space),
# so the template shows which parts were humanised.
_TEXT, _EXTRA, _NUMBER = "Ʃ_Ʃ", "Ʊ_Ʊ", 918273645
_PART = {
    _TEXT: ("label_text", False),
    "Ʃ Ʃ": ("label_text", True),
    _EXTRA: ("label_extra", False),
    "Ʊ Ʊ": ("label_extra", True),
    str(_NUMBER): ("display_number", False),
}
_PIECES = re.compile("(" + "|".join(re.escape(part) for part in _PART) + ")")


@cache
def label_template(writer: Wording) -> tuple[str, ...]:
    """The label as the writer writes it, split into fixed words and stand-ins."""
    written = writer(LabelParts(_TEXT, _EXTRA, _NUMBER))
    return tuple(piece for piece in _PIECES.split(written) if piece)


def _constant(text: str) -> ColumnElement[str]:
    # Literal SQL (our own wording, never a request's): an index expression cannot bind.
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def _part(source: Source, table: Table, piece: str) -> ColumnElement[str]:
    name, humanised = _PART[piece]
    column: ColumnElement[str] = table.c[source.payload[name]]
    if name == "display_number":
        column = cast(column, Text)
    elif humanised:
        column = func.translate(column, _constant("_-"), _constant("  "))
    return func.coalesce(column, _constant(""))


def label_text(source: Source, table: Table) -> ColumnElement[str]:
    """The source's label as SQL text (immutable, so a trigram index can hold it): its fixed
    words and its label columns in the order the label shows them."""
    pieces = [
        _part(source, table, piece) if piece in _PART else _constant(piece)
        for piece in label_template(source.label)
    ]
    return reduce(operator.add, pieces) if len(pieces) > 1 else pieces[0]


def like_pattern(q: str) -> str:
    """`q` as an ILIKE pattern for "contains": `%`, `_` and the escape match themselves."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def trigrams(text: ColumnElement[str]) -> ColumnElement[list[str]]:
    """The distinct 3-character pieces of lower(text), as the index holds them."""
    return func.search_trigrams(text, type_=ARRAY(Text))


def has_trigrams(q: str) -> bool:
    """Whether `q` has a piece to look up (shorter: every row would pass the index test)."""
    return len(q) >= TRIGRAM


def query_trigrams(q: ColumnElement[str]) -> ColumnElement[list[str]]:
    """The pieces of the request's q, computed once per statement (an InitPlan), not per row,
    by the same function as the index, so both sides are lowered alike."""
    return select(trigrams(q)).scalar_subquery()
