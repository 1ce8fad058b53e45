"""Prometheus metrics, correct across processes.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (``ability serve`` and
``ability worker`` set it, see ``metrics_dir``), every process writes its
values to files there and ``/metrics`` adds them up, so several uvicorn
workers and Celery workers read as one service. Labels are low-cardinality:
route templates, never raw paths, tenants or users.

HTTP
- ``ability_http_requests_total{method,route,status}`` — status class, 2xx…
- ``ability_http_request_duration_seconds{method,route}`` — histogram
- ``ability_http_requests_in_flight``
Cache
- ``ability_cache_lookups_total{level,result}`` — l1/l2, hit/miss
- ``ability_cache_evictions_total{level}``
- ``ability_cache_invalidations_total{direction}`` — sent/received
- ``ability_cache_entries{level}`` — L1 entries (sum over processes)
Database
- ``ability_db_pool_connections{state}`` — size/checked_out/overflow
- ``ability_db_pool_wait_seconds`` — histogram of waits for a connection
- ``ability_db_slow_queries_total{statement}`` and
  ``ability_db_slow_query_seconds_total{statement}`` — per fingerprint
Jobs
- ``ability_jobs_queue_depth`` — jobs waiting in in-process runners
- ``ability_job_step_duration_seconds{runner}`` — histogram
- ``ability_job_items_total{outcome}`` — succeeded/failed
- ``ability_jobs_finished_total{status}``
Process (one series per process)
- ``ability_process_resident_memory_bytes{kind}``
- ``ability_process_open_fds{kind}``
- ``ability_process_gc_collections{kind,generation}``
"""

from __future__ import annotations

import asyncio
import gc
import os
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable

import psutil
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ability.metrics_dir import MULTIPROCESS_ENV

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

HTTP_REQUESTS = Counter(
    "ability_http_requests_total",
    "HTTP requests answered.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "ability_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "ability_http_requests_in_flight",
    "HTTP requests being answered.",
    multiprocess_mode="livesum",
)
CACHE_LOOKUPS = Counter(
    "ability_cache_lookups_total", "Cache lookups.", ["level", "result"]
)
CACHE_EVICTIONS = Counter(
    "ability_cache_evictions_total", "Entries evicted for room.", ["level"]
)
CACHE_INVALIDATIONS = Counter(
    "ability_cache_invalidations_total",
    "Invalidation messages sent to or received from other processes.",
    ["direction"],
)
CACHE_ENTRIES = Gauge(
    "ability_cache_entries",
    "Entries held.",
    ["level"],
    multiprocess_mode="livesum",
)
DB_POOL = Gauge(
    "ability_db_pool_connections",
    "Connection pool state.",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "ability_db_pool_wait_seconds",
    "Time spent waiting for a pooled connection.",
    buckets=LATENCY_BUCKETS,
)
DB_SLOW_QUERIES = Counter(
    "ability_db_slow_queries_total",
    "Statements slower than ABILITY_SLOW_QUERY_MS.",
    ["statement"],
)
DB_SLOW_QUERY_SECONDS = Counter(
    "ability_db_slow_query_seconds_total",
    "Time spent in slow statements.",
    ["statement"],
)
JOBS_QUEUE_DEPTH = Gauge(
    "ability_jobs_queue_depth",
    "Jobs waiting for a turn in in-process runners.",
    multiprocess_mode="livesum",
)
JOB_STEP_DURATION = Histogram(
    "ability_job_step_duration_seconds",
    "Time to run one chunk of a job.",
    ["runner"],
    buckets=LATENCY_BUCKETS,
)
JOB_ITEMS = Counter("ability_job_items_total", "Job items done.", ["outcome"])
JOBS_FINISHED = Counter("ability_jobs_finished_total", "Jobs ended.", ["status"])
PROCESS_RSS = Gauge(
    "ability_process_resident_memory_bytes",
    "Resident memory of each process.",
    ["kind"],
    multiprocess_mode="liveall",
)
PROCESS_FDS = Gauge(
    "ability_process_open_fds",
    "Open file descriptors of each process.",
    ["kind"],
    multiprocess_mode="liveall",
)
PROCESS_GC = Gauge(
    "ability_process_gc_collections",
    "Garbage collections run, per generation.",
    ["kind", "generation"],
    multiprocess_mode="liveall",
)

_process = psutil.Process(os.getpid())


def sample_process(kind: str) -> None:
    """Record this process's memory, descriptors and GC counts."""
    global _process
    if _process.pid != os.getpid():  # forked since import
        _process = psutil.Process(os.getpid())
    PROCESS_RSS.labels(kind).set(_process.memory_info().rss)
    PROCESS_FDS.labels(kind).set(_process.num_fds())
    for generation, stats in enumerate(gc.get_stats()):
        PROCESS_GC.labels(kind, str(generation)).set(stats["collections"])


def registry() -> CollectorRegistry:
    """All processes' metrics in multiprocess mode, else this process's."""
    if MULTIPROCESS_ENV not in os.environ:
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    return collected


def render() -> bytes:
    http_recorder.flush()
    return generate_latest(registry())


def collect() -> Iterable[Metric]:
    http_recorder.flush()
    return registry().collect()


def process_exited() -> None:
    """Drop this process's live gauges (call when a process shuts down)."""
    if MULTIPROCESS_ENV in os.environ:
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class HttpRecorder:
    """Per-request figures, gathered in memory and written to the metrics
    once a second (``flush``), so that a request pays for a few dictionary
    updates instead of several locked writes to the shared metric files.

    ``flush`` also runs before this process answers ``/metrics`` or an admin
    view, so its own figures there are exact; other processes' are at most a
    second old.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self._counts: dict[tuple[str, str, int], int] = defaultdict(int)
        # (method, route) -> [count per bucket..., sum of seconds]
        self._latencies: dict[tuple[str, str], list[float]] = {}

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self._counts[(method, route, status // 100)] += 1
        key = (method, route)
        slots = self._latencies.get(key)
        if slots is None:
            slots = self._latencies[key] = [0.0] * (len(_BOUNDS) + 1)
        slots[bisect_left(_BOUNDS, seconds)] += 1
        slots[-1] += seconds

    def flush(self) -> None:
        HTTP_IN_FLIGHT.set(self.in_flight)
        counts, self._counts = self._counts, defaultdict(int)
        latencies, self._latencies = self._latencies, {}
        for (method, route, status_class), n in counts.items():
            HTTP_REQUESTS.labels(method, route, f"{status_class}xx").inc(n)
        for (method, route), slots in latencies.items():
            _add_observations(HTTP_DURATION.labels(method, route), slots)


_BOUNDS = (*LATENCY_BUCKETS, float("inf"))


def _add_observations(histogram: Histogram, slots: list[float]) -> None:
    """Add pre-counted observations to one histogram series.

    prometheus_client observes one value at a time; this adds a bucket's
    count in one write, using the same internals ``observe`` writes to.
    """
    for index, count in enumerate(slots[:-1]):
        if count:
            histogram._buckets[index].inc(count)
    histogram._sum.inc(slots[-1])


http_recorder = HttpRecorder()


async def sample_forever(kind: str, process_every: int = 5) -> None:
    """Write request figures every second, process figures less often."""
    tick = 0
    while True:
        http_recorder.flush()
        if tick % process_every == 0:
            sample_process(kind)
        tick += 1
        await asyncio.sleep(1.0)
