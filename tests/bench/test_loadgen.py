"""The open-loop generator: schedule, timing and coordinated omission.

Most tests run in virtual time (see ``_virtual_time``): a fake server's
``asyncio.sleep`` costs nothing, and the loop's clock says exactly when each
request left and ended, so the assertions are exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from ability.bench import loadgen
from ability.bench.loadgen import Exchange, Operation, Plan
from tests.bench._virtual_time import run_virtual


@dataclass
class Reply:
    status_code: int = 200


def fake_server(service: Callable[[float], float]) -> Callable[[], Awaitable[Reply]]:
    """A request whose service time is ``service(now)`` seconds."""

    async def send() -> Reply:
        now = asyncio.get_running_loop().time()
        await asyncio.sleep(service(now))
        return Reply()

    return send


def single(send: Callable[[], Awaitable[Reply]], log: list[float]) -> Operation:
    """An operation of one request that notes when it was sent."""

    async def run(exchange: Exchange) -> None:
        log.append(exchange.clock() - exchange.due)
        await exchange.call("GET /x", send)

    return Operation("x", "GET /x", run)


async def run_plan(plan: Plan, operation: Operation) -> loadgen.Outcome:
    """Run on the event loop's clock: virtual under ``run_virtual``."""
    clock = asyncio.get_running_loop().time
    return await loadgen.run(plan, lambda: operation, clock)


def stall_between(
    start: float, end: float, otherwise: float = 0.001
) -> Callable[[float], float]:
    """Requests arriving during [start, end) are held until ``end``."""
    return lambda now: end - now + otherwise if start <= now < end else otherwise


class TestSchedule:
    def test_operations_leave_when_due_from_a_fast_server(self) -> None:
        lags: list[float] = []
        operation = single(fake_server(lambda _: 0.0005), lags)

        outcome = run_virtual(run_plan(Plan(rate=50, duration=4), operation))

        assert len(lags) == 200
        assert max(lags) == pytest.approx(0.0, abs=1e-9)
        assert outcome.recorder.endpoints["GET /x"].ok == 200

    def test_a_slow_server_does_not_slow_the_schedule(self) -> None:
        lags: list[float] = []
        operation = single(fake_server(lambda _: 0.5), lags)

        outcome = run_virtual(run_plan(Plan(rate=50, duration=4), operation))

        record = outcome.recorder.endpoints["GET /x"]
        assert len(lags) == 200
        assert max(lags) == pytest.approx(0.0, abs=1e-9)
        assert record.ok == 200
        assert record.percentile_s(50) == pytest.approx(0.5, rel=1e-3)
        # Last one due at 3.98 s, answered half a second later.
        assert outcome.elapsed == pytest.approx(4.48, abs=1e-6)

    def test_overflow_is_an_error_and_the_schedule_goes_on(self) -> None:
        lags: list[float] = []
        operation = single(fake_server(lambda _: 1.0), lags)
        plan = Plan(rate=10, duration=3, max_in_flight=5)

        outcome = run_virtual(run_plan(plan, operation))

        record = outcome.recorder.endpoints["GET /x"]
        # Five in flight at a time, each for a second: 5 of every 10 leave.
        assert record.ok == 15
        assert record.errors == {"overflow": 15}
        assert outcome.overflow == 15
        assert outcome.recorder.dispatched == 30
        assert max(lags) == pytest.approx(0.0, abs=1e-9)

    def test_every_operation_is_sent_on_the_real_clock(self) -> None:
        lags: list[float] = []
        operation = single(fake_server(lambda _: 0.001), lags)

        outcome = asyncio.run(loadgen.run(Plan(200, 0.5), lambda: operation))

        assert len(lags) == 100
        assert outcome.recorder.endpoints["GET /x"].ok == 100
        assert outcome.recorder.endpoints["GET /x"].errors == {}


class TestCoordinatedOmission:
    def test_a_one_second_stall_shows_in_p99(self) -> None:
        operation = single(fake_server(stall_between(2.0, 3.0)), [])

        outcome = run_virtual(run_plan(Plan(rate=100, duration=10), operation))

        record = outcome.recorder.endpoints["GET /x"]
        # 100 of 1,000 requests were due during the stall, waiting 1.0 s
        # down to 0.01 s; p99 is the 11th-worst: due at 2.10 s, 0.9 s late.
        assert record.percentile_s(50) == pytest.approx(0.001, rel=1e-2)
        assert record.percentile_s(99) == pytest.approx(0.901, rel=2e-3)
        assert record.max_s == pytest.approx(1.001, rel=1e-6)

    def test_queueing_behind_a_stalled_connection_counts(self) -> None:
        """One connection: requests wait for it. Timed from when they got it
        (what a closed-loop client sees) the stall is one slow request;
        timed from when they were due, it is a hundred."""
        connection = asyncio.Lock()
        service_times: list[float] = []
        stall = stall_between(2.0, 3.0)

        async def send() -> Reply:
            async with connection:
                loop = asyncio.get_running_loop()
                got_it = loop.time()
                await asyncio.sleep(stall(got_it))
                service_times.append(loop.time() - got_it)
            return Reply()

        outcome = run_virtual(
            run_plan(Plan(rate=100, duration=10), Operation("x", "GET /x", _one(send)))
        )

        record = outcome.recorder.endpoints["GET /x"]
        assert sorted(service_times)[-2] == pytest.approx(0.001, rel=1e-6)
        assert record.percentile_s(99) > 0.85
        assert record.percentile_s(90) > 0.001

    def test_a_real_one_second_stall_shows_in_p99(self) -> None:
        async def stalled_run() -> loadgen.Outcome:
            start = asyncio.get_running_loop().time()
            stall = stall_between(start + 0.5, start + 1.5)
            operation = single(fake_server(stall), [])
            return await loadgen.run(Plan(rate=100, duration=2), lambda: operation)

        outcome = asyncio.run(stalled_run())

        # Half the requests were due during the stall; the worst waited ~1 s.
        # A slower machine only adds latency, so a lower bound is safe.
        record = outcome.recorder.endpoints["GET /x"]
        assert record.ok == 200
        assert record.percentile_s(99) >= 0.9


def _one(send: Callable[[], Awaitable[Reply]]) -> Callable[[Exchange], Awaitable[None]]:
    async def run(exchange: Exchange) -> None:
        await exchange.call("GET /x", send)

    return run


class TestExchange:
    def test_later_requests_are_timed_from_the_previous_answer(self) -> None:
        async def run(exchange: Exchange) -> None:
            await exchange.call("first", fake_server(lambda _: 0.2))
            await exchange.call("second", fake_server(lambda _: 0.3))

        operation = Operation("two", "first", run, whole="both")

        outcome = run_virtual(run_plan(Plan(rate=1, duration=1), operation))

        endpoints = outcome.recorder.endpoints
        assert endpoints["first"].max_s == pytest.approx(0.2)
        assert endpoints["second"].max_s == pytest.approx(0.3)
        assert endpoints["both"].max_s == pytest.approx(0.5)
        assert endpoints["both"].whole
        assert not endpoints["first"].whole

    def test_an_error_status_ends_the_operation(self) -> None:
        calls: list[str] = []

        async def refused() -> Reply:
            calls.append("refused")
            return Reply(503)

        async def run(exchange: Exchange) -> None:
            await exchange.call("first", refused)
            await exchange.call("second", fake_server(lambda _: 0.0))

        operation = Operation("two", "first", run, whole="both")

        outcome = run_virtual(run_plan(Plan(rate=2, duration=1), operation))

        endpoints = outcome.recorder.endpoints
        assert calls == ["refused", "refused"]
        assert endpoints["first"].errors == {"503": 2}
        assert endpoints["first"].ok == 0
        assert set(endpoints) == {"first"}

    def test_a_client_exception_is_an_error_named_after_it(self) -> None:
        async def broken() -> Reply:
            raise ConnectionResetError

        outcome = run_virtual(
            run_plan(Plan(rate=1, duration=2), Operation("x", "GET /x", _one(broken)))
        )

        assert outcome.recorder.endpoints["GET /x"].errors == {
            "ConnectionResetError": 2
        }

    def test_an_operation_still_running_after_the_drain_is_unfinished(self) -> None:
        operation = single(fake_server(lambda _: 3600.0), [])
        plan = Plan(rate=1, duration=2, drain_timeout=5)

        outcome = run_virtual(run_plan(plan, operation))

        assert outcome.unfinished == 2
        assert outcome.recorder.endpoints["GET /x"].errors == {"unfinished": 2}


class TestWeightedPicker:
    def test_draws_follow_the_weights(self) -> None:
        operations = {
            name: Operation(name, name, _one(fake_server(lambda _: 0.0)))
            for name in ("a", "b", "c")
        }
        pick = loadgen.weighted_picker(operations, {"a": 3, "b": 1, "c": 0}, seed=7)

        names = [pick().name for _ in range(4000)]

        assert names.count("c") == 0
        assert names.count("a") / len(names) == pytest.approx(0.75, abs=0.03)

    def test_a_mix_without_positive_weights_is_refused(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            loadgen.weighted_picker({}, {"a": 0}, seed=1)


class TestPlan:
    @pytest.mark.parametrize(
        ("rate", "duration", "in_flight"), [(0, 1, 1), (1, 0, 1), (1, 1, 0)]
    )
    def test_refuses_non_positive_values(
        self, rate: float, duration: float, in_flight: int
    ) -> None:
        with pytest.raises(ValueError, match="positive"):
            Plan(rate, duration, in_flight)

    def test_due_times_follow_the_rate(self) -> None:
        plan = Plan(rate=4, duration=2)

        assert plan.count == 8
        assert [plan.due(10.0, i) for i in (0, 1, 7)] == [10.0, 10.25, 11.75]
