"""Figures for the admin views and ``/reports/performance``, read from the
Prometheus metrics — so they add up over every process, like ``/metrics``."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from prometheus_client.samples import Sample

from ability import metrics
from ability.report.schemas import RoutePerformance

EXCLUDED_ROUTES = ("/health/live", "/health/ready", "/metrics")


def samples() -> dict[str, list[Sample]]:
    """Every sample of every metric, by sample name."""
    found: dict[str, list[Sample]] = defaultdict(list)
    for metric in metrics.collect():
        for sample in metric.samples:
            found[sample.name].append(sample)
    return found


def _total(items: Iterable[Sample], **labels: str) -> float:
    return sum(
        s.value
        for s in items
        if all(s.labels.get(key) == value for key, value in labels.items())
    )


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile from cumulative (upper bound, count) pairs, linearly
    interpolated inside the bucket it falls in, as PromQL does."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count else 0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def route_figures(
    found: dict[str, list[Sample]] | None = None,
) -> list[RoutePerformance]:
    """Per route template and method: volume, latency percentiles, errors."""
    found = found if found is not None else samples()
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(
        lambda: defaultdict(float)
    )
    for s in found.get("ability_http_request_duration_seconds_bucket", []):
        key = (s.labels["route"], s.labels["method"])
        buckets[key][float(s.labels["le"])] += s.value
    sums = found.get("ability_http_request_duration_seconds_sum", [])
    requests = found.get("ability_http_requests_total", [])
    figures = []
    for (route, method), by_bound in sorted(buckets.items()):
        if route in EXCLUDED_ROUTES:
            continue
        cumulative = sorted(by_bound.items())
        count = int(cumulative[-1][1])
        errors = _total(requests, route=route, method=method, status="5xx")
        seconds = _total(sums, route=route, method=method)

        def ms(q: float, pairs: list[tuple[float, float]] = cumulative) -> float | None:
            value = quantile(pairs, q)
            return None if value is None else round(value * 1000, 3)

        figures.append(
            RoutePerformance(
                route=route,
                method=method,
                count=count,
                p50_ms=ms(0.5),
                p95_ms=ms(0.95),
                p99_ms=ms(0.99),
                mean_ms=round(seconds * 1000 / count, 3) if count else None,
                error_rate=errors / count if count else 0.0,
            )
        )
    return figures


def processes(found: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    """One entry per live process: kind, pid, memory, descriptors, GCs."""
    by_pid: dict[str, dict[str, Any]] = defaultdict(dict)
    for s in found.get("ability_process_resident_memory_bytes", []):
        entry = by_pid[s.labels.get("pid", "self")]
        entry.update(kind=s.labels["kind"], rss_bytes=int(s.value))
    for s in found.get("ability_process_open_fds", []):
        by_pid[s.labels.get("pid", "self")]["open_fds"] = int(s.value)
    for s in found.get("ability_process_gc_collections", []):
        gcs = by_pid[s.labels.get("pid", "self")].setdefault("gc_collections", {})
        gcs[s.labels["generation"]] = int(s.value)
    return [{"pid": pid, **entry} for pid, entry in sorted(by_pid.items())]


def cache_figures(found: dict[str, list[Sample]]) -> dict[str, Any]:
    lookups = found.get("ability_cache_lookups_total", [])
    figures: dict[str, Any] = {}
    for level in ("l1", "l2"):
        hits = _total(lookups, level=level, result="hit")
        misses = _total(lookups, level=level, result="miss")
        figures[level] = {
            "hits": int(hits),
            "misses": int(misses),
            "hit_ratio": hits / (hits + misses) if hits + misses else 0.0,
            "size": int(_total(found.get("ability_cache_entries", []), level=level)),
            "evictions": int(
                _total(found.get("ability_cache_evictions_total", []), level=level)
            ),
        }
    invalidations = found.get("ability_cache_invalidations_total", [])
    figures["invalidations"] = {
        "sent": int(_total(invalidations, direction="sent")),
        "received": int(_total(invalidations, direction="received")),
    }
    return figures


def pool_figures(found: dict[str, list[Sample]]) -> dict[str, Any]:
    pool = found.get("ability_db_pool_connections", [])
    waits = found.get("ability_db_pool_wait_seconds_count", [])
    wait_seconds = found.get("ability_db_pool_wait_seconds_sum", [])
    count = _total(waits)
    return {
        "size": int(_total(pool, state="size")),
        "checked_out": int(_total(pool, state="checked_out")),
        "overflow": int(_total(pool, state="overflow")),
        "waits": int(count),
        "mean_wait_ms": round(_total(wait_seconds) * 1000 / count, 3) if count else 0.0,
    }


def slow_statements(found: dict[str, list[Sample]], limit: int) -> list[dict[str, Any]]:
    counts: dict[str, float] = defaultdict(float)
    seconds: dict[str, float] = defaultdict(float)
    for s in found.get("ability_db_slow_queries_total", []):
        counts[s.labels["statement"]] += s.value
    for s in found.get("ability_db_slow_query_seconds_total", []):
        seconds[s.labels["statement"]] += s.value
    rows: list[dict[str, Any]] = [
        {
            "statement": statement,
            "count": int(n),
            "mean_ms": round(seconds[statement] * 1000 / n, 3),
        }
        for statement, n in counts.items()
        if n
    ]
    rows.sort(key=lambda row: float(row["mean_ms"]), reverse=True)
    return rows[:limit]
