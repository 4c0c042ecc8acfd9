"""Smoke test of the benchmark (`python -m bench`) at the tiny scale, on the test database.

Structure only: every zone and baseline is reported with positive figures, the zones answered
200 with items, the JSON is written and the report renders. No timing thresholds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from bench import data, report
from bench.__main__ import parse_args
from bench.data import SCALES
from bench.measure import ZONES
from bench.runner import Options, result_path, run_scale
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loomworks.db.people import person_for_token
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import alembic_config


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value > 0


async def test_bench_tiny_reports_every_zone_and_baseline(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    # `engine` migrates the session database and empties the tables after this test.
    options = Options(
        duration=0.2,
        min_samples=2,
        sustain_seconds=0.3,
        explain_repeats=1,
        cleanup=True,
        quiet=True,
    )
    document = await run_scale(database_url, SCALES["tiny"], options)

    path = tmp_path / "tiny.json"
    report.write_json(document, path)
    written = json.loads(path.read_text())
    assert written["scale"] == "tiny"
    assert set(written) >= {
        "environment",
        "load",
        "first_pages",
        "endpoints",
        "baselines",
        "explain",
        "memory",
        "ratios",
    }
    env = written["environment"]
    assert env["cpu_count"] and env["python"] and env["postgresql"] and env["platform"]

    counts = document["load"]["row_counts"]
    for table in ("engagements", "shaping_jobs", "shapes", "assertions", "renders"):
        assert counts[table] > 0, table
    assert counts["render_files"] > 0
    assert document["load"]["caller_engagements"] == SCALES["tiny"].caller_engagements

    for page in document["first_pages"].values():
        assert page["status"] == 200
    for zone in ZONES:
        page = document["first_pages"][f"/me/dashboard/{zone}?limit=50"]
        assert page["items"] > 0, zone
        assert page["total_count"] >= page["items"], zone

    for label in ("floor", *ZONES):
        for clients in ("c1", "c16"):
            figures = document["endpoints"][label][clients]
            assert figures["errors"] == 0, (label, clients)
            for key in ("n", "p50_ms", "p95_ms", "p99_ms", "per_s"):
                assert _positive(figures[key]), (label, clients, key)

    for zone in ZONES:
        for baseline in ("in_process", "http_fanout"):
            figures = document["baselines"][baseline][zone]
            assert figures["n"] >= 2, (baseline, zone)
            assert _positive(figures["p50_ms"]) and _positive(figures["p95_ms"])
            assert figures["items"] > 0, (baseline, zone)
        assert document["baselines"]["http_fanout"][zone]["statuses"].keys() == {"200"}
        ratios = document["ratios"][zone]
        assert all(_positive(v) for v in ratios.values()), (zone, ratios)
        explained = document["explain"][zone]
        assert _positive(explained["execution_ms"]) and _positive(explained["planning_ms"])
        assert "Execution Time" in explained["text_plan"]

    memory = document["memory"]
    assert _positive(memory["rss_before_mb"]) and _positive(memory["rss_after_mb"])
    assert memory["sustained"]["errors"] == 0 and memory["sustained"]["n"] > 0

    printed = report.render(document)
    for zone in ZONES:
        assert f"/me/dashboard/{zone}" in printed
    assert "/me/memberships" in printed


def test_bench_command_line_and_result_paths(tmp_path: Path) -> None:
    args = parse_args(["--scale", "tiny", "S", "--duration", "0.5", "--json", "out.json"])
    assert args.scale == ["tiny", "S"] and args.duration == 0.5
    assert result_path(None, "M", many=False).name == "M.json"
    assert result_path(str(tmp_path / "r-{scale}.json"), "L", many=True).name == "r-L.json"
    assert result_path(str(tmp_path / "r.json"), "L", many=True).name == "r-L.json"
    assert result_path(str(tmp_path / "r.json"), "L", many=False).name == "r.json"


async def test_bench_loads_at_the_base_schema_then_upgrades_to_head(empty_database: str) -> None:
    """The benchmark's own databases are loaded at the first migration's schema and then
    upgraded (`load(from_base=True)`, as `python -m bench` does): they end at head, and the
    caller's session opens the dashboard there."""
    engine = create_engine(empty_database, pool_size=1)
    try:
        dataset = await data.load(engine, SCALES["tiny"], from_base=True)
        async with engine.connect() as conn:
            person = await person_for_token(conn, dataset.token)
            revision = await conn.execute(text("SELECT version_num FROM alembic_version"))
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert revision.scalar_one() == head
    finally:
        await engine.dispose()
    assert person is not None and person.id == dataset.caller_id
