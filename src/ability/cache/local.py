"""L1: a bounded in-process LRU of serialised values with TTLs.

Every load takes a ``Token`` (a sequence number) before it reads the source.
Each invalidation takes the next sequence number and notes it against its
scope; a value, stored or still loading, is valid only if its scope has not
changed since its token. ``clear`` advances the epoch, voiding every token.
The record of changes is bounded: scopes that fall out of it count as
changed at the newest forgotten sequence, which errs on the side of a miss.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from ability.metrics import CACHE_ENTRIES, CACHE_EVICTIONS, CACHE_LOOKUPS


@dataclass(frozen=True, slots=True)
class Token:
    epoch: int
    seq: int


@dataclass(slots=True)
class Entry:
    token: Token
    body: bytes
    expires_at: float


@dataclass
class LocalStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    invalidations: int = 0


class LocalCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.epoch = 0
        self._seq = 0
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._changed: OrderedDict[str, int] = OrderedDict()
        self._changed_capacity = max(1024, 4 * capacity)
        self._forgotten_seq = 0
        self.stats = LocalStats()

    def __len__(self) -> int:
        return len(self._entries)

    def token(self) -> Token:
        return Token(self.epoch, self._seq)

    def is_current(self, scope: str, token: Token) -> bool:
        """False once ``scope`` changed, or the cache was cleared, after ``token``."""
        if token.epoch != self.epoch:
            return False
        return self._changed.get(scope, self._forgotten_seq) <= token.seq

    def get(self, scope: str, variant: str) -> bytes | None:
        key = (scope, variant)
        entry = self._entries.get(key)
        if entry is None:
            self.stats.misses += 1
            CACHE_LOOKUPS.labels("l1", "miss").inc()
            return None
        if entry.expires_at <= time.monotonic() or not self.is_current(
            scope, entry.token
        ):
            del self._entries[key]
            self.stats.misses += 1
            CACHE_LOOKUPS.labels("l1", "miss").inc()
            CACHE_ENTRIES.labels("l1").dec()
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        CACHE_LOOKUPS.labels("l1", "hit").inc()
        return entry.body

    def put(
        self, scope: str, variant: str, token: Token, body: bytes, ttl: float
    ) -> bool:
        """Store unless the scope changed since ``token``; True if stored."""
        if self.capacity == 0 or not self.is_current(scope, token):
            return False
        key = (scope, variant)
        if key not in self._entries:
            CACHE_ENTRIES.labels("l1").inc()
        self._entries[key] = Entry(token, body, time.monotonic() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
            CACHE_EVICTIONS.labels("l1").inc()
            CACHE_ENTRIES.labels("l1").dec()
        return True

    def invalidate(self, scope: str) -> None:
        """Make every value of ``scope`` (stored or being loaded) stale."""
        self._seq += 1
        self._changed[scope] = self._seq
        self._changed.move_to_end(scope)
        while len(self._changed) > self._changed_capacity:
            _, seq = self._changed.popitem(last=False)
            self._forgotten_seq = max(self._forgotten_seq, seq)
        self.stats.invalidations += 1

    def clear(self) -> None:
        """Forget everything, including loads under way."""
        CACHE_ENTRIES.labels("l1").dec(len(self._entries))
        self._entries.clear()
        self._changed.clear()
        self.epoch += 1
