"""Open-loop load generation: requests leave on a fixed schedule.

Each request has an intended send time ``start + i / rate``; its latency is
measured from that time, not from when a free connection let it go, so a
slow server shows up as queueing delay instead of throttling the load
(no coordinated omission).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass
class Result:
    name: str
    rate: float
    duration: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]


async def run(
    client: httpx.AsyncClient,
    name: str,
    request: Request,
    rate: float,
    duration: float,
    max_in_flight: int = 256,
) -> Result:
    """Send ``rate`` requests per second for ``duration`` seconds."""
    result = Result(name=name, rate=rate, duration=duration)
    total = int(rate * duration)
    gate = asyncio.Semaphore(max_in_flight)
    start = time.perf_counter()

    async def one(i: int, intended: float) -> None:
        async with gate:
            try:
                response = await request(client, i)
                failed = response.status_code >= 400
            except httpx.HTTPError:
                failed = True
            finished = time.perf_counter()
        if failed:
            result.errors += 1
        else:
            result.latencies.append(finished - intended)

    tasks = []
    for i in range(total):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, intended)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    return result
