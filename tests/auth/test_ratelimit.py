from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from ability.auth.ratelimit import (
    WINDOW,
    LoginLimiter,
    LoginRateLimitedError,
    _LocalCounters,
)
from ability.config import Settings
from ability.main import create_app
from ability.redis import command_client
from tests.backends import base_settings, flushed_redis
from tests.conftest import Api
from tests.servers import RedisServer


@pytest.fixture
def limited_api(settings: Settings) -> Iterator[Api]:
    limited = settings.model_copy(update={"RATE_LIMIT_PER_MINUTE": 5})
    with TestClient(create_app(limited)) as client:
        # Start well inside a one-minute window, so a test's few requests
        # are all counted in the same one.
        if time.time() % WINDOW > WINDOW - 5:
            time.sleep(WINDOW - time.time() % WINDOW + 0.1)
        yield Api(client, limited)


class TestRateLimit:
    def test_requests_past_the_limit_get_429_with_retry_after(
        self, limited_api: Api
    ) -> None:
        tenant = limited_api.tenant()

        codes = [
            limited_api.client.get("/users/me", headers=tenant.headers()).status_code
            for _ in range(7)
        ]
        refused = limited_api.client.get("/users/me", headers=tenant.headers())

        assert codes[:5] == [200] * 5
        assert codes[5:] == [429, 429]
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        assert refused.json()["error"] == "RateLimitedError"

    def test_each_user_has_a_budget_of_their_own(self, limited_api: Api) -> None:
        tenant = limited_api.tenant()
        for _ in range(6):
            limited_api.client.get("/users/me", headers=tenant.headers())

        other = limited_api.client.get("/users/me", headers=tenant.headers("member"))

        assert other.status_code == 200

    def test_off_by_default(self, api: Api) -> None:
        tenant = api.tenant()

        codes = {
            api.client.get("/users/me", headers=tenant.headers()).status_code
            for _ in range(20)
        }

        assert codes == {200}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["local", "redis"])
async def login_redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis | None]:
    """No Redis (each process counts), or a real one shared by limiters."""
    if request.param == "local":
        yield None
        return
    server: RedisServer = request.getfixturevalue("redis_server_")
    client = Redis.from_url(flushed_redis(server))
    try:
        yield client
    finally:
        await client.aclose()


def _login_limiter(
    client: Redis | None,
    per_email: int = 3,
    per_ip: int = 6,
    window: timedelta = timedelta(minutes=1),
) -> LoginLimiter:
    return LoginLimiter(per_email, per_ip, window, client)


async def _refused(limiter: LoginLimiter, email: str, ip: str) -> bool:
    """Whether an attempt for ``email`` from ``ip`` is refused (then failed)."""
    try:
        await limiter.begin(email, ip)
    except LoginRateLimitedError:
        return True
    return False


@pytest.mark.anyio
class TestLoginLimiter:
    async def test_an_email_is_refused_after_its_failures_from_any_ip(
        self, login_redis: Redis | None
    ) -> None:
        limiter = _login_limiter(login_redis)

        failures = [await _refused(limiter, "a@x.test", "10.0.0.1") for _ in range(3)]
        same_ip = await _refused(limiter, "a@x.test", "10.0.0.1")
        other_ip = await _refused(limiter, "A@X.test ", "10.0.0.2")
        other_email = await _refused(limiter, "b@x.test", "10.0.0.1")

        assert failures == [False] * 3
        assert (same_ip, other_ip, other_email) == (True, True, False)

    async def test_an_ip_is_refused_after_failures_for_many_emails(
        self, login_redis: Redis | None
    ) -> None:
        limiter = _login_limiter(login_redis)

        sprayed = [
            await _refused(limiter, f"user{n}@x.test", "10.0.0.1") for n in range(6)
        ]
        same_ip = await _refused(limiter, "fresh@x.test", "10.0.0.1")
        other_ip = await _refused(limiter, "fresh@x.test", "10.0.0.2")

        assert sprayed == [False] * 6
        assert (same_ip, other_ip) == (True, False)

    async def test_successes_are_given_back(self, login_redis: Redis | None) -> None:
        limiter = _login_limiter(login_redis, per_email=1, per_ip=1)
        for _ in range(5):
            await limiter.succeeded(await limiter.begin("a@x.test", "10.0.0.1"))

        failed = await _refused(limiter, "a@x.test", "10.0.0.1")
        after_failure = await _refused(limiter, "a@x.test", "10.0.0.1")

        assert (failed, after_failure) == (False, True)

    async def test_retry_after_is_what_is_left_of_the_window(
        self, login_redis: Redis | None
    ) -> None:
        limiter = _login_limiter(login_redis, per_email=1, window=timedelta(hours=1))
        await limiter.begin("a@x.test", "10.0.0.1")

        with pytest.raises(LoginRateLimitedError) as refused:
            await limiter.begin("a@x.test", "10.0.0.1")

        assert 3590 <= int(refused.value.headers["Retry-After"]) <= 3600

    async def test_the_limit_lifts_when_the_window_ends(
        self, login_redis: Redis | None
    ) -> None:
        limiter = _login_limiter(
            login_redis, per_email=1, window=timedelta(milliseconds=300)
        )
        await limiter.begin("a@x.test", "10.0.0.1")
        during = await _refused(limiter, "a@x.test", "10.0.0.1")

        await asyncio.sleep(0.4)
        after = await _refused(limiter, "a@x.test", "10.0.0.1")

        assert (during, after) == (True, False)

    async def test_concurrent_guesses_get_no_more_than_the_limit(
        self, login_redis: Redis | None
    ) -> None:
        limiter = _login_limiter(login_redis, per_email=5, per_ip=100)

        refused = await asyncio.gather(
            *(_refused(limiter, "a@x.test", "10.0.0.1") for _ in range(20))
        )

        assert refused.count(False) == 5

    async def test_zero_turns_both_limits_off(self, login_redis: Redis | None) -> None:
        limiter = _login_limiter(login_redis, per_email=0, per_ip=0)

        refused = [await _refused(limiter, "a@x.test", "10.0.0.1") for _ in range(30)]

        assert not any(refused)


@pytest.mark.anyio
@pytest.mark.redis
class TestLoginLimiterAcrossReplicas:
    async def test_replicas_share_the_counts(self, redis_server_: RedisServer) -> None:
        url = flushed_redis(redis_server_)
        async with Redis.from_url(url) as first, Redis.from_url(url) as second:
            one = _login_limiter(first, per_email=2)
            two = _login_limiter(second, per_email=2)

            await _refused(one, "a@x.test", "10.0.0.1")
            await _refused(two, "a@x.test", "10.0.0.2")
            refused = await _refused(one, "a@x.test", "10.0.0.3")

        assert refused

    async def test_unreachable_redis_still_limits_in_process(self) -> None:
        with socket.socket() as sock:  # a loopback port that nothing listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = base_settings(REDIS_URL=f"redis://127.0.0.1:{port}/0")
        down = command_client(settings)
        assert down is not None
        async with down:
            limiter = _login_limiter(down, per_email=2)
            refused = [
                await _refused(limiter, "a@x.test", "10.0.0.1") for _ in range(3)
            ]

        assert refused == [False, False, True]


class TestLocalLoginCounts:
    def test_memory_stays_bounded_by_dropping_the_oldest_windows(self) -> None:
        counters = _LocalCounters(max_keys=3)

        for n in range(5):
            counters.hit([f"key{n}"], window=60)

        [(kept, left)] = counters.hit(["key4"], window=60)
        [(forgotten, _)] = counters.hit(["key0"], window=60)

        assert (kept, forgotten) == (2, 1)  # key0 was dropped to make room
        assert 59 < left <= 60
