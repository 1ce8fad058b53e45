"""The two-level cache the features read through.

Guarantees, and how each is kept:

- *No stale value after an invalidation*: loads take a token (L1) and a
  snapshot of the scope's generation (L2) before reading the database, and
  may store their result only if neither moved meanwhile.
- *Read-your-writes across replicas*: a write bumps the generations in
  Redis, then publishes the scopes and waits (up to ``CACHE_ACK_TIMEOUT``)
  until every other subscribed replica acknowledges that it dropped them
  from its L1; only then does the write's response go out.
- *A replica that may have missed messages* (subscription lost, Redis
  unreachable) drops its L1 and serves from the database until it is
  subscribed again; a write that could not bump generations retires every
  L2 key (epoch) once Redis is back.
- *Stampedes*: one load per key per process; across replicas a short Redis
  lock, whose losers wait briefly for the winner's value.
- Misses are cached too (``NEGATIVE``), TTLs carry jitter, and every key
  holds the company id in its scope.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ability.cache.local import LocalCache, Token
from ability.cache.shared import CHANNEL, PREFIX, SharedCache, Snapshot
from ability.config import Settings
from ability.kit.tasks import cancel_and_wait
from ability.metrics import CACHE_INVALIDATIONS, CACHE_LOOKUPS

log = structlog.get_logger()

NEGATIVE = b""
"""Stored for a key whose source has no value (a 404), for a shorter TTL."""

Loader = Callable[[], Awaitable[bytes | None]]
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class _Flight:
    """A load under way, shared by the readers of its key that arrive later."""

    token: Token
    result: asyncio.Future[bytes | None]


class Cache:
    def __init__(
        self,
        settings: Settings,
        client: Redis | None = None,
        subscriber: Redis | None = None,
    ) -> None:
        self.enabled = settings.CACHE_ENABLED
        self.ttl = settings.CACHE_TTL.total_seconds()
        self.ack_timeout = settings.CACHE_ACK_TIMEOUT.total_seconds()
        self.local = LocalCache(settings.CACHE_L1_SIZE)
        self.client = client
        self.subscriber = subscriber or client
        self.shared = SharedCache(client) if client is not None else None
        self.replica = uuid.uuid4().hex
        self._flights: dict[tuple[str, str], _Flight] = {}
        # Only a process that keeps L1 copies must hear of every change.
        self._listens = client is not None and settings.CACHE_L1_SIZE > 0
        self._subscribed = False
        self._down_until = 0.0
        self._retire_pending = False
        self._listener: asyncio.Task[None] | None = None
        self.counters: dict[str, int] = {
            "l2_hits": 0,
            "l2_misses": 0,
            "invalidations_sent": 0,
            "invalidations_received": 0,
            "acks_missing": 0,
            "redis_errors": 0,
        }

    # --- state --------------------------------------------------------------

    @property
    def redis_ok(self) -> bool:
        if self.client is None:
            return True
        heard = self._subscribed or not self._listens
        return heard and time.monotonic() >= self._down_until

    @property
    def status(self) -> str:
        """``ok``, ``degraded`` (Redis configured but unusable) or ``disabled``."""
        if not self.enabled:
            return "disabled"
        return "ok" if self.redis_ok else "degraded"

    def _redis_failed(self, where: str) -> None:
        self.counters["redis_errors"] += 1
        if time.monotonic() >= self._down_until:
            log.warning("cache.redis.unavailable", where=where)
        self._down_until = time.monotonic() + 1.0
        self.local.clear()

    # --- reads --------------------------------------------------------------

    async def get_or_load(self, scope: str, variant: str, load: Loader) -> bytes | None:
        """The cached bytes for (scope, variant), loading them on a miss."""
        if not self.enabled or not self.redis_ok:
            return await load()
        body = self.local.get(scope, variant)
        if body is not None:
            return None if body == NEGATIVE else body
        key = (scope, variant)
        flight = self._flights.get(key)
        # A load begun before the scope's latest change may return what that
        # change replaced: only a load begun after it may be shared.
        if flight is not None and self.local.is_current(scope, flight.token):
            return await asyncio.shield(flight.result)
        token = self.local.token()
        flight = _Flight(token, asyncio.get_running_loop().create_future())
        self._flights[key] = flight
        try:
            body = await self._fill(scope, variant, token, load)
            flight.result.set_result(body)
            return body
        except BaseException as exc:
            flight.result.set_exception(exc)
            flight.result.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]

    async def get_or_load_json(
        self, scope: str, variant: str, load: Callable[[], Awaitable[BaseModel | None]]
    ) -> bytes | None:
        """Like ``get_or_load``, for loaders that return a model (or None)."""

        async def load_json() -> bytes | None:
            model = await load()
            return None if model is None else model.model_dump_json().encode()

        return await self.get_or_load(scope, variant, load_json)

    def _ttl(self, body: bytes | None) -> float:
        base = self.ttl / 5 if body is None else self.ttl
        return base * random.uniform(0.9, 1.1)

    async def _fill(
        self, scope: str, variant: str, token: Token, load: Loader
    ) -> bytes | None:
        seen = await self._shared_read(scope, variant)
        if seen is not None and seen.body is not None:
            self.counters["l2_hits"] += 1
            CACHE_LOOKUPS.labels("l2", "hit").inc()
            self.local.put(scope, variant, token, seen.body, self._ttl(seen.body))
            return None if seen.body == NEGATIVE else seen.body
        if seen is not None:
            self.counters["l2_misses"] += 1
            CACHE_LOOKUPS.labels("l2", "miss").inc()
            waited = await self._wait_for_winner(scope, variant, seen)
            if waited is not None:
                self.local.put(scope, variant, token, waited.body or NEGATIVE, self.ttl)
                return None if waited.body == NEGATIVE else waited.body
        body = await load()
        stored = NEGATIVE if body is None else body
        ttl = self._ttl(body)
        self.local.put(scope, variant, token, stored, ttl)
        if seen is not None and self.shared is not None:
            try:
                await self.shared.store(scope, variant, seen, stored, int(ttl * 1000))
            except _REDIS_ERRORS:
                self._redis_failed("store")
        return body

    async def _shared_read(self, scope: str, variant: str) -> Snapshot | None:
        if self.shared is None:
            return None
        try:
            return await self.shared.read(scope, variant)
        except _REDIS_ERRORS:
            self._redis_failed("read")
            return None

    async def _wait_for_winner(
        self, scope: str, variant: str, seen: Snapshot
    ) -> Snapshot | None:
        """If another replica is loading this key, wait a little for it."""
        assert self.shared is not None
        try:
            if await self.shared.lock(scope, variant, seen, self.replica, 2000):
                return None
            for _ in range(20):
                await asyncio.sleep(0.01)
                again = await self.shared.read(scope, variant)
                if again.body is not None and again.generation == seen.generation:
                    return again
        except _REDIS_ERRORS:
            self._redis_failed("lock")
        return None

    # --- writes -------------------------------------------------------------

    async def invalidate(self, scopes: list[str]) -> None:
        """Call after a commit that changed ``scopes``."""
        if not scopes:
            return
        for scope in scopes:
            self.local.invalidate(scope)
        if self.shared is None or self.client is None:
            return
        try:
            await self.shared.bump(scopes)
            nonce = uuid.uuid4().hex
            message = orjson.dumps({"o": self.replica, "n": nonce, "s": scopes})
            receivers = int(await self.client.publish(CHANNEL, message))
            self.counters["invalidations_sent"] += 1
            CACHE_INVALIDATIONS.labels("sent").inc()
            # Every subscriber acknowledges, this process included: no
            # guessing whether our own subscription is still alive.
            await self._await_acks(nonce, receivers)
        except _REDIS_ERRORS:
            # Other replicas cannot hear of this change: they drop their L1
            # when they notice Redis is gone, and L2 is retired on recovery.
            self._retire_pending = True
            self._redis_failed("invalidate")

    async def _await_acks(self, nonce: str, others: int) -> None:
        assert self.client is not None
        key = f"{PREFIX}ack:{nonce}"
        deadline = time.monotonic() + self.ack_timeout
        acked = 0
        while acked < others:
            left = deadline - time.monotonic()
            if left <= 0:
                self.counters["acks_missing"] += others - acked
                log.warning("cache.ack.missing", expected=others, received=acked)
                return
            if await self.client.blpop([key], timeout=left) is None:
                continue
            acked += 1

    # --- subscription -------------------------------------------------------

    async def start(self) -> None:
        if self._listens:
            self._listener = asyncio.create_task(self._listen_forever())

    async def stop(self) -> None:
        if self._listener is not None:
            await cancel_and_wait(self._listener)
        for client in {self.client, self.subscriber} - {None}:
            await client.aclose()  # type: ignore[union-attr]

    async def _listen_forever(self) -> None:
        assert self.subscriber is not None
        delay = 0.1
        while True:
            try:
                async with self.subscriber.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await self._on_subscribed()
                    delay = 0.1
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._handle(message["data"])
            except _REDIS_ERRORS:
                if self._subscribed:
                    log.warning("cache.subscription.lost")
                self._subscribed = False
                self.local.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _on_subscribed(self) -> None:
        assert self.shared is not None
        # Messages may have been missed while we were not listening.
        self.local.clear()
        if self._retire_pending:
            await self.shared.retire_all()
            clear = orjson.dumps({"o": self.replica, "clear": 1})
            await self.shared.client.publish(CHANNEL, clear)
            self._retire_pending = False
        self._subscribed = True
        self._down_until = 0.0
        log.info("cache.subscription.ready", replica=self.replica)

    async def _handle(self, data: bytes) -> None:
        try:
            await self._on_message(data)
        except _REDIS_ERRORS:
            raise  # the connection is gone: resubscribe
        except Exception:
            # A message we cannot read may have named keys we hold.
            log.exception("cache.message.unreadable")
            self.local.clear()

    async def _on_message(self, data: bytes) -> None:
        message: dict[str, Any] = orjson.loads(data)
        if message.get("clear"):
            self.local.clear()
            return
        if message.get("o") != self.replica:  # ours were applied when sent
            for scope in message.get("s", []):
                self.local.invalidate(scope)
            self.counters["invalidations_received"] += 1
            CACHE_INVALIDATIONS.labels("received").inc()
        assert self.client is not None
        key = f"{PREFIX}ack:{message['n']}"
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, self.replica)
            pipe.pexpire(key, 5000)
            await pipe.execute()

    # --- figures ------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        local = self.local.stats
        lookups = local.hits + local.misses
        l2_lookups = self.counters["l2_hits"] + self.counters["l2_misses"]
        return {
            "status": self.status,
            "replica": self.replica,
            "l1": {
                "hits": local.hits,
                "misses": local.misses,
                "hit_ratio": local.hits / lookups if lookups else 0.0,
                "size": len(self.local),
                "capacity": self.local.capacity,
                "evictions": local.evictions,
                "invalidations": local.invalidations,
            },
            "l2": None
            if self.client is None
            else {
                "hits": self.counters["l2_hits"],
                "misses": self.counters["l2_misses"],
                "hit_ratio": self.counters["l2_hits"] / l2_lookups
                if l2_lookups
                else 0.0,
                "invalidations_sent": self.counters["invalidations_sent"],
                "invalidations_received": self.counters["invalidations_received"],
                "acks_missing": self.counters["acks_missing"],
                "errors": self.counters["redis_errors"],
            },
        }
