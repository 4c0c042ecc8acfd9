"""Readable tables and the JSON file of one scale's results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.measure import ZONES


def write_json(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str, allow_nan=True) + "\n")


def _ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _line(cells: list[str], widths: list[int]) -> str:
    """First column left-aligned, the rest right-aligned."""
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [_line(headers, widths), "  ".join("-" * w for w in widths)]
    lines.extend(_line(row, widths) for row in rows)
    return "\n".join(lines)


def render(document: dict[str, Any]) -> str:
    """The printed report of one scale."""
    env = document["environment"]
    load = document["load"]
    counts = load["row_counts"]
    timings = load["timings_s"]
    out = [
        "",
        f"=== scale {document['scale']}: {document['description']}",
        f"    {env['cpu_count']} CPUs, {env['platform']}, Python {env['python']} "
        f"({env['event_loop']}), PostgreSQL {env['postgresql']}",
        f"    code: commit {str(env['code']['git_commit'])[:10]}, schema revision "
        f"{env['database_revision']}, statement sources {env['code']['statement_sources_sha256']}",
        f"    load {timings['total_s']:.1f} s ({load['mode']}): "
        + ", ".join(
            f"{label} {timings[key]:.1f} s"
            for key, label in (
                ("insert_s", "insert"),
                ("upgrade_to_head_s", "upgrade to head"),
                ("vacuum_analyze_s", "vacuum/analyze"),
            )
            if key in timings
        ),
        f"    caller in {load['caller_engagements']} engagements "
        f"({load['caller_viewer_engagements']} as viewer), "
        f"{load['noise_engagements']} noise engagements",
        "    rows: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()),
        "",
    ]
    pages = document["first_pages"]
    endpoints = document["endpoints"]
    floor = endpoints["floor"]
    rows = []
    for label, entry in endpoints.items():
        page = pages.get(entry["path"])
        shown = f"{page['items']}/{page['total_count']}" if page and label in ZONES else "-"
        for clients in (1, 16):
            s = entry[f"c{clients}"]
            ratio = s["p50_ms"] / floor[f"c{clients}"]["p50_ms"]
            rows.append(
                [
                    (f"GET {entry['path']}" if page else f"poll {label}") if clients == 1 else "",
                    str(clients),
                    str(int(s["n"])),
                    _ms(s["p50_ms"]),
                    _ms(s["p95_ms"]),
                    _ms(s["p99_ms"]),
                    f"{s['per_s']:.0f}",
                    f"{ratio:.2f}",
                    str(s["errors"]),
                    shown if clients == 1 else "",
                ]
            )
    out.append(
        _table(
            [
                "endpoint",
                "clients",
                "n",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "req/s",
                "x floor",
                "errors",
                "items/total",
            ],
            rows,
        )
    )
    out.append("")
    baselines = document["baselines"]
    n = baselines["engagements"]
    rows = []
    for zone in ZONES:
        ours = endpoints[zone]["c1"]
        ours_direct = baselines["ours_in_process"][zone]
        b = baselines["in_process"][zone]
        c = baselines["http_fanout"][zone]
        ratio = document["ratios"][zone]
        rows.append(
            [
                zone,
                _ms(ours["p50_ms"]),
                _ms(ours["p95_ms"]),
                _ms(ours_direct["p50_ms"]),
                _ms(b["p50_ms"]),
                _ms(b["p95_ms"]),
                f"{ratio['in_process_over_ours']:.2f}",
                _ms(c["p50_ms"]),
                _ms(c["p95_ms"]),
                f"{ratio['http_fanout_over_ours']:.2f}",
            ]
        )
    out.append(
        f"full zone, 1 client: ours over HTTP and in-process vs (b) {n} sequential in-process "
        f"queries merged in Python (set against ours in-process) vs (c) {n} concurrent HTTP "
        "calls merged client-side (set against ours over HTTP)"
    )
    out.append(
        _table(
            [
                "zone",
                "ours p50",
                "ours p95",
                "ours in-proc p50",
                "(b) p50",
                "(b) p95",
                "(b)/ours",
                "(c) p50",
                "(c) p95",
                "(c)/ours",
            ],
            rows,
        )
    )
    out.append("")
    rows = []
    for zone in ZONES:
        e = document["explain"][zone]
        generic = e.get("generic_plan") or {}
        biggest = e["biggest_scans"][0] if e["biggest_scans"] else None
        rows.append(
            [
                zone,
                _ms(e["execution_ms"]),
                _ms(e["planning_ms"]),
                _ms(e.get("execution_ms_timed", math.nan)),
                _ms(generic.get("execution_ms", math.nan)),
                f"{e['shared_hit_blocks']:,}",
                f"{e['shared_read_blocks']:,}",
                f"{e['max_sort_input_rows']:,}",
                f"{e['rows_scanned']:,}",
                (
                    f"{biggest['node']} {biggest.get('index_name') or biggest.get('relation_name')}"
                    f" {biggest['rows']:,}"
                    if biggest
                    else "-"
                ),
            ]
        )
    out.append(
        "EXPLAIN (ANALYZE, BUFFERS) of each zone's first page: median exec/plan ms with TIMING "
        "OFF (a fresh custom plan); one run with node timing; the generic plan the service "
        "keeps running (median)"
    )
    out.append(
        _table(
            [
                "zone",
                "exec ms",
                "plan ms",
                "timed exec ms",
                "generic exec ms",
                "hit blocks",
                "read blocks",
                "max sort input",
                "rows scanned",
                "biggest scan (rows)",
            ],
            rows,
        )
    )
    memory = document["memory"]
    sustained = memory["sustained"]
    out.append("")
    out.append(
        f"memory: RSS {memory['rss_before_mb']:.0f} MB before, {memory['rss_after_mb']:.0f} MB "
        f"after {sustained['wall_s']:.0f} s of 16 clients on all zones "
        f"({int(sustained['n'])} requests, {sustained['per_s']:.0f} req/s, p50 "
        f"{_ms(sustained['p50_ms'])} ms, p99 {_ms(sustained['p99_ms'])} ms, "
        f"{sustained['errors']} errors); growth {memory['rss_growth_mb']:+.1f} MB"
    )
    if "decisions" in document:
        decided = document["decisions"]
        out.append(
            f"decisions: {int(decided['n'])} taken one at a time over HTTP, p50 "
            f"{_ms(decided['p50_ms'])} ms, p99 {_ms(decided['p99_ms'])} ms "
            f"(statuses {decided['statuses']})"
        )
    return "\n".join(out)
