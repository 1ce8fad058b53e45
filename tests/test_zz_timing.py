from __future__ import annotations
import time
from collections import defaultdict
import pytest
from tests.test_replicas import Company, Replica, pair, background_readers, _urls  # noqa: F401

pytestmark = [pytest.mark.slow]

def test_timing(pair: list[Replica]) -> None:
    company = Company.create(pair)
    ids = [company.submit(pair[n % 2], f"Request {n}") for n in range(13)]
    times = defaultdict(list)
    def timed(name, fn, *args):
        t = time.perf_counter(); fn(*args); times[name].append(time.perf_counter() - t)
    for with_bg in (False, True):
        import contextlib
        ctx = background_readers(pair, company.headers, _urls(ids)) if with_bg else contextlib.nullcontext()
        with ctx:
            for n in range(12):
                app_id = ids[n]
                for r in pair:
                    timed(f"one{with_bg}", company.check_one, r, app_id)
                    timed(f"list{with_bg}", company.check_list, r)
                    timed(f"stats{with_bg}", company.check_stats, r)
                timed(f"patch{with_bg}", company.write, pair[n % 2], app_id, "patch")
    for k, v in times.items():
        v.sort()
        print(k, "n", len(v), "median ms", round(v[len(v)//2]*1000, 1), "max", round(v[-1]*1000, 1))
