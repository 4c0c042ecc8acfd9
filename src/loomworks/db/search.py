"""Search (`q`) as SQL: the text of an item's label a search reads, written from the source's
own label writer, so the wording is said once (core/labels.py) and searched as it reads.

The writer is called once with stand-ins for its parts (LabelParts); what comes back is the
label's template: fixed words with the parts in their places. In SQL the stand-ins become
the source's label columns (a part the writer humanises, `deck_section` -> `Deck section`,
is read with `_` and `-` as spaces; case never matters, ILIKE ignores it). docs/triage.md
says what matches and what does not.
"""

from __future__ import annotations

import operator
import re
from functools import cache, reduce

from sqlalchemy import ColumnElement, Table, Text, cast, func, literal_column

from loomworks.core.kinds import Source, Wording
from loomworks.core.labels import LabelParts

MAX_QUERY_LENGTH = 200

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
