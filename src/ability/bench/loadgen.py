"""Open-loop load generation: operations leave on a fixed schedule.

Operation ``i`` of a run is due at ``start + i / rate``, whatever happened
to the operations before it. The latency of its first request is measured
from that due time, so time spent waiting behind a slow server counts
(no coordinated omission). When ``max_in_flight`` operations are still
outstanding, a due operation is not sent but counted as an error
("overflow"): the schedule never slows down to suit the server.

An operation may make several requests (submit, then review, then approve);
each later request is timed from the moment the previous one finished, and
the whole operation can be recorded under a label of its own.

Times come from ``time.perf_counter`` (uvloop's own clock only counts whole
milliseconds); tests pass the event loop's clock to run in virtual time.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ability.bench.recording import Recorder


class Reply(Protocol):
    """What a request returns: anything with an HTTP status."""

    @property
    def status_code(self) -> int: ...


R = TypeVar("R", bound=Reply)


class RequestFailedError(Exception):
    """Ends an operation after one of its requests failed (already recorded)."""


class Exchange:
    """The requests of one scheduled operation, timed against its due time."""

    def __init__(
        self, recorder: Recorder, due: float, clock: Callable[[], float]
    ) -> None:
        self.recorder = recorder
        self.due = due
        self.clock = clock
        self._ready = due

    async def call(self, label: str, send: Callable[[], Awaitable[R]]) -> R:
        """Send one request; a failure is recorded and ends the operation."""
        started = self._ready
        try:
            reply = await send()
        except Exception as exc:  # any client failure is a failed request
            self.recorder.failure(label, type(exc).__name__, self.clock())
            raise RequestFailedError from exc
        finished = self.clock()
        if reply.status_code >= 400:
            self.recorder.failure(label, str(reply.status_code), finished)
            raise RequestFailedError
        self.recorder.success(label, started, finished)
        self._ready = finished
        return reply


@dataclass(frozen=True)
class Operation:
    """One kind of work in the mix.

    ``label`` names the endpoint of its first request (overflow counts
    there); ``whole`` names the latency of the whole operation when it spans
    several requests.
    """

    name: str
    label: str
    run: Callable[[Exchange], Awaitable[None]]
    whole: str | None = None


def weighted_picker(
    operations: Mapping[str, Operation], weights: Mapping[str, float], seed: int
) -> Callable[[], Operation]:
    """Draws operations at random in proportion to their weights."""
    chosen = [name for name, weight in weights.items() if weight > 0]
    if not chosen:
        raise ValueError("the mix has no operation with a positive weight")
    pool: Sequence[Operation] = [operations[name] for name in chosen]
    cumulative = list(itertools.accumulate(weights[name] for name in chosen))
    rng = random.Random(seed)
    return lambda: rng.choices(pool, cum_weights=cumulative)[0]


@dataclass(frozen=True)
class Plan:
    """``rate`` operations per second for ``duration`` seconds."""

    rate: float
    duration: float
    max_in_flight: int = 256
    drain_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration <= 0 or self.max_in_flight < 1:
            raise ValueError("rate, duration and max_in_flight must be positive")

    @property
    def count(self) -> int:
        return max(1, round(self.rate * self.duration))

    def due(self, start: float, index: int) -> float:
        return start + index / self.rate


@dataclass
class Outcome:
    """A finished run: the recorder and how the schedule went."""

    recorder: Recorder
    plan: Plan
    elapsed: float
    overflow: int
    unfinished: int


async def run(
    plan: Plan,
    pick: Callable[[], Operation],
    clock: Callable[[], float] = time.perf_counter,
) -> Outcome:
    """Send ``plan.count`` operations on schedule, then wait for them."""
    start = clock()
    recorder = Recorder(start)
    outstanding: dict[asyncio.Task[None], Operation] = {}
    overflow = 0

    for index in range(plan.count):
        due = plan.due(start, index)
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        operation = pick()
        recorder.sent(clock() - due)
        if len(outstanding) >= plan.max_in_flight:
            recorder.failure(operation.label, "overflow", clock())
            overflow += 1
            continue
        exchange = Exchange(recorder, due, clock)
        task = asyncio.create_task(_perform(operation, exchange))
        outstanding[task] = operation
        task.add_done_callback(outstanding.pop)

    unfinished = await _drain(outstanding, plan.drain_timeout, recorder, clock)
    return Outcome(recorder, plan, clock() - start, overflow, unfinished)


async def _perform(operation: Operation, exchange: Exchange) -> None:
    try:
        await operation.run(exchange)
    except RequestFailedError:
        return
    except Exception as exc:  # a broken operation must not end the run
        exchange.recorder.failure(operation.label, type(exc).__name__, exchange.clock())
        return
    if operation.whole is not None:
        recorder = exchange.recorder
        recorder.success(operation.whole, exchange.due, exchange.clock(), whole=True)


async def _drain(
    outstanding: dict[asyncio.Task[None], Operation],
    patience: float,
    recorder: Recorder,
    clock: Callable[[], float],
) -> int:
    """Wait for the last operations; those still running then are errors."""
    if not outstanding:
        return 0
    _, late = await asyncio.wait(set(outstanding), timeout=patience)
    for task in late:
        recorder.failure(outstanding[task].label, "unfinished", clock())
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return len(late)
