"""The two-level cache against a real Redis, with two ``Cache`` instances
standing in for two replicas of the service."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ability.cache.service import Cache
from ability.cache.shared import CHANNEL
from ability.config import Settings
from ability.redis import command_client, subscriber_client
from tests.backends import base_settings, flushed_redis
from tests.servers import RedisServer, redis_server

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

SCOPE = "c1:app:1"
LIST = "c1:apps"
WAIT = 10.0


class Source:
    """The database behind a loader: a value, a call count, and a gate that
    can hold a load after it read the value (a slow reader)."""

    def __init__(self, value: bytes | None = b"v1") -> None:
        self.value = value
        self.calls = 0
        self.read = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> bytes | None:
        self.calls += 1
        value = self.value
        self.read.set()
        if self.gate is not None:
            await self.gate.wait()
        return value

    def hold(self) -> asyncio.Event:
        self.gate = asyncio.Event()
        self.read = asyncio.Event()
        return self.gate


async def until(condition: Callable[[], bool], within: float = WAIT) -> float:
    """Seconds until ``condition`` holds; fails after ``within`` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def reconnect(*caches: Cache) -> None:
    """Replace command connections from before a Redis restart (the first
    command on such a connection fails, and would hide what a test checks)."""
    for cache in caches:
        assert cache.client is not None
        for _ in range(3):
            with contextlib.suppress(RedisError):
                await cache.client.ping()
                break


async def read_until_a_hit(cache: Cache, source: Source) -> list[bytes | None]:
    """Read SCOPE until L1 serves it; every value read, the hit last."""
    hits = cache.stats()["l1"]["hits"]
    values: list[bytes | None] = []
    deadline = time.monotonic() + WAIT
    while cache.stats()["l1"]["hits"] == hits:
        if time.monotonic() > deadline:
            pytest.fail(f"no L1 hit within {WAIT} s")
        values.append(await cache.get_or_load(SCOPE, "", source))
        await asyncio.sleep(0.02)
    return values


@asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[Cache]:
    """A started cache, subscribed to invalidations; stopped at exit."""
    cache = Cache(settings, command_client(settings), subscriber_client(settings))
    await cache.start()
    try:
        await until(lambda: cache.status == "ok")
        yield cache
    finally:
        await cache.stop()


@pytest.fixture
def settings(redis_server_: RedisServer) -> Settings:
    # A generous ack timeout: these tests wait for acks, not for timeouts.
    return base_settings(
        REDIS_URL=flushed_redis(redis_server_),
        CACHE_ACK_TIMEOUT=timedelta(seconds=2),
    )


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, which it may kill."""
    with redis_server(tmp_path) as server:
        yield server


class TestSharedLevel:
    async def test_second_replica_hits_l2_after_the_first_loaded(
        self, settings: Settings
    ) -> None:
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            first = await a.get_or_load(SCOPE, "", source)
            second = await b.get_or_load(SCOPE, "", source)
            third = await b.get_or_load(SCOPE, "", source)

            assert first == second == third == b"v1"
            assert source.calls == 1
            assert b.stats()["l2"]["hits"] == 1
            assert b.stats()["l1"]["hits"] == 1

    async def test_without_redis_l1_alone_serves_hits(self) -> None:
        cache = Cache(base_settings())
        source = Source()

        for _ in range(3):
            assert await cache.get_or_load(SCOPE, "", source) == b"v1"

        assert source.calls == 1
        assert cache.status == "ok"
        assert cache.stats()["l2"] is None


class TestStaleStore:
    async def test_slow_reader_stores_nothing_after_another_replica_wrote(
        self, settings: Settings
    ) -> None:
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            release = source.hold()
            slow = asyncio.create_task(a.get_or_load(SCOPE, "", source))
            await asyncio.wait_for(source.read.wait(), WAIT)
            source.value = b"v2"  # the write commits ...
            await b.invalidate([SCOPE])  # ... and is acknowledged
            release.set()
            assert await slow == b"v1"  # what that read saw, served once
            source.gate = None

            assert await a.get_or_load(SCOPE, "", source) == b"v2"
            assert await b.get_or_load(SCOPE, "", source) == b"v2"
            assert source.calls == 2

    async def test_slow_reader_stores_nothing_after_its_own_replica_wrote(
        self, settings: Settings
    ) -> None:
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            release = source.hold()
            slow = asyncio.create_task(a.get_or_load(SCOPE, "", source))
            await asyncio.wait_for(source.read.wait(), WAIT)
            source.value = b"v2"
            await a.invalidate([SCOPE])
            release.set()
            await slow
            source.gate = None

            assert await b.get_or_load(SCOPE, "", source) == b"v2"
            assert await a.get_or_load(SCOPE, "", source) == b"v2"

    async def test_read_after_a_write_does_not_join_a_load_begun_before_it(
        self, settings: Settings
    ) -> None:
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            release = source.hold()
            slow = asyncio.create_task(a.get_or_load(SCOPE, "", source))
            await asyncio.wait_for(source.read.wait(), WAIT)
            source.value = b"v2"
            await b.invalidate([SCOPE])
            source.gate = None
            after = await asyncio.wait_for(a.get_or_load(SCOPE, "", source), WAIT)
            release.set()

            assert after == b"v2"
            assert await slow == b"v1"
            assert await a.get_or_load(SCOPE, "", source) == b"v2"

    async def test_invalidation_covers_every_variant_of_a_scope(
        self, settings: Settings
    ) -> None:
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            for variant in ("list:a", "list:b", "stats"):
                await a.get_or_load(LIST, variant, source)
                await b.get_or_load(LIST, variant, source)
            source.value = b"v2"

            await a.invalidate([LIST])

            for variant in ("list:a", "list:b", "stats"):
                assert await b.get_or_load(LIST, variant, source) == b"v2"
                assert await a.get_or_load(LIST, variant, source) == b"v2"


class TestSingleFlight:
    async def test_concurrent_misses_load_once(self, settings: Settings) -> None:
        source = Source()

        async with replica(settings) as a:
            release = source.hold()
            readers = [a.get_or_load(SCOPE, "", source) for _ in range(20)]
            tasks = [asyncio.create_task(reader) for reader in readers]
            await asyncio.wait_for(source.read.wait(), WAIT)
            await asyncio.sleep(0.05)  # every reader has arrived and waits
            release.set()
            results = await asyncio.gather(*tasks)

        assert results == [b"v1"] * 20
        assert source.calls == 1

    async def test_concurrent_misses_on_two_replicas_load_once(
        self, settings: Settings
    ) -> None:
        source = Source()

        async def slow() -> bytes | None:
            await asyncio.sleep(0.05)
            return await source()

        async with replica(settings) as a, replica(settings) as b:
            results = await asyncio.gather(
                a.get_or_load(SCOPE, "", slow), b.get_or_load(SCOPE, "", slow)
            )

        assert list(results) == [b"v1", b"v1"]
        assert source.calls == 1

    async def test_a_miss_after_a_write_does_not_wait_for_an_earlier_load(
        self, settings: Settings
    ) -> None:
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            await a.get_or_load(LIST, "page", source)  # claims the load, fills
            await a.invalidate([LIST])
            start = time.monotonic()
            await b.get_or_load(LIST, "page", source)
            took = time.monotonic() - start

        # Waiting for another replica's load polls for at least 0.2 s.
        assert took < 0.15
        assert source.calls == 2

    async def test_a_failed_load_fails_its_waiters_and_is_retried(
        self, settings: Settings
    ) -> None:
        gate = asyncio.Event()

        async def broken() -> bytes | None:
            await gate.wait()
            raise RuntimeError("database went away")

        async with replica(settings) as a:
            tasks = [
                asyncio.create_task(a.get_or_load(SCOPE, "", broken)) for _ in range(3)
            ]
            await asyncio.sleep(0.05)
            gate.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)

            assert all(isinstance(r, RuntimeError) for r in results)
            assert await a.get_or_load(SCOPE, "", Source()) == b"v1"


class TestNegative:
    async def test_a_missing_value_is_cached_on_both_levels(
        self, settings: Settings
    ) -> None:
        source = Source(None)

        async with replica(settings) as a, replica(settings) as b:
            assert await a.get_or_load(SCOPE, "", source) is None
            assert await a.get_or_load(SCOPE, "", source) is None
            assert await b.get_or_load(SCOPE, "", source) is None

            assert source.calls == 1
            assert b.stats()["l2"]["hits"] == 1

    async def test_an_invalidation_ends_it(self, settings: Settings) -> None:
        source = Source(None)

        async with replica(settings) as a, replica(settings) as b:
            await a.get_or_load(SCOPE, "", source)
            await b.get_or_load(SCOPE, "", source)
            source.value = b"created"

            await a.invalidate([SCOPE])

            assert await b.get_or_load(SCOPE, "", source) == b"created"
            assert await a.get_or_load(SCOPE, "", source) == b"created"


class TestAcks:
    async def test_invalidate_returns_after_the_other_replica_dropped_the_key(
        self, settings: Settings
    ) -> None:
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            await a.get_or_load(SCOPE, "", source)
            await b.get_or_load(SCOPE, "", source)
            assert b.local.get(SCOPE, "") == b"v1"

            await a.invalidate([SCOPE])

            assert b.local.get(SCOPE, "") is None
            assert a.stats()["l2"]["invalidations_sent"] == 1
            assert b.stats()["l2"]["invalidations_received"] == 1
            assert a.stats()["l2"]["acks_missing"] == 0

    async def test_a_silent_subscriber_delays_a_write_by_the_timeout_only(
        self, redis_server_: RedisServer
    ) -> None:
        settings = base_settings(
            REDIS_URL=flushed_redis(redis_server_),
            CACHE_ACK_TIMEOUT=timedelta(milliseconds=300),
        )
        silent = Redis.from_url(settings.REDIS_URL or "")
        pubsub = silent.pubsub()
        await pubsub.subscribe(CHANNEL)

        try:
            async with replica(settings) as a:
                start = time.monotonic()
                await a.invalidate([SCOPE])
                took = time.monotonic() - start
                missing = a.stats()["l2"]["acks_missing"]
        finally:
            await pubsub.aclose()
            await silent.aclose()

        assert missing == 1
        assert 0.3 <= took < 1.5


class TestRedisOutage:
    async def test_serves_from_the_source_while_redis_is_down_and_recovers(
        self, private_redis: RedisServer
    ) -> None:
        settings = base_settings(REDIS_URL=private_redis.url)
        source = Source()

        async with replica(settings) as a:
            await a.get_or_load(SCOPE, "", source)
            assert await a.get_or_load(SCOPE, "", source) == b"v1"
            assert source.calls == 1

            private_redis.kill()
            await until(lambda: a.status == "degraded")
            source.value = b"v2"
            await a.invalidate([SCOPE])  # a write during the outage
            served = [await a.get_or_load(SCOPE, "", source) for _ in range(5)]
            calls_while_down = source.calls

            private_redis.start()
            recovery = await until(lambda: a.status == "ok")
            source.value = b"v3"
            hits = a.stats()["l1"]["hits"]
            after = await read_until_a_hit(a, source)

        assert served == [b"v2"] * 5
        assert calls_while_down == 6
        assert recovery < 5.0
        assert set(after) == {b"v3"}
        assert a.stats()["l1"]["hits"] == hits + 1
        assert source.calls - calls_while_down <= len(after) - 1

    async def test_load_begun_before_redis_lost_its_data_stores_nothing(
        self, private_redis: RedisServer
    ) -> None:
        settings = base_settings(
            REDIS_URL=private_redis.url, CACHE_ACK_TIMEOUT=timedelta(seconds=2)
        )
        source = Source()

        async with replica(settings) as a, replica(settings) as b:
            release = source.hold()
            slow = asyncio.create_task(a.get_or_load(SCOPE, "", source))
            await asyncio.wait_for(source.read.wait(), WAIT)
            source.value = b"v2"
            await b.invalidate([SCOPE])
            # Redis restarts empty: generations count from zero again.
            private_redis.kill()
            await until(lambda: a.status == b.status == "degraded")
            private_redis.start()
            await until(lambda: a.status == b.status == "ok")
            await reconnect(a, b)
            release.set()
            assert await slow == b"v1"
            source.gate = None

            assert await b.get_or_load(SCOPE, "", source) == b"v2"
            assert await a.get_or_load(SCOPE, "", source) == b"v2"


class TestStop:
    async def test_returns_promptly_right_after_an_invalidation(
        self, settings: Settings
    ) -> None:
        # The listener is often mid-ack here, where one cancel can be lost.
        for _ in range(10):
            a = Cache(settings, command_client(settings), subscriber_client(settings))
            b = Cache(settings, command_client(settings), subscriber_client(settings))
            await a.start()
            await b.start()
            await until(lambda: a.status == b.status == "ok")  # noqa: B023
            await a.get_or_load(SCOPE, "", Source())
            await b.get_or_load(SCOPE, "", Source())

            await a.invalidate([SCOPE])
            async with asyncio.timeout(5):
                await b.stop()
                await a.stop()
