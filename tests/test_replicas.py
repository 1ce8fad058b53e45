"""Two ``ability serve`` processes over one PostgreSQL and one Redis.

Whatever one replica acknowledged, the other serves on the very next read
(read-your-writes through both cache levels), and losing Redis costs hit
ratio, never a request.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._replicas import (
    WAIT,
    Company,
    Replica,
    background_readers,
    call,
    two_replicas,
)
from tests.backends import fresh_postgres_database
from tests.servers import PostgresServer, RedisServer, redis_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
log = structlog.get_logger()

OUTAGE = 2.5  # long enough for the replicas' reconnect backoff to grow
WRITES = ("create", "patch", "approve", "delete")
READS = ("one", "list", "stats")


@pytest.fixture(scope="module")
def pair(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    base = tmp_path_factory.mktemp("replicas")
    with (
        redis_server(tmp_path_factory.mktemp("replicas-redis")) as redis,
        two_replicas(base, fresh_postgres_database(postgres), redis.url) as replicas,
    ):
        yield replicas


def _urls(ids: list[int]) -> list[str]:
    return [
        *(f"/applications/{i}" for i in ids),
        "/applications?page_size=100",
        "/reports/applications/stats",
    ]


# --- read-your-writes ------------------------------------------------------------


def test_a_write_through_one_replica_is_read_through_the_other(
    pair: list[Replica],
) -> None:
    company = Company.create(pair)
    ids = [company.submit(pair[n % 2], f"Request {n}") for n in range(13)]
    plan = [
        (i, action) for i in ids for action in ("patch", "approve", "approve", "delete")
    ]

    with background_readers(pair, company.headers, _urls(ids)) as statuses:
        for n, (app_id, action) in enumerate(plan):
            writer, reader = pair[n % 2], pair[1 - n % 2]
            # Both replicas hold what is about to change, in L1 and L2.
            for replica in pair:
                company.check_one(replica, app_id)
                company.check_list(replica)
                company.check_stats(replica)

            company.write(writer, app_id, action)

            company.check_one(reader, app_id)
            company.check_list(reader)
            company.check_stats(reader)

    assert len(plan) == 52
    assert set(statuses) <= {200, 404}
    assert sum(statuses.values()) > len(plan)
    assert company.visible() == {}


steps = st.lists(
    st.tuples(st.sampled_from(READS + WRITES), st.integers(0, 1), st.integers(0, 3)),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25,
    deadline=None,
    database=None,
)
@given(steps=steps, with_readers=st.booleans())
def test_every_read_after_an_acknowledged_write_shows_it(
    pair: list[Replica], steps: list[tuple[str, int, int]], with_readers: bool
) -> None:
    company = Company.create(pair)
    ids = [company.submit(pair[n % 2], f"Request {n}") for n in range(3)]
    company.check_everything(pair)  # fill L1 of both replicas and L2

    with ExitStack() as stack:
        if with_readers:
            stack.enter_context(background_readers(pair, company.headers, _urls(ids)))
        for view, side, index in steps:
            replica = pair[side]
            app_id = ids[index % len(ids)]
            if view == "create":
                ids.append(company.submit(replica, f"Created on {replica.name}"))
            elif view in WRITES:
                company.write(replica, app_id, view)
            else:
                company.read(replica, view, app_id)

    company.check_everything(pair)


# --- Redis outage ------------------------------------------------------------------


@dataclass
class Story:
    """A user story run in a thread against both replicas until stopped:
    submits, edits, approvals, deletions and reads, each with the status
    the model predicts. Collects every unexpected answer."""

    pair: list[Replica]
    company: Company
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng = random.Random(20261204)
        for n in range(20_000):
            if self.stop.is_set():
                return
            replica = self.pair[n % 2]
            try:
                self._step(rng, replica)
            except Exception as exc:  # every failure is the finding
                self.failures.append(f"{replica.name}: {exc!r}")
            self.requests += 1
            time.sleep(0.002)

    def _step(self, rng: random.Random, replica: Replica) -> None:
        company = self.company
        live = [i for i, e in company.apps.items() if not e.deleted]
        choice = rng.random()
        if choice < 0.1 or len(live) < 5:
            company.submit(replica, f"Story {self.requests}")
        elif choice < 0.3:
            app_id = rng.choice(live)
            action = rng.choice(["patch", "approve", "approve", "delete"])
            company.write(replica, app_id, action)
        elif choice < 0.35:
            stale = {"If-Match": '"0"', **company.headers}
            url = f"/applications/{rng.choice(live)}"
            call(replica, stale, "PATCH", url, 409, json={"title": "Stale edit"})
        elif choice < 0.45:
            call(replica, company.headers, "GET", "/applications")
        elif choice < 0.5:
            call(replica, company.headers, "GET", "/reports/applications/stats")
        else:
            # Reads of a few hot applications: what the L1 hit ratio is made of.
            app_id = live[rng.randrange(min(5, len(live)))]
            call(replica, company.headers, "GET", f"/applications/{app_id}")


def _ready(replica: Replica) -> str:
    response = replica.http.get("/health/ready", timeout=5.0)
    assert response.status_code == 200, (replica.name, response.text)
    status: str = response.json()["status"]
    return status


def _l1(replica: Replica, headers: dict[str, str]) -> dict[str, Any]:
    stats = call(replica, headers, "GET", "/admin/cache/stats")
    level: dict[str, Any] = stats["l1"]
    return level


def _wait_for(condition: Callable[[], bool], what: str) -> float:
    """Seconds until ``condition`` holds; fails after WAIT seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > WAIT:
            pytest.fail(f"{what} not within {WAIT} s")
        time.sleep(0.05)
    return time.monotonic() - start


def test_redis_outage_fails_no_request_and_the_cache_recovers(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    (tmp_path / "redis").mkdir()
    with (
        redis_server(tmp_path / "redis") as redis,
        two_replicas(tmp_path, fresh_postgres_database(postgres), redis.url) as pair,
    ):
        company = Company.create(pair)
        for n in range(8):
            company.submit(pair[n % 2], f"Request {n}")
        story = Story(pair, company)
        thread = threading.Thread(target=story.run, daemon=True)
        thread.start()
        try:
            _wait_for(lambda: story.requests >= 100, "100 story requests")
            assert all(_ready(r) == "ok" for r in pair)
            assert all(_l1(r, company.headers)["hits"] > 0 for r in pair)

            figures = _kill_and_restart(redis, pair, story)
            served = story.requests
            _wait_for(lambda: story.requests >= served + 50, "50 more requests")
        finally:
            story.stop.set()
            thread.join(timeout=WAIT)

        assert not thread.is_alive()
        assert story.failures == []
        company.check_everything(pair)

    log.info("replicas.outage.measured", **figures)
    assert figures["recovered_s"] < 10.0


def _kill_and_restart(
    redis: RedisServer, pair: list[Replica], story: Story
) -> dict[str, float]:
    """SIGKILL Redis under load, serve a while without it, start it again;
    how long the replicas took to notice, to say "ok" and to hit L1 again."""
    headers = story.company.headers
    redis.kill()
    noticed = _wait_for(
        lambda: all(_ready(r) == "degraded" for r in pair), "degraded on both"
    )

    # Without Redis, L1 is dropped and left alone: reads go to the database.
    before = [_l1(r, headers) for r in pair]
    served, started = story.requests, time.monotonic()
    _wait_for(
        lambda: story.requests >= served + 50 and time.monotonic() > started + OUTAGE,
        "50 requests without Redis",
    )
    during = [_l1(r, headers) for r in pair]
    assert [s["hits"] for s in during] == [s["hits"] for s in before]
    assert [s["size"] for s in during] == [0, 0]

    redis.start()
    recovered = _wait_for(lambda: all(_ready(r) == "ok" for r in pair), "ok on both")
    restarted = [_l1(r, headers)["hits"] for r in pair]
    hits_back = _wait_for(
        lambda: all(
            _l1(r, headers)["hits"] > hits
            for r, hits in zip(pair, restarted, strict=True)
        ),
        "L1 hits on both replicas after the restart",
    )
    return {
        "degraded_after_s": round(noticed, 3),
        "recovered_s": round(recovered, 3),
        "l1_hits_again_after_s": round(hits_back, 3),
    }
