"""Benchmark of the cross-engagement dashboard: `uv run python -m bench --scale S M`.

It loads a generated data set into a throwaway embedded PostgreSQL (or the database at
LOOMWORKS_DATABASE_URL), serves the real app with uvicorn on a free local port, and measures
each dashboard zone over HTTP next to the cheapest authenticated call (the floor) and two
N-per-engagement baselines, plus EXPLAIN ANALYZE of each zone statement and process memory.

Faults have their own: `python -m bench.slow_clients` (stalled download clients next to
ordinary traffic) and `python -m bench.db_outage` (the database hung, stopped, restarted);
docs/reliability.md has their figures.
"""
