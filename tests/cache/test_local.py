from __future__ import annotations

import time

from ability.cache.local import LocalCache

SCOPE = "c1:app:1"
OTHER = "c1:app:2"


class TestGet:
    def test_miss_then_hit_are_counted(self) -> None:
        cache = LocalCache(10)

        missed = cache.get(SCOPE, "")
        cache.put(SCOPE, "", cache.token(), b"body", 60)
        hit = cache.get(SCOPE, "")

        assert missed is None
        assert hit == b"body"
        assert (cache.stats.hits, cache.stats.misses) == (1, 1)

    def test_variants_of_a_scope_are_separate_entries(self) -> None:
        cache = LocalCache(10)
        token = cache.token()

        cache.put(SCOPE, "a", token, b"A", 60)
        cache.put(SCOPE, "b", token, b"B", 60)

        assert (cache.get(SCOPE, "a"), cache.get(SCOPE, "b")) == (b"A", b"B")
        assert len(cache) == 2


class TestTtl:
    def test_entry_expires_after_its_ttl(self) -> None:
        cache = LocalCache(10)
        cache.put(SCOPE, "", cache.token(), b"body", 0.05)
        assert cache.get(SCOPE, "") == b"body"

        time.sleep(0.08)

        assert cache.get(SCOPE, "") is None
        assert len(cache) == 0
        assert cache.stats.misses == 1

    def test_zero_ttl_is_never_served(self) -> None:
        cache = LocalCache(10)

        cache.put(SCOPE, "", cache.token(), b"body", 0)

        assert cache.get(SCOPE, "") is None


class TestEviction:
    def test_least_recently_used_entry_goes_first(self) -> None:
        cache = LocalCache(2)
        token = cache.token()
        cache.put(SCOPE, "a", token, b"A", 60)
        cache.put(SCOPE, "b", token, b"B", 60)
        cache.get(SCOPE, "a")

        cache.put(SCOPE, "c", token, b"C", 60)

        assert cache.get(SCOPE, "b") is None
        assert cache.get(SCOPE, "a") == b"A"
        assert cache.get(SCOPE, "c") == b"C"
        assert len(cache) == 2
        assert cache.stats.evictions == 1

    def test_size_never_exceeds_capacity(self) -> None:
        cache = LocalCache(5)

        for n in range(50):
            cache.put(f"c1:app:{n}", "", cache.token(), b"x", 60)

        assert len(cache) == 5
        assert cache.stats.evictions == 45

    def test_zero_capacity_stores_nothing(self) -> None:
        cache = LocalCache(0)

        stored = cache.put(SCOPE, "", cache.token(), b"body", 60)

        assert not stored
        assert cache.get(SCOPE, "") is None


class TestInvalidate:
    def test_drops_every_variant_of_the_scope_only(self) -> None:
        cache = LocalCache(10)
        token = cache.token()
        for scope, variant in ((SCOPE, "a"), (SCOPE, "b"), (OTHER, "a")):
            cache.put(scope, variant, token, b"x", 60)

        cache.invalidate(SCOPE)

        assert cache.get(SCOPE, "a") is None
        assert cache.get(SCOPE, "b") is None
        assert cache.get(OTHER, "a") == b"x"
        assert cache.stats.invalidations == 1

    def test_load_that_began_before_it_cannot_store(self) -> None:
        cache = LocalCache(10)
        token = cache.token()  # a slow reader starts

        cache.invalidate(SCOPE)  # a write commits meanwhile
        stored = cache.put(SCOPE, "", token, b"stale", 60)

        assert not stored
        assert cache.get(SCOPE, "") is None

    def test_load_that_began_after_it_stores(self) -> None:
        cache = LocalCache(10)
        cache.invalidate(SCOPE)
        token = cache.token()

        stored = cache.put(SCOPE, "", token, b"fresh", 60)

        assert stored
        assert cache.get(SCOPE, "") == b"fresh"

    def test_another_scope_does_not_block_a_load(self) -> None:
        cache = LocalCache(10)
        token = cache.token()

        cache.invalidate(OTHER)

        assert cache.put(SCOPE, "", token, b"body", 60)


class TestClear:
    def test_forgets_every_entry(self) -> None:
        cache = LocalCache(10)
        cache.put(SCOPE, "", cache.token(), b"body", 60)

        cache.clear()

        assert len(cache) == 0
        assert cache.get(SCOPE, "") is None

    def test_voids_loads_in_progress(self) -> None:
        cache = LocalCache(10)
        before = cache.token()

        cache.clear()

        assert not cache.put(SCOPE, "", before, b"stale", 60)
        assert cache.put(SCOPE, "", cache.token(), b"fresh", 60)


class TestChangeRecord:
    def test_stays_bounded_under_many_scopes(self) -> None:
        cache = LocalCache(10)
        limit = cache._changed_capacity

        for n in range(limit * 3):
            cache.invalidate(f"c1:app:{n}")

        assert len(cache._changed) == limit

    def test_forgotten_scope_still_refuses_an_older_load(self) -> None:
        cache = LocalCache(10)
        token = cache.token()
        cache.invalidate(SCOPE)

        # SCOPE falls out of the record, and so does everything else.
        for n in range(cache._changed_capacity + 1):
            cache.invalidate(f"c2:app:{n}")

        assert SCOPE not in cache._changed
        assert not cache.put(SCOPE, "", token, b"stale", 60)
        assert not cache.put("c3:never-changed", "", token, b"maybe", 60)
        assert cache.put(SCOPE, "", cache.token(), b"fresh", 60)
