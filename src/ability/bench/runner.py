"""A benchmark from start to end: log in, warm up, measure, maybe sweep.

The bare route is measured by interleaving: ``/health/live`` is one
operation of the mix, sent on the same schedule and the same connections as
the rest, so its figures describe the same server under the same load.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import platform
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import psutil

from ability.bench import loadgen, sla
from ability.bench.results import BenchReport, RunResult, summarize
from ability.bench.workload import Logins, Workload, prepare

SETTLE_SECONDS = 1.0  # between sweep steps, for background jobs to finish
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Schedule:
    """How hard and how long to push."""

    rate: float
    duration: float
    warmup: float
    mix: Mapping[str, float]
    max_in_flight: int = 256
    seed: int = 1
    sweep_steps: int = 0  # 0: one run at ``rate``
    sweep_factor: float = 1.5

    def rates(self) -> list[float]:
        if self.sweep_steps <= 1:
            return [self.rate]
        return [
            _round_rate(self.rate * self.sweep_factor**step)
            for step in range(self.sweep_steps)
        ]


def _round_rate(rate: float) -> float:
    return float(round(rate)) if rate >= 10 else round(rate, 1)


Notify = Callable[[str], None]
T = TypeVar("T")


def require_loopback(url: str) -> str:
    """The benchmark only targets servers on this machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise ValueError(f"{url!r} is not an http(s) address on loopback")
    return url.rstrip("/")


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus": str(os.cpu_count()),
        "memory_gib": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _client(base_url: str, max_in_flight: int) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_in_flight, max_keepalive_connections=max_in_flight
    )
    return httpx.AsyncClient(
        base_url=base_url,
        limits=limits,
        timeout=REQUEST_TIMEOUT,
        trust_env=False,  # never a proxy: only the server under test
    )


async def measure(
    base_url: str,
    logins: Logins,
    companies: int,
    schedule: Schedule,
    notify: Notify,
) -> list[RunResult]:
    """Log in, then one run per rate; a sweep stops at the first failure."""
    async with _client(base_url, schedule.max_in_flight) as client:
        tenants = await prepare(client, logins, companies)
        notify(f"logged in the users of {len(tenants)} companies")
        workload = Workload(client, tenants, schedule.seed)
        pick = loadgen.weighted_picker(
            workload.operations(), schedule.mix, schedule.seed
        )
        runs: list[RunResult] = []
        for rate in schedule.rates():
            run = await _one_rate(rate, schedule, pick, notify)
            runs.append(run)
            if schedule.sweep_steps > 1 and not run.passed:
                break
            await asyncio.sleep(SETTLE_SECONDS)
    return runs


async def _one_rate(
    rate: float,
    schedule: Schedule,
    pick: Callable[[], loadgen.Operation],
    notify: Notify,
) -> RunResult:
    if schedule.warmup > 0:
        notify(f"warming up: {schedule.warmup:g} s at {rate:g}/s")
        warmup = loadgen.Plan(rate, schedule.warmup, schedule.max_in_flight)
        await loadgen.run(warmup, pick)
    notify(f"measuring: {schedule.duration:g} s at {rate:g}/s")
    plan = loadgen.Plan(rate, schedule.duration, schedule.max_in_flight)
    run = sla.apply(summarize(await loadgen.run(plan, pick)))
    verdict = "meets" if run.passed else "misses"
    notify(f"{rate:g}/s: {run.errors} errors; {verdict} the SLAs")
    return run


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (a faster generator)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def best_rate(runs: list[RunResult]) -> float | None:
    """The highest rate of an unbroken series of passing runs."""
    best = None
    for run in sorted(runs, key=lambda r: r.rate):
        if not run.passed:
            break
        best = run.rate
    return best


def report(
    runs: list[RunResult], config: dict[str, str], started: datetime
) -> BenchReport:
    sweep = len(runs) > 1 or config.get("sweep") == "yes"
    return BenchReport(
        started_at=started.astimezone(UTC).isoformat(timespec="seconds"),
        machine=machine(),
        config=config,
        runs=runs,
        best_rate=best_rate(runs) if sweep else None,
    )
