"""Synthetic benchmark results for report and SLA tests."""

from __future__ import annotations

from ability.bench.results import (
    BARE,
    BenchReport,
    EndpointResult,
    RunResult,
    SeriesPoint,
)
from ability.bench.sla import apply


def endpoint(
    label: str, p50: float, p99: float, ok: int = 1000, errors: int = 0
) -> EndpointResult:
    return EndpointResult(
        label=label,
        ok=ok,
        errors=errors,
        error_kinds={"503": errors} if errors else {},
        throughput=ok / 10,
        p50_ms=p50,
        p95_ms=(p50 + p99) / 2,
        p99_ms=p99,
        p999_ms=p99 * 1.5,
        max_ms=p99 * 2,
        mean_ms=p50 * 1.1,
    )


def run(rate: float = 50, scale: float = 1.0, errors: int = 0) -> RunResult:
    """A checked run whose latencies are multiplied by ``scale``."""
    result = RunResult(
        rate=rate,
        duration=10,
        elapsed=10.2,
        sent=int(rate * 10),
        overflow=0,
        unfinished=0,
        lag_p99_ms=0.5,
        lag_max_ms=1.0,
        endpoints=[
            endpoint(BARE, 1.0, 4.0),
            endpoint("GET /applications", 5 * scale, 40 * scale, errors=errors),
            endpoint("GET /applications/search", 8 * scale, 60 * scale),
            endpoint("POST /applications", 10 * scale, 80 * scale),
        ],
        series={
            BARE: [SeriesPoint(t, 10, 0, 1.0, 4.0) for t in range(10)],
            "GET /applications": [
                SeriesPoint(t, 100, errors, 5.0, 40.0 * scale) for t in range(10)
            ],
        },
    )
    return apply(result)


def bench(*runs: RunResult, best: float | None = None) -> BenchReport:
    return BenchReport(
        started_at="2026-01-01T00:00:00+00:00",
        machine={"cpus": "2"},
        config={"applications": "10,000", "tenants": "10"},
        runs=list(runs) or [run()],
        best_rate=best,
    )
