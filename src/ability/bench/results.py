"""The figures of a benchmark, as written to and read from its JSON file."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter

from ability.bench.loadgen import Outcome
from ability.bench.recording import EndpointRecord, rank_of

BARE = "GET /health/live"
FORMAT_VERSION = 1
# Beyond this the generator itself could not keep the schedule: the figures
# still count from the due times, but include the generator's own delay.
LAG_WARNING_MS = 50.0


@dataclass
class EndpointResult:
    """One endpoint's figures in one run; latencies in milliseconds."""

    label: str
    ok: int
    errors: int
    error_kinds: dict[str, int]
    throughput: float
    # None when nothing succeeded
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    histogram: str = ""  # base64 HdrHistogram of microseconds
    whole: bool = False  # an operation of several requests, not one endpoint

    @property
    def error_rate(self) -> float:
        total = self.ok + self.errors
        return self.errors / total if total else 0.0

    def metric(self, name: str) -> float | None:
        """A figure by name: ``p99_ms``, ``throughput``, ``error_rate``..."""
        value: float | None = getattr(self, name)
        return value


@dataclass
class SeriesPoint:
    """One second of one endpoint: completions, errors and latency."""

    t: int
    ok: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass
class SlaResult:
    name: str
    endpoint: str
    metric: str
    limit: float
    value: float | None
    passed: bool

    @property
    def worst(self) -> str:
        """The worst figure, for people: "worst 12.3 ms (list)"."""
        if self.value is None:
            return "not measured"
        if self.metric == "error_rate":
            return f"worst {100 * self.value:.2f} % ({self.endpoint})"
        figure = f"{self.value:,.1f}" if self.value >= 10 else f"{self.value:.2f}"
        return f"worst {figure} ms ({self.endpoint})"


@dataclass
class RunResult:
    """One run at one arrival rate."""

    rate: float
    duration: float
    elapsed: float
    sent: int
    overflow: int
    unfinished: int
    lag_p99_ms: float
    lag_max_ms: float
    endpoints: list[EndpointResult]
    series: dict[str, list[SeriesPoint]] = field(default_factory=dict)
    sla: list[SlaResult] = field(default_factory=list)

    def endpoint(self, label: str) -> EndpointResult | None:
        return next((e for e in self.endpoints if e.label == label), None)

    @property
    def errors(self) -> int:
        return sum(e.errors for e in self.endpoints)

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second (whole operations not counted twice)."""
        return sum(e.throughput for e in self.endpoints if not e.whole)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.sla)

    @property
    def generator_fell_behind(self) -> bool:
        return self.lag_p99_ms > LAG_WARNING_MS

    def ratio(self, endpoint: EndpointResult, metric: str) -> float | None:
        """``metric`` of ``endpoint`` over the bare route's in this run."""
        bare = self.endpoint(BARE)
        base = bare.metric(metric) if bare is not None else None
        value = endpoint.metric(metric)
        if value is None or not base:
            return None
        return value / base


@dataclass
class BenchReport:
    """A whole benchmark: the main run first, then any sweep steps."""

    started_at: str
    machine: dict[str, str]
    config: dict[str, str]
    runs: list[RunResult]
    best_rate: float | None = None
    version: int = FORMAT_VERSION

    @property
    def main(self) -> RunResult:
        return self.runs[0]


_adapter = TypeAdapter(BenchReport)


def save(report: BenchReport, path: Path) -> None:
    path.write_bytes(_adapter.dump_json(report, indent=2))


def load(path: Path) -> BenchReport:
    return _adapter.validate_json(path.read_bytes())


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)


def summarize_endpoint(
    label: str, record: EndpointRecord, elapsed: float
) -> EndpointResult:
    """The figures of one endpoint from what was recorded."""
    mean_s = record.histogram.get_mean_value() / 1e6 if record.ok else math.nan
    encoded: bytes = record.histogram.encode() if record.ok else b""
    return EndpointResult(
        label=label,
        ok=record.ok,
        errors=record.error_count,
        error_kinds=dict(record.errors),
        throughput=round(record.ok / elapsed, 3) if elapsed > 0 else 0.0,
        p50_ms=_ms(record.percentile_s(50)),
        p95_ms=_ms(record.percentile_s(95)),
        p99_ms=_ms(record.percentile_s(99)),
        p999_ms=_ms(record.percentile_s(99.9)),
        max_ms=_ms(record.max_s if record.ok else math.nan),
        mean_ms=_ms(mean_s),
        histogram=base64.b64encode(encoded).decode("ascii"),
        whole=record.whole,
    )


def _series(record: EndpointRecord) -> list[SeriesPoint]:
    seconds = set(record.due_latencies) | set(record.done_per_second)
    seconds |= set(record.failed_per_second)
    points = []
    for second in sorted(seconds):
        latencies = sorted(record.due_latencies.get(second, ()))
        points.append(
            SeriesPoint(
                t=second,
                ok=record.done_per_second.get(second, 0),
                errors=record.failed_per_second.get(second, 0),
                p50_ms=_pick_ms(latencies, 0.50),
                p99_ms=_pick_ms(latencies, 0.99),
            )
        )
    return points


def _pick_ms(ordered: list[float], quantile: float) -> float | None:
    if not ordered:
        return None
    return _ms(ordered[rank_of(100 * quantile, len(ordered)) - 1])


def summarize(outcome: Outcome) -> RunResult:
    """Turn a finished run into figures (SLAs are checked separately)."""
    recorder = outcome.recorder
    elapsed = max(outcome.elapsed, outcome.plan.duration)
    labels = sorted(recorder.endpoints, key=lambda label: (label != BARE, label))
    return RunResult(
        rate=outcome.plan.rate,
        duration=outcome.plan.duration,
        elapsed=round(outcome.elapsed, 3),
        sent=recorder.dispatched,
        overflow=outcome.overflow,
        unfinished=outcome.unfinished,
        lag_p99_ms=_ms(recorder.lag.get_value_at_percentile(99) / 1e6) or 0.0,
        lag_max_ms=_ms(recorder.lag_max_s) or 0.0,
        endpoints=[
            summarize_endpoint(label, recorder.endpoints[label], elapsed)
            for label in labels
        ],
        series={label: _series(recorder.endpoints[label]) for label in labels},
    )
