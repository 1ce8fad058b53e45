"""Percentile maths on synthetic latencies: HDR figures against exact ones."""

from __future__ import annotations

import math
import random

import pytest

from ability.bench.recording import (
    HIGHEST_US,
    EndpointRecord,
    Recorder,
    nearest_rank,
    rank_of,
    to_us,
)
from ability.bench.results import summarize_endpoint


def record_of(latencies: list[float]) -> EndpointRecord:
    recorder = Recorder(origin=0.0)
    for n, latency in enumerate(latencies):
        due = n / 100
        recorder.success("e", due, due + latency)
    return recorder.endpoints["e"]


def uniform() -> list[float]:
    return [n / 1000 for n in range(1, 1001)]  # 1 ms .. 1 s


def lognormal() -> list[float]:
    rng = random.Random(5)
    return [rng.lognormvariate(math.log(0.02), 1.0) for _ in range(20_000)]


class TestPercentiles:
    @pytest.mark.parametrize("latencies", [uniform(), lognormal()])
    @pytest.mark.parametrize("percentile", [50, 95, 99, 99.9])
    def test_match_the_exact_nearest_rank_within_a_tenth_of_a_percent(
        self, latencies: list[float], percentile: float
    ) -> None:
        record = record_of(latencies)

        exact = nearest_rank(latencies, percentile)

        assert record.percentile_s(percentile) == pytest.approx(exact, rel=1e-3)

    def test_the_hundredth_percentile_is_the_exact_maximum(self) -> None:
        latencies = [*uniform(), 1.23456789]

        record = record_of(latencies)

        assert record.percentile_s(100) == pytest.approx(1.23456789, rel=1e-12)
        assert record.percentile_s(99.99) <= record.max_s

    def test_a_single_outlier_among_a_thousand_reaches_p99_9_only(self) -> None:
        latencies = [0.002] * 999 + [1.0]

        record = record_of(latencies)

        assert record.percentile_s(99) == pytest.approx(0.002, rel=1e-3)
        assert record.percentile_s(99.9) == pytest.approx(0.002, rel=1e-3)
        assert record.max_s == pytest.approx(1.0, rel=1e-12)

    def test_nothing_recorded_has_no_percentiles(self) -> None:
        record = EndpointRecord()

        assert math.isnan(record.percentile_s(50))
        assert math.isnan(nearest_rank([], 50))
        assert summarize_endpoint("e", record, 1.0).p99_ms is None


class TestNearestRank:
    def test_ranks(self) -> None:
        values = [5.0, 1.0, 3.0, 2.0, 4.0]

        assert nearest_rank(values, 50) == 3.0
        assert nearest_rank(values, 1) == 1.0
        assert nearest_rank(values, 100) == 5.0
        assert rank_of(99.9, 20_000) == 19_980
        assert rank_of(99.9, 10) == 10


class TestRecorder:
    def test_microseconds_are_clamped_to_the_histogram(self) -> None:
        assert to_us(0.0) == 1
        assert to_us(0.0015) == 1500
        assert to_us(10 * 3600.0) == HIGHEST_US

    def test_series_are_bucketed_by_second(self) -> None:
        recorder = Recorder(origin=100.0)

        recorder.success("e", 100.2, 100.3)
        recorder.success("e", 100.9, 101.4)
        recorder.failure("e", "503", 102.5)

        record = recorder.endpoints["e"]
        assert dict(record.due_latencies) == {
            0: [pytest.approx(0.1), pytest.approx(0.5)]
        }
        assert record.done_per_second == {0: 1, 1: 1}
        assert record.failed_per_second == {2: 1}
        assert record.errors == {"503": 1}

    def test_lag_is_tracked(self) -> None:
        recorder = Recorder(origin=0.0)

        recorder.sent(0.0)
        recorder.sent(0.25)

        assert recorder.dispatched == 2
        assert recorder.lag_max_s == 0.25
