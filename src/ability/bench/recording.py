"""What a run records: per endpoint an HDR histogram, errors and a time series.

Latencies go into HdrHistograms in microseconds with three significant
digits, so every percentile is exact to 0.1 % however many requests were
made. The time series keeps, per second of the run, the latencies of the
requests due in that second and the completions and errors that ended in it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

US_PER_S = 1_000_000
HIGHEST_US = 3_600 * US_PER_S  # an hour: anything longer is clamped
DIGITS = 3
PERCENTILES = (50.0, 95.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_US, DIGITS)


def to_us(seconds: float) -> int:
    """Seconds as whole microseconds within the histogram's range."""
    return min(HIGHEST_US, max(1, round(seconds * US_PER_S)))


def nearest_rank(values: list[float], percentile: float) -> float:
    """The nearest-rank percentile of ``values`` (NaN when there are none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[rank_of(percentile, len(ordered)) - 1]


def rank_of(percentile: float, count: int) -> int:
    """The 1-based nearest rank of ``percentile`` among ``count`` values."""
    # Rounded first: 99.9 / 100 * 20_000 is 19_980.000000000004 in floats.
    return min(count, max(1, math.ceil(round(percentile / 100 * count, 6))))


@dataclass
class EndpointRecord:
    """Everything recorded for one endpoint label."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    whole: bool = False  # a sequence of requests, not one endpoint
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    max_s: float = 0.0
    # second of the run -> latencies of requests due then
    due_latencies: defaultdict[int, list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    done_per_second: Counter[int] = field(default_factory=Counter)
    failed_per_second: Counter[int] = field(default_factory=Counter)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentile_s(self, percentile: float) -> float:
        """A percentile of the successful requests' latency, in seconds."""
        if self.ok == 0:
            return math.nan
        if percentile >= 100:
            return self.max_s
        value_us: int = self.histogram.get_value_at_percentile(percentile)
        # The histogram answers the top of a bucket; never above the true max.
        return min(value_us / US_PER_S, self.max_s)


class Recorder:
    """Collects the outcome of every request of one run."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.endpoints: dict[str, EndpointRecord] = {}
        self.lag = new_histogram()
        self.lag_max_s = 0.0
        self.dispatched = 0

    def _record(self, label: str) -> EndpointRecord:
        record = self.endpoints.get(label)
        if record is None:
            record = self.endpoints[label] = EndpointRecord()
        return record

    def _second(self, at: float) -> int:
        return max(0, int(at - self.origin))

    def success(
        self, label: str, started: float, finished: float, whole: bool = False
    ) -> None:
        """A request (or with ``whole``, an operation of several) that was due
        at ``started`` answered well at ``finished``."""
        record = self._record(label)
        record.whole = whole
        latency = max(0.0, finished - started)
        record.ok += 1
        record.histogram.record_value(to_us(latency))
        record.max_s = max(record.max_s, latency)
        record.due_latencies[self._second(started)].append(latency)
        record.done_per_second[self._second(finished)] += 1

    def failure(self, label: str, kind: str, finished: float) -> None:
        """A request that failed: an HTTP status, an exception or "overflow"."""
        record = self._record(label)
        record.errors[kind] += 1
        record.failed_per_second[self._second(finished)] += 1

    def sent(self, lag: float) -> None:
        """An operation left ``lag`` seconds after it was due."""
        self.dispatched += 1
        self.lag.record_value(to_us(lag))
        self.lag_max_s = max(self.lag_max_s, lag)
