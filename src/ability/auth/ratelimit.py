"""Per-user request limits: ``RATE_LIMIT_PER_MINUTE`` requests per minute.

Counted per fixed one-minute window. With Redis the count is shared by every
replica; without it each process counts on its own. If Redis cannot be
reached the request is let through: a limit that fails closed would turn a
cache outage into an outage of the service.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ability.errors import AbilityError

WINDOW = 60


class RateLimitedError(AbilityError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many requests; slow down",
            headers={"Retry-After": str(max(1, retry_after))},
        )


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
