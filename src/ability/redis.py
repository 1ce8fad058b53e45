"""Redis clients, made from ``ABILITY_REDIS_URL``.

Commands use short timeouts so that a slow or dead Redis costs a request
milliseconds, not seconds; the subscriber connection has none (it waits for
messages by design) and relies on TCP keepalive and health checks instead.
"""

from __future__ import annotations

from redis.asyncio import Redis

from ability.config import Settings


def command_client(settings: Settings) -> Redis | None:
    if settings.REDIS_URL is None:
        return None
    timeout = settings.REDIS_TIMEOUT.total_seconds()
    return Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=timeout + settings.CACHE_ACK_TIMEOUT.total_seconds(),
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
    )


def subscriber_client(settings: Settings) -> Redis | None:
    if settings.REDIS_URL is None:
        return None
    return Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_TIMEOUT.total_seconds(),
        socket_keepalive=True,
        health_check_interval=5,
    )
