"""Figures, ratios to the bare route, SLA verdicts and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ability.bench import results, sla
from ability.bench.loadgen import Outcome, Plan
from ability.bench.recording import Recorder
from ability.bench.results import BARE, summarize
from ability.bench.runner import best_rate, require_loopback
from tests.bench._runs import bench, endpoint, run


class TestSummarize:
    def test_figures_of_a_recorded_run(self) -> None:
        recorder = Recorder(origin=0.0)
        for n in range(100):
            recorder.sent(0.0)
            recorder.success(BARE, n / 10, n / 10 + 0.001)
            recorder.success("GET /a", n / 10, n / 10 + 0.010 + n / 10_000)
        recorder.failure("GET /a", "overflow", 5.0)
        outcome = Outcome(recorder, Plan(rate=10, duration=10), 10.5, 1, 0)

        figures = summarize(outcome)

        bare, other = figures.endpoints
        assert bare.label == BARE
        assert other.ok == 100
        assert other.errors == 1
        assert other.error_kinds == {"overflow": 1}
        assert other.throughput == pytest.approx(100 / 10.5, rel=1e-3)
        assert other.p50_ms == pytest.approx(10.0 + 4.9, rel=1e-3)
        assert other.max_ms == pytest.approx(19.9, rel=1e-6)
        assert figures.ratio(other, "p50_ms") == pytest.approx(14.9, rel=2e-3)
        assert [p.t for p in figures.series["GET /a"]] == list(range(10))


class TestRequestsPerSecond:
    def test_a_whole_operation_is_not_counted_again(self) -> None:
        figures = run()
        figures.endpoints.append(endpoint("submit → review → approve", 30, 90))
        figures.endpoints[-1].whole = True

        assert figures.requests_per_second == pytest.approx(4 * 100.0)


class TestRatio:
    def test_without_a_bare_route_there_is_no_ratio(self) -> None:
        figures = run()
        figures.endpoints = figures.endpoints[1:]

        assert figures.ratio(figures.endpoints[0], "p99_ms") is None

    def test_is_relative_to_the_bare_route_of_the_same_run(self) -> None:
        figures = run(scale=2.0)

        listed = figures.endpoint("GET /applications")

        assert listed is not None
        assert figures.ratio(listed, "p99_ms") == pytest.approx(20.0)


class TestSla:
    def test_a_healthy_run_passes_every_objective(self) -> None:
        figures = run()

        assert figures.passed
        assert len(figures.sla) == len(sla.SLAS)

    def test_the_worst_endpoint_of_a_group_decides(self) -> None:
        figures = run(scale=5.0)  # search p99 300 ms, list 200 ms

        reads = next(r for r in figures.sla if r.name.startswith("reads p99"))

        assert not reads.passed
        assert reads.endpoint == "GET /applications/search"
        assert reads.value == 300.0
        assert not figures.passed

    def test_errors_above_the_limit_fail(self) -> None:
        figures = run(errors=5)  # 5 of 1,005

        errors = next(r for r in figures.sla if r.metric == "error_rate")

        assert not errors.passed
        assert errors.endpoint == "GET /applications"

    def test_an_endpoint_that_never_succeeded_fails_its_latency_objective(
        self,
    ) -> None:
        figures = run()
        figures.endpoints.append(endpoint("GET /applications/{id}", 1, 1, ok=0))
        figures.endpoints[-1].p99_ms = None

        results_ = sla.check(figures)

        reads = next(r for r in results_ if r.name.startswith("reads p99"))
        assert not reads.passed
        assert reads.endpoint == "GET /applications/{id}"

    def test_objectives_of_endpoints_not_measured_pass_as_not_measured(
        self,
    ) -> None:
        figures = run()

        reports = next(r for r in figures.sla if r.name.startswith("reports"))

        assert reports.passed
        assert reports.value is None


class TestBestRate:
    def test_is_the_last_passing_rate_before_the_first_failure(self) -> None:
        runs = [run(10), run(20), run(40, scale=10.0), run(80)]

        assert best_rate(runs) == 20

    def test_is_none_when_the_first_rate_fails(self) -> None:
        assert best_rate([run(10, scale=10.0)]) is None


class TestJson:
    def test_round_trip(self, tmp_path: Path) -> None:
        report = bench(run(10), run(20), best=20)
        path = tmp_path / "bench.json"

        results.save(report, path)
        loaded = results.load(path)

        assert loaded == report
        assert json.loads(path.read_text())["best_rate"] == 20


class TestLoopback:
    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:8000", "http://localhost:1/", "http://[::1]:80"]
    )
    def test_accepts_loopback(self, url: str) -> None:
        assert require_loopback(url) == url.rstrip("/")

    @pytest.mark.parametrize(
        "url", ["http://10.0.0.1:8000", "http://example.com", "ftp://127.0.0.1"]
    )
    def test_refuses_anything_else(self, url: str) -> None:
        with pytest.raises(ValueError, match="loopback"):
            require_loopback(url)
