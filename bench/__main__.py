"""`python -m bench`: the dashboard benchmark's command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bench.data import SCALES
from bench.runner import Options, run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark the cross-engagement dashboard zones over real HTTP against generated "
            "data, next to the cheapest authenticated call and N-per-engagement baselines."
        ),
    )
    parser.add_argument(
        "--scale",
        nargs="+",
        choices=list(SCALES),
        default=["S"],
        help="data set(s) to run, each on a fresh database (default: S)",
    )
    parser.add_argument(
        "--json",
        dest="json_path",
        default=None,
        help="where to write results (default bench-results/<scale>.json; '{scale}' in the "
        "path is replaced; with several scales and no '{scale}', -<scale> is appended)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=3.0,
        help="seconds per measurement (default 3)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="stop a measurement after this many requests, even before --duration",
    )
    parser.add_argument(
        "--min-samples",
        type=int,
        default=5,
        help="at least this many full-zone samples for the N-per-engagement baselines",
    )
    parser.add_argument(
        "--sustain",
        type=float,
        default=None,
        help="seconds of 16-client load for the memory figure (default: per scale, 10 s)",
    )
    parser.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    parser.add_argument(
        "--fanout-connections",
        type=int,
        default=64,
        help="HTTP connections baseline (c) spreads its N concurrent calls over (default 64)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=10, help="the app's database pool size (default 10)"
    )
    parser.add_argument(
        "--no-uvloop", action="store_true", help="use the default asyncio event loop"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        duration=args.duration,
        max_requests=args.requests,
        min_samples=args.min_samples,
        sustain_seconds=args.sustain,
        limit=args.limit,
        fanout_connections=args.fanout_connections,
        db_pool_size=args.pool_size,
        quiet=args.quiet,
    )
    run(
        args.scale,
        options=options,
        json_path=args.json_path,
        database_url=os.environ.get("LOOMWORKS_DATABASE_URL") or None,
        use_uvloop=not args.no_uvloop,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
