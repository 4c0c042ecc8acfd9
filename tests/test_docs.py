"""The docs say what the code does: docs/concepts.md's tables are the registry's."""

from __future__ import annotations

from pathlib import Path

from loomworks.core.kinds import SOURCES, Source, sources_in
from loomworks.core.states import Zone

CONCEPTS = Path(__file__).parent.parent / "docs" / "concepts.md"
BEGIN = (
    "<!-- zone table: generated from loomworks.core.kinds.SOURCES,"
    " checked by tests/test_docs.py -->"
)
END = "<!-- end of zone table -->"


def zone_row(source: Source) -> str:
    return (
        f"| {source.zone} | `{source.kind}` | `{source.table}` | `{source.predicate()}` "
        f"| `{source.key}` |"
    )


def test_concepts_zone_table_is_the_registry() -> None:
    text = CONCEPTS.read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip().splitlines()
    expected = [
        "| zone | item kind | table | rows | newest first by |",
        "|---|---|---|---|---|",
        *(zone_row(source) for source in SOURCES),
    ]
    assert table == expected


def test_concepts_job_table_says_when_each_job_runs() -> None:
    rows = CONCEPTS.read_text().splitlines()
    for source in sources_in(Zone.ACTIVE):
        (row,) = [row for row in rows if row.startswith("| **") and f"`{source.table}`" in row]
        running = row.split("|")[3].strip()
        assert running == ", ".join(f"`{state}`" for state in source.states)
