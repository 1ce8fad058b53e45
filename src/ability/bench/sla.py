"""The service-level objectives, in one place (the README quotes them).

Each objective bounds one figure over a group of endpoints; a run meets it
when every endpoint of the group that the run measured stays within the
limit. Latencies are measured open-loop, from each request's due time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ability.bench.results import RunResult, SlaResult

READS = (
    "GET /applications",
    "GET /applications/{id}",
    "GET /applications/search",
)
WRITES = (
    "POST /applications",
    "POST /applications/{id}/progress",
    "POST /applications/batch/process",
)
REPORTS = (
    "GET /reports/applications/stats",
    "GET /reports/workflows/analytics",
)


@dataclass(frozen=True)
class Sla:
    """``metric`` must stay at or below ``limit`` on each of ``endpoints``
    (every endpoint when empty)."""

    name: str
    endpoints: tuple[str, ...]
    metric: str
    limit: float


SLAS = (
    Sla("reads p50 ≤ 50 ms", READS, "p50_ms", 50.0),
    Sla("reads p99 ≤ 250 ms", READS, "p99_ms", 250.0),
    Sla("writes p99 ≤ 500 ms", WRITES, "p99_ms", 500.0),
    Sla("reports p99 ≤ 1000 ms", REPORTS, "p99_ms", 1000.0),
    Sla("errors ≤ 0.1 % on every endpoint", (), "error_rate", 0.001),
)


def check(run: RunResult, slas: tuple[Sla, ...] = SLAS) -> list[SlaResult]:
    """One result per objective: its worst endpoint in ``run``."""
    return [_check_one(run, sla) for sla in slas]


def _check_one(run: RunResult, sla: Sla) -> SlaResult:
    measured = [
        e for e in run.endpoints if not sla.endpoints or e.label in sla.endpoints
    ]
    worst_label, worst = "", None
    for endpoint in measured:
        # An endpoint with no success has no latency: it fails on its errors.
        value = endpoint.metric(sla.metric)
        if value is None:
            value = float("inf")
        if worst is None or value > worst:
            worst_label, worst = endpoint.label, value
    return SlaResult(
        name=sla.name,
        endpoint=worst_label,
        metric=sla.metric,
        limit=sla.limit,
        value=worst,
        passed=worst is None or worst <= sla.limit,
    )


def apply(run: RunResult) -> RunResult:
    """Check ``run`` against the SLAs and keep the results in it."""
    run.sla = check(run)
    return run
