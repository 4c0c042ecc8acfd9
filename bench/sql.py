"""Print the SQL each dashboard zone sends, as the code builds it: `uv run python -m bench.sql`."""

from __future__ import annotations

import argparse

from sqlalchemy.dialects import postgresql

from loomworks.core.states import Zone
from loomworks.db.dashboard import KnownBy, zone_statement
from loomworks.db.triage import Triage

ZONES = [str(zone) for zone in Zone]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("zones", nargs="*", default=list(ZONES), choices=ZONES)
    parser.add_argument("--cursor", action="store_true", help="the statement for later pages")
    parser.add_argument(
        "--scoped", action="store_true", help="the statement filtered to some engagements"
    )
    parser.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    parser.add_argument(
        "--by-person",
        action="store_true",
        help="the caller as a person id (with replicas), not a session the statement checks",
    )
    parser.add_argument("--q", default="", help="the statement with a search (`q`) of this text")
    args = parser.parse_args()
    for zone in args.zones:
        statement = zone_statement(
            Zone(zone),
            after=args.cursor,
            scoped=args.scoped,
            kinds=(),
            limit=args.limit,
            known_by=KnownBy.PERSON if args.by_person else KnownBy.SESSION,
            triage=Triage.of(q=args.q),
        )
        searched = f" q={args.q!r}" if args.q else ""
        print(f"-- {zone}{' (after a cursor)' if args.cursor else ''}{searched}")
        print(f"{statement.compile(dialect=postgresql.dialect())};\n")


if __name__ == "__main__":
    main()
