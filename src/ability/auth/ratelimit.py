"""Request limits: per user (``RATE_LIMIT_PER_MINUTE``) and failed sign-ins.

``RateLimiter`` counts a user's requests per fixed one-minute window. With
Redis the count is shared by every replica; without it each process counts
on its own. If Redis cannot be reached the request is let through: a limit
that fails closed would turn a cache outage into an outage of the service.

``LoginLimiter`` stops password guessing at ``POST /auth/login``: it counts
attempts that did not succeed per email and per client address, each in a
window that opens with its first such attempt and lasts
``LOGIN_FAILURE_WINDOW``. Past ``LOGIN_FAILURES_PER_EMAIL`` or
``LOGIN_FAILURES_PER_IP`` the next attempts get 429 before any password
is checked, the right password included. An attempt is counted before it is
checked, so concurrent guesses cannot slip past the limit, and handed back
when it succeeds: successes never use up anyone's budget. The counts live in
Redis when it is configured (shared by every replica); without Redis, or
while it cannot be reached, each process counts on its own.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ability.errors import AbilityError

log = structlog.get_logger()

WINDOW = 60
LOGIN_PREFIX = "ability:login:"
# Keys the in-process login counter keeps at most; past it the oldest windows
# are dropped (forgotten early) rather than letting memory grow.
MAX_LOCAL_KEYS = 100_000

# KEYS: counters; ARGV[1]: window in ms. Returns count and ms left, per key.
_HIT = """
local out = {}
for _, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if left < 0 then
    left = tonumber(ARGV[1])
    redis.call('PEXPIRE', key, left)
  end
  table.insert(out, count)
  table.insert(out, left)
end
return out
"""

# KEYS: counters to give one attempt back; an expired one stays gone.
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
"""


class RateLimitedError(AbilityError):
    status_code = 429

    def __init__(
        self, retry_after: int, message: str = "Too many requests; slow down"
    ) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class LoginRateLimitedError(RateLimitedError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, "Too many failed sign-ins; try again later")


class RateLimiter:
    def __init__(self, per_minute: int, client: Redis | None) -> None:
        self.per_minute = per_minute
        self.client = client
        self._window = 0
        self._counts: dict[int, int] = {}

    async def check(self, user_id: int) -> None:
        """Count one request of ``user_id``; raise once over the limit."""
        if self.per_minute <= 0:
            return
        now = time.time()
        window = int(now // WINDOW)
        count = await self._count(user_id, window)
        if count is not None and count > self.per_minute:
            raise RateLimitedError(int(WINDOW - now % WINDOW) + 1)

    async def _count(self, user_id: int, window: int) -> int | None:
        if self.client is None:
            if window != self._window:
                self._window, self._counts = window, {}
            self._counts[user_id] = self._counts.get(user_id, 0) + 1
            return self._counts[user_id]
        key = f"ability:rate:{user_id}:{window}"
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW * 2)
                count, _ = await pipe.execute()
        except (RedisError, OSError):
            return None
        return int(count)


@dataclass(slots=True)
class _Count:
    value: int
    expires: float


class _LocalCounters:
    """Counters that expire, in this process; oldest window first."""

    def __init__(self, max_keys: int = MAX_LOCAL_KEYS) -> None:
        self.max_keys = max_keys
        self._counts: dict[str, _Count] = {}

    def hit(self, keys: list[str], window: float) -> list[tuple[int, float]]:
        now = time.monotonic()
        self._drop_expired(now)
        out: list[tuple[int, float]] = []
        for key in keys:
            count = self._counts.get(key)
            if count is None:
                count = self._counts[key] = _Count(0, now + window)
            count.value += 1
            out.append((count.value, count.expires - now))
        while len(self._counts) > self.max_keys:
            del self._counts[next(iter(self._counts))]
        return out

    def give_back(self, keys: list[str]) -> None:
        now = time.monotonic()
        for key in keys:
            count = self._counts.get(key)
            if count is not None and count.expires > now and count.value > 0:
                count.value -= 1

    def _drop_expired(self, now: float) -> None:
        # Every key gets the same window, so insertion order is expiry order.
        while self._counts:
            oldest = next(iter(self._counts))
            if self._counts[oldest].expires > now:
                return
            del self._counts[oldest]


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The counters one sign-in attempt was counted in, and where."""

    keys: list[str]
    shared: bool = False


class LoginLimiter:
    def __init__(
        self,
        per_email: int,
        per_ip: int,
        window: timedelta,
        client: Redis | None,
    ) -> None:
        self.per_email = per_email
        self.per_ip = per_ip
        self.window = window
        self.local = _LocalCounters()
        self._hit = client.register_script(_HIT) if client is not None else None
        self._give_back = (
            client.register_script(_GIVE_BACK) if client is not None else None
        )

    async def begin(self, email: str, ip: str | None) -> LoginAttempt:
        """Count an attempt for ``email`` from ``ip``; 429 once either has
        used up its failures in the current window."""
        limits: dict[str, int] = {}
        if self.per_email > 0:
            digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
            limits[f"{LOGIN_PREFIX}email:{digest[:32]}"] = self.per_email
        if self.per_ip > 0 and ip:
            limits[f"{LOGIN_PREFIX}ip:{ip}"] = self.per_ip
        if not limits:
            return LoginAttempt([])

        keys = list(limits)
        counts, shared = await self._count(keys)
        waits = [
            left
            for (count, left), limit in zip(counts, limits.values(), strict=True)
            if count > limit
        ]
        if waits:
            log.warning("auth.login.throttled", limited=len(waits))
            raise LoginRateLimitedError(math.ceil(max(waits)))
        return LoginAttempt(keys, shared)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """Hand a successful attempt back: only failures use up a budget."""
        if not attempt.shared:
            self.local.give_back(attempt.keys)
            return
        assert self._give_back is not None
        try:
            await self._give_back(keys=attempt.keys)
        except (RedisError, OSError):
            log.warning("auth.login.limit.redis_unavailable", step="give_back")

    async def _count(self, keys: list[str]) -> tuple[list[tuple[int, float]], bool]:
        """Each key's count and seconds left; True when counted in Redis."""
        window = self.window.total_seconds()
        if self._hit is not None:
            try:
                flat = await self._hit(keys=keys, args=[math.ceil(window * 1000)])
            except (RedisError, OSError):
                # Keep limiting in this process rather than not at all.
                log.warning("auth.login.limit.redis_unavailable", step="count")
            else:
                pairs = zip(flat[::2], flat[1::2], strict=True)
                return [(int(n), int(left) / 1000) for n, left in pairs], True
        return self.local.hit(keys, window), False
