"""Measurements: HTTP load at N clients, the two N-per-engagement baselines, EXPLAIN ANALYZE
of each zone statement, and the process's resident memory."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import importlib.util
import json
import math
import os
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loomworks.core.rows import ROW_CLASSES
from loomworks.core.states import Zone
from loomworks.db.dashboard import ZoneFilter, page_query, position_of, zone_page

ZONES: tuple[Zone, ...] = tuple(Zone)
# Per zone: the response field holding the recency key and the one holding the item id.
ZONE_KEYS: dict[Zone, tuple[str, str]] = {
    Zone.ACTIVE: ("started_at", "item_id"),
    Zone.NEEDS_YOU: ("created_at", "item_id"),
    Zone.RECENT: ("completed_at", "artifact_id"),
}
# The physical floor of a database-backed request: one SELECT 1, no session.
HEALTH_PATH = "/healthz"
FLOOR_PATH = "/me/memberships"
# Cheaper still, for reference: authentication alone, with a body that does not grow with the
# caller's engagements (the floor lists every membership: 1,000 of them at scale L).
AUTH_PATH = "/me"


def quiet_httpcore_sniffing() -> None:
    """Spare the load generator a failing import per request.

    httpcore asks `import sniffio` every time it sets up a lock and falls back to asyncio
    when that fails; sniffio is not installed here (anyio 4.16 no longer needs it), so each
    request paid a full sys.path scan, about a quarter of the process's CPU at 16 clients.
    A None entry in sys.modules makes the same import fail at once (ModuleNotFoundError), with
    the same fallback. Nothing else changes: anyio, under the app, tried the import once at
    start-up and took the same no-sniffio path.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def summarize(latencies_s: Iterable[float], wall_s: float | None = None) -> dict[str, float]:
    """p50/p95/p99/mean/min/max in milliseconds, the sample count and, given the wall time
    the samples took, the throughput per second."""
    values = sorted(v * 1000 for v in latencies_s)
    summary: dict[str, float] = {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "mean_ms": sum(values) / len(values) if values else math.nan,
        "min_ms": values[0] if values else math.nan,
        "max_ms": values[-1] if values else math.nan,
    }
    if wall_s is not None:
        summary["wall_s"] = wall_s
        summary["per_s"] = len(values) / wall_s if wall_s > 0 else math.nan
    return summary


@dataclass(frozen=True)
class Budget:
    """How long one measurement runs: `duration` seconds, or until `max_samples`, but
    always at least `min_samples`."""

    duration: float
    min_samples: int = 1
    max_samples: int | None = None

    def times(self, n: int) -> Budget:
        """The budget for `n` measurements taken together."""
        return Budget(
            self.duration * n,
            self.min_samples * n,
            None if self.max_samples is None else self.max_samples * n,
        )

    def more(self, taken: int, started: float) -> bool:
        if self.max_samples is not None and taken >= self.max_samples:
            return False
        return taken < self.min_samples or time.perf_counter() - started < self.duration


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # which path each sample requested
    wall_s: float = 0.0

    def summary(self, path: str | None = None) -> dict[str, Any]:
        """All samples, or one path's. A path's share of an interleaved run has no wall time
        of its own; its requests/s is then 1 / its mean latency (one client back to back)."""
        picked = [i for i, p in enumerate(self.paths) if path is None or p == path]
        latencies = [self.latencies_s[i] for i in picked]
        statuses = Counter(self.statuses[i] for i in picked)
        wall = self.wall_s if path is None else sum(latencies)
        result: dict[str, Any] = summarize(latencies, wall)
        result["statuses"] = {str(code): n for code, n in sorted(statuses.items())}
        # A conditional poll answers 304 when nothing changed: that is its success.
        result["errors"] = sum(n for code, n in statuses.items() if code not in (200, 304))
        return result


async def http_load(
    clients: Sequence[httpx.AsyncClient],
    paths: Sequence[str],
    *,
    budget: Budget,
    conditional: Mapping[str, tuple[str, str]] | None = None,
) -> LoadResult:
    """One loop per client, all concurrent, each GETting `paths` round-robin until the budget
    ends. Each client should hold one connection, as one user's browser tab would: a shared
    httpx pool costs O(connections) of client CPU per request, in this same process.
    `conditional` maps some of `paths` (labels) to (path, ETag): a poll with If-None-Match.
    A poll answered 200 keeps the new ETag for its next poll, as a client does (the active
    zone's moves with the minute: a poll kept on the first one measured 200s from then on)."""
    conditional = dict(conditional or {})
    result = LoadResult()
    started = time.perf_counter()
    issued = 0

    async def worker(offset: int, client: httpx.AsyncClient) -> None:
        nonlocal issued
        turn = offset
        while budget.more(issued, started):
            issued += 1
            path = paths[turn % len(paths)]
            turn += 1
            url, etag = conditional.get(path, (path, ""))
            headers = {"if-none-match": etag} if etag else None
            t0 = time.perf_counter()
            response = await client.get(url, headers=headers)
            await response.aread()
            if etag and response.status_code == 200:
                conditional[path] = (url, response.headers.get("etag", etag))
            result.latencies_s.append(time.perf_counter() - t0)
            result.statuses.append(response.status_code)
            result.paths.append(path)

    await asyncio.gather(*(worker(i, client) for i, client in enumerate(clients)))
    result.wall_s = time.perf_counter() - started
    return result


async def repeat(
    action: Callable[[], Awaitable[Any]], budget: Budget
) -> tuple[list[float], list[Any]]:
    """Run `action` back to back until the budget ends; its latencies and results."""
    latencies: list[float] = []
    results: list[Any] = []
    started = time.perf_counter()
    while budget.more(len(latencies), started):
        t0 = time.perf_counter()
        results.append(await action())
        latencies.append(time.perf_counter() - t0)
    return latencies, results


# --- the baselines -----------------------------------------------------------------------


async def decisions(client: httpx.AsyncClient, *, budget: Budget) -> dict[str, Any]:
    """Decide the caller's needs_you items one by one, newest first, through each item's first
    action (one POST each, over HTTP), until the budget or the zone runs out."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    while budget.more(len(latencies), started):
        page = (await client.get("/me/dashboard/needs_you", params={"limit": 100})).json()
        if not page["items"]:
            break
        for item in page["items"]:
            if not budget.more(len(latencies), started):
                break
            action = item["actions"][0]
            sent = time.perf_counter()
            response = await client.request(action["method"], action["url"])
            latencies.append(time.perf_counter() - sent)
            statuses[response.status_code] += 1
    return {
        **summarize(latencies, time.perf_counter() - started),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


async def merged_in_process(
    conn: AsyncConnection,
    zone: Zone,
    *,
    person_id: uuid.UUID,
    engagement_ids: Sequence[uuid.UUID],
    limit: int,
) -> tuple[list[Any], int]:
    """Baseline (b): the zone statement once per engagement, sequentially on one connection,
    merged in Python and cut to `limit`; the merged page and the summed total_count."""
    pages = []
    total = 0
    for engagement_id in engagement_ids:
        page = await zone_page(
            conn,
            ROW_CLASSES[zone],
            caller=person_id,
            limit=limit,
            after=None,
            where=ZoneFilter.of([engagement_id]),
        )
        pages.append(page.rows)
        total += page.total_count
    merged = heapq.merge(*pages, key=position_of, reverse=True)
    return list(islice(merged, limit)), total


def _item_key(zone: Zone) -> Callable[[dict[str, Any]], tuple[datetime, uuid.UUID]]:
    key_field, id_field = ZONE_KEYS[zone]

    def key(item: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
        return datetime.fromisoformat(item[key_field]), uuid.UUID(item[id_field])

    return key


async def merged_over_http(
    clients: Sequence[httpx.AsyncClient],
    zone: Zone,
    *,
    engagement_ids: Sequence[uuid.UUID],
    limit: int,
) -> tuple[list[dict[str, Any]], int, Counter[int]]:
    """Baseline (c): one GET per engagement, all issued at once (spread over `clients`, one
    connection each), merged client-side and cut."""
    responses = await asyncio.gather(
        *(
            clients[i % len(clients)].get(
                f"/engagements/{eid}/dashboard/{zone}", params={"limit": limit}
            )
            for i, eid in enumerate(engagement_ids)
        )
    )
    statuses = Counter(r.status_code for r in responses)
    bodies = [r.json() for r in responses if r.status_code == 200]
    merged = heapq.merge(*(b["items"] for b in bodies), key=_item_key(zone), reverse=True)
    total = sum(int(b["total_count"]) for b in bodies)
    return list(islice(merged, limit)), total, statuses


# --- EXPLAIN ANALYZE -----------------------------------------------------------------------


def _walk(node: dict[str, Any]) -> Iterable[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """The figures worth reading off a JSON plan: times, buffers, sorts, the busiest nodes."""
    root = plan["Plan"]
    nodes = []
    for node in _walk(root):
        rows = float(node.get("Actual Rows", 0)) * float(node.get("Actual Loops", 1))
        described = {
            "node": node["Node Type"],
            "rows": int(rows),
            "loops": int(node.get("Actual Loops", 1)),
        }
        for key in ("Relation Name", "Index Name", "Sort Method", "Strategy", "Subplan Name"):
            if key in node:
                described[key.lower().replace(" ", "_")] = node[key]
        nodes.append(described)
    sorts = [n for n in nodes if n["node"] in ("Sort", "Incremental Sort")]
    sort_inputs = []
    for node in _walk(root):
        if node["Node Type"] in ("Sort", "Incremental Sort"):
            child = node.get("Plans", [{}])[0]
            sort_inputs.append(
                int(float(child.get("Actual Rows", 0)) * float(child.get("Actual Loops", 1)))
            )
    scans = [n for n in nodes if "Scan" in n["node"] and n["rows"] > 0]
    return {
        "execution_ms": float(plan["Execution Time"]),
        "planning_ms": float(plan["Planning Time"]),
        "shared_hit_blocks": int(root.get("Shared Hit Blocks", 0)),
        "shared_read_blocks": int(root.get("Shared Read Blocks", 0)),
        "sorts": [{**s, "input_rows": rows} for s, rows in zip(sorts, sort_inputs, strict=True)],
        "max_sort_input_rows": max(sort_inputs, default=0),
        "rows_scanned": sum(n["rows"] for n in scans),
        "biggest_scans": sorted(scans, key=lambda n: n["rows"], reverse=True)[:4],
    }


async def explain_zone(
    engine: AsyncEngine,
    zone: Zone,
    *,
    person_id: uuid.UUID,
    limit: int,
    repeats: int = 5,
) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the zone's first-page statement with the real parameters.

    Execution and planning times are the median of `repeats` warm runs with TIMING OFF (per
    node clocks inflate plans that touch many rows); one run with per-node timing gives the
    text plan (and `execution_ms_timed`); one more is forced onto the generic plan, which a
    long-lived prepared statement (asyncpg caches them) may switch to after five runs.
    """
    async with engine.connect() as conn:
        sql, params = page_query(conn.dialect, zone, person_id, limit, after=None)
        runs = []
        for _ in range(max(1, repeats)):
            raw = (
                await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) " + sql, params
                )
            ).scalar_one()
            runs.append(_plan(raw))
        median = _median(runs)
        text_plan = "\n".join(
            row[0]
            for row in (
                await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + sql, params)
            ).all()
        )
        generic = await _explain_generic(conn, sql, params, repeats=repeats)
        await conn.rollback()
    timed = [line for line in text_plan.splitlines() if line.startswith("Execution Time:")]
    return {
        **plan_summary(median),
        "execution_ms_runs": [float(p["Execution Time"]) for p in runs],
        "execution_ms_timed": float(timed[0].split()[2]) if timed else math.nan,
        "generic_plan": generic,
        "text_plan": text_plan,
        "sql": sql,
    }


def _plan(raw: Any) -> dict[str, Any]:
    """The plan of one `EXPLAIN (FORMAT JSON)` result (text or already decoded)."""
    plan: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    return plan


def _median(plans: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median execution time (sorts `plans` in place, fastest first)."""
    plans.sort(key=lambda plan: float(plan["Execution Time"]))
    return plans[len(plans) // 2]


def _literal(value: Any) -> str:
    """A parameter value as SQL text, for EXECUTE's argument list (types the zone statements
    bind: integers, strings, UUIDs and timestamps)."""
    if isinstance(value, bool) or value is None:
        return "NULL" if value is None else str(value).upper()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, uuid.UUID | datetime):
        return "'" + str(value.isoformat() if isinstance(value, datetime) else value) + "'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot render {type(value).__name__} as a literal")


async def _explain_generic(
    conn: AsyncConnection, sql: str, params: Any, *, repeats: int
) -> dict[str, Any] | None:
    """The same statement PREPAREd and EXPLAIN ANALYZE EXECUTEd with plan_cache_mode forcing
    the generic plan, the median of `repeats` runs: the plan the service runs once a pooled
    connection has executed a statement five times (the zone statements keep it); an error
    entry when the server refuses."""
    args = ", ".join(_literal(value) for value in params or ())
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        async with conn.begin_nested():
            await conn.exec_driver_sql(f"PREPARE {name} AS {sql}")
            await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            explain = f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) EXECUTE {name}"
            execute = explain + (f"({args})" if args else "")
            plans = []
            for _ in range(max(1, repeats)):
                plans.append(_plan((await conn.exec_driver_sql(execute)).scalar_one()))
            await conn.exec_driver_sql(f"DEALLOCATE {name}")
    except Exception as exc:  # the figure is optional; say why it is missing
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    summary = plan_summary(_median(plans))
    keep = ("execution_ms", "planning_ms", "max_sort_input_rows", "rows_scanned", "biggest_scans")
    return {k: summary[k] for k in keep}


# --- the server ----------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size of the server process."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class Server:
    base_url: str
    pid: int


@contextlib.asynccontextmanager
async def serve(database_url: str, *, pool_size: int) -> AsyncIterator[Server]:
    """Run the app under uvicorn in its own process (as it runs in production, so the load
    generator's CPU is not the server's), on 127.0.0.1 at a free port; stop it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "LOOMWORKS_DATABASE_URL": database_url,
        "LOOMWORKS_DB_POOL_SIZE": str(pool_size),
    }
    command = [
        sys.executable, "-m", "uvicorn", "loomworks.app:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(*command, env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.perf_counter() + 60
        async with httpx.AsyncClient(base_url=base_url) as probe_client:
            while True:
                if process.returncode is not None:
                    raise RuntimeError("uvicorn exited before it started")
                try:
                    if (await probe_client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError("uvicorn did not start within 60 s")
                await asyncio.sleep(0.05)
        yield Server(base_url, process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()
