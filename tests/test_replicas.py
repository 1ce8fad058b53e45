"""Two ``ability serve`` processes over one PostgreSQL and one Redis.

Whatever one replica acknowledged, the other serves on the very next read
(read-your-writes through both cache levels), and losing Redis costs hit
ratio, never a request.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._live import Server, running_server, server_environment
from tests.backends import fresh_postgres_database
from tests.servers import PostgresServer, RedisServer, redis_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
log = structlog.get_logger()

SECRET = "replica-test-secret-key-long-enough-for-hs256"
ADMIN_EMAIL = "root@replicas.example"
ADMIN_PASSWORD = "replicas-admin-password"
PASSWORD = "replica-user-password"
WAIT = 15.0
TWO_STEPS = {
    "name": "Purchase",
    "workflow_type": "purchase",
    "steps": [
        {"name": "Review", "order": 1, "required_role": "reviewer"},
        {"name": "Approve", "order": 2, "required_role": "approver"},
    ],
}
WRITES = ("create", "patch", "approve", "delete")
READS = ("one", "list", "stats")
_companies = itertools.count(1)


@dataclass
class Replica:
    name: str
    server: Server
    http: httpx.Client


@dataclass
class Expected:
    """What an application must read as, by the writes acknowledged so far."""

    title: str
    version: int = 1
    status: str = "pending"
    deleted: bool = False

    def row(self) -> tuple[str, int, str]:
        return (self.title, self.version, self.status)


def call(
    replica: Replica,
    headers: dict[str, str],
    method: str,
    url: str,
    status: int = 200,
    **kw: Any,
) -> Any:
    response = replica.http.request(method, url, headers=headers, **kw)
    assert response.status_code == status, (replica.name, method, url, response.text)
    return None if status == 204 else response.json()


def login(replica: Replica, email: str, password: str) -> dict[str, str]:
    body = {"email": email, "password": password}
    token = call(replica, {}, "POST", "/auth/login", json=body)["access_token"]
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Company:
    """A tenant of the pair, its admin, and the state its reads must show."""

    headers: dict[str, str]
    workflow_id: int
    apps: dict[int, Expected] = field(default_factory=dict)

    @classmethod
    def create(cls, pair: list[Replica]) -> Company:
        a, b = pair
        root = login(a, ADMIN_EMAIL, ADMIN_PASSWORD)
        n = next(_companies)
        body = {"name": f"Replicas {n}"}
        company = call(a, root, "POST", "/companies", 201, json=body)
        email = f"admin{n}@replicas.example"
        user = {
            "email": email,
            "password": PASSWORD,
            "roles": ["admin"],
            "company_id": company["id"],
        }
        call(a, root, "POST", "/users", 201, json=user)
        headers = login(b, email, PASSWORD)
        workflow = call(b, headers, "POST", "/workflows", 201, json=TWO_STEPS)
        return cls(headers, workflow["id"])

    def visible(self) -> dict[int, tuple[str, int, str]]:
        return {i: e.row() for i, e in self.apps.items() if not e.deleted}

    # --- writes -------------------------------------------------------------

    def submit(self, replica: Replica, title: str) -> int:
        body = {"title": title, "workflow_id": self.workflow_id}
        created = call(replica, self.headers, "POST", "/applications", 201, json=body)
        self.apps[created["id"]] = Expected(title)
        return int(created["id"])

    def expected_status(self, app_id: int, action: str) -> int:
        """The status code the model predicts for ``action`` on ``app_id``."""
        want = self.apps[app_id]
        if want.deleted:
            return 404
        if action == "patch" and want.status != "pending":
            return 409
        if action == "approve" and want.status == "completed":
            return 409
        return 204 if action == "delete" else 200

    def write(self, replica: Replica, app_id: int, action: str) -> None:
        """Apply ``action`` through ``replica``; the model follows on success."""
        want = self.apps[app_id]
        status = self.expected_status(app_id, action)
        url = f"/applications/{app_id}"
        if action == "patch":
            title = f"Edited {app_id} to v{want.version + 1}"
            body = call(
                replica, self.headers, "PATCH", url, status, json={"title": title}
            )
            if status == 200:
                assert body["version"] == want.version + 1
                want.title, want.version = title, body["version"]
        elif action == "approve":
            progress = {"action": "approve"}
            body = call(
                replica, self.headers, "POST", f"{url}/progress", status, json=progress
            )
            if status == 200:
                assert body["version"] == want.version + 1
                want.version, want.status = body["version"], body["status"]
        else:
            call(replica, self.headers, "DELETE", url, status)
            want.deleted = True

    # --- reads, each checked against the model -------------------------------

    def read(self, replica: Replica, view: str, app_id: int) -> None:
        if view == "one":
            self.check_one(replica, app_id)
        elif view == "list":
            self.check_list(replica)
        else:
            self.check_stats(replica)

    def check_one(self, replica: Replica, app_id: int) -> None:
        want = self.apps[app_id]
        url = f"/applications/{app_id}"
        if want.deleted:
            call(replica, self.headers, "GET", url, 404)
            return
        got = call(replica, self.headers, "GET", url)
        assert (got["title"], got["version"], got["status"]) == want.row(), (
            replica.name,
            app_id,
        )

    def check_list(self, replica: Replica) -> None:
        page = call(
            replica, self.headers, "GET", "/applications", params={"page_size": 100}
        )
        got = {a["id"]: (a["title"], a["version"], a["status"]) for a in page["items"]}
        assert got == self.visible(), replica.name

    def check_stats(self, replica: Replica) -> None:
        stats = call(replica, self.headers, "GET", "/reports/applications/stats")
        statuses = Counter(status for _, _, status in self.visible().values())
        assert stats["total"] == len(self.visible()), replica.name
        by_status = {k: v for k, v in stats["by_status"].items() if v}
        assert by_status == statuses, replica.name

    def check_everything(self, pair: list[Replica]) -> None:
        for replica in pair:
            for app_id in self.apps:
                self.check_one(replica, app_id)
            self.check_list(replica)
            self.check_stats(replica)


# --- servers -------------------------------------------------------------------


def _environment(database_url: str, redis_url: str) -> dict[str, str]:
    return server_environment(
        ABILITY_DATABASE_URL=database_url,
        ABILITY_REDIS_URL=redis_url,
        ABILITY_SECRET_KEY=SECRET,
        ABILITY_ADMIN_EMAIL=ADMIN_EMAIL,
        ABILITY_ADMIN_PASSWORD=ADMIN_PASSWORD,
        ABILITY_SEED_DEMO="false",
        ABILITY_CACHE_WARM_COMPANIES="0",
        ABILITY_JOB_RUNNER="inprocess",
        # A busy test machine may ack later than the default allows; the
        # property under test is that writes wait for the acks at all.
        ABILITY_CACHE_ACK_TIMEOUT="PT2S",
    )


@contextmanager
def two_replicas(
    base: Path, database_url: str, redis_url: str
) -> Iterator[list[Replica]]:
    """Replicas ``a`` and ``b`` on one database and one Redis, stopped at exit."""
    env = _environment(database_url, redis_url)
    with ExitStack() as stack:
        pair: list[Replica] = []
        for name in ("a", "b"):
            cwd = base / name
            cwd.mkdir()
            server = stack.enter_context(running_server(cwd, env))
            pair.append(Replica(name, server, stack.enter_context(server.client())))
        yield pair


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


@contextmanager
def background_readers(
    pair: list[Replica], headers: dict[str, str], urls: list[str]
) -> Iterator[Counter[int]]:
    """Threads that keep reading ``urls`` from both replicas, so that loads
    are in flight whenever a write lands; yields their status codes."""
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def read(replica: Replica) -> None:
        with replica.server.client() as http:
            for n in range(5_000):
                if stop.is_set():
                    return
                code = http.get(urls[n % len(urls)], headers=headers).status_code
                with lock:
                    statuses[code] += 1

    threads = [threading.Thread(target=read, args=(r,), daemon=True) for r in pair]
    for thread in threads:
        thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
    assert not any(thread.is_alive() for thread in threads)


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


def _l1_hits(replica: Replica, headers: dict[str, str]) -> int:
    stats = call(replica, headers, "GET", "/admin/cache/stats")
    hits: int = stats["l1"]["hits"]
    return hits


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

            outage = _kill_and_restart(redis, pair, story)
            restarted = [_l1_hits(r, company.headers) for r in pair]
            hits_back = _wait_for(
                lambda: all(
                    _l1_hits(r, company.headers) > before
                    for r, before in zip(pair, restarted, strict=True)
                ),
                "L1 hits on both replicas after the restart",
            )
            served = story.requests
            _wait_for(lambda: story.requests >= served + 50, "50 more requests")
        finally:
            story.stop.set()
            thread.join(timeout=WAIT)

        assert not thread.is_alive()
        assert story.failures == []
        company.check_everything(pair)

    figures = {**outage, "l1_hits_back_s": hits_back}
    log.info("replicas.outage.measured", **{k: round(v, 3) for k, v in figures.items()})
    assert outage["recovered_s"] < 10.0


def _kill_and_restart(
    redis: RedisServer, pair: list[Replica], story: Story
) -> dict[str, float]:
    """SIGKILL Redis under load, serve a while without it, start it again;
    how long the replicas took to notice and to recover."""
    redis.kill()
    noticed = _wait_for(
        lambda: all(_ready(r) == "degraded" for r in pair), "degraded on both"
    )
    served = story.requests
    _wait_for(lambda: story.requests >= served + 50, "50 requests without Redis")

    redis.start()
    recovered = _wait_for(lambda: all(_ready(r) == "ok" for r in pair), "ok on both")
    return {"degraded_after_s": noticed, "recovered_s": recovered}
