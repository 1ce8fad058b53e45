"""L2: values and generations in Redis, read and written by Lua scripts.

Keys live under an epoch: ``g:<epoch>:<scope>`` counts a scope's changes,
``v:<epoch>:<scope>:<variant>`` holds ``<generation>:<body>``. A value is
served only while its generation is the scope's current one; a store only
succeeds if neither epoch nor generation moved since the load began. Raising
the epoch retires every key at once (used after Redis was unreachable during
a write, when a generation bump may have been lost).

The first epoch is taken from the server's clock. A Redis that lost its data
(restarted without persistence) counts generations from zero again; a fresh
epoch keeps a load that began before the loss from storing under the old
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

PREFIX = "ability:cache:"
EPOCH_KEY = PREFIX + "epoch"
CHANNEL = PREFIX + "invalidate"
GENERATION_TTL_MS = 86_400_000

_EPOCH = f"""
local e = redis.call('GET', '{EPOCH_KEY}')
if not e then
  local now = redis.call('TIME')
  e = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', '{EPOCH_KEY}', e)
end
"""

_READ = (
    _EPOCH
    + f"""
local g = redis.call('GET', '{PREFIX}g:' .. e .. ':' .. ARGV[1]) or '0'
local v = redis.call('GET', '{PREFIX}v:' .. e .. ':' .. ARGV[1] .. ':' .. ARGV[2])
if v then
  local sep = string.find(v, ':', 1, true)
  if sep and string.sub(v, 1, sep - 1) == g then
    return {{e, g, string.sub(v, sep + 1)}}
  end
end
return {{e, g}}
"""
)

_STORE = (
    _EPOCH
    + f"""
if e ~= ARGV[3] then return 0 end
local g = redis.call('GET', '{PREFIX}g:' .. e .. ':' .. ARGV[1]) or '0'
if g ~= ARGV[4] then return 0 end
redis.call('SET', '{PREFIX}v:' .. e .. ':' .. ARGV[1] .. ':' .. ARGV[2],
           g .. ':' .. ARGV[5], 'PX', ARGV[6])
return 1
"""
)

_BUMP = (
    _EPOCH
    + f"""
for _, scope in ipairs(ARGV) do
  local key = '{PREFIX}g:' .. e .. ':' .. scope
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, {GENERATION_TTL_MS})
end
return e
"""
)

_RETIRE = (
    _EPOCH
    + f"""
return redis.call('INCR', '{EPOCH_KEY}')
"""
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What L2 holds for a key, and the state a later store must match."""

    epoch: bytes
    generation: bytes
    body: bytes | None


class SharedCache:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._read = client.register_script(_READ)
        self._store = client.register_script(_STORE)
        self._bump = client.register_script(_BUMP)
        self._retire = client.register_script(_RETIRE)

    async def read(self, scope: str, variant: str) -> Snapshot:
        result = await self._read(args=[scope, variant])
        body = result[2] if len(result) > 2 else None
        return Snapshot(epoch=result[0], generation=result[1], body=body)

    async def store(
        self, scope: str, variant: str, seen: Snapshot, body: bytes, ttl_ms: int
    ) -> bool:
        args: list[bytes | str | int] = [
            scope,
            variant,
            seen.epoch,
            seen.generation,
            body,
            ttl_ms,
        ]
        return bool(await self._store(args=args))

    async def bump(self, scopes: list[str]) -> None:
        await self._bump(args=scopes)

    async def retire_all(self) -> None:
        await self._retire()

    async def lock(
        self, scope: str, variant: str, seen: Snapshot, owner: str, ttl_ms: int
    ) -> bool:
        """Claim the load of this key at ``seen``'s generation; True if ours.

        The claim covers one generation only: once a write moves it on, the
        next miss loads at once instead of waiting on a finished load.
        """
        epoch, generation = seen.epoch.decode(), seen.generation.decode()
        key = f"{PREFIX}lock:{epoch}:{generation}:{scope}:{variant}"
        return bool(await self.client.set(key, owner, nx=True, px=ttl_ms))
