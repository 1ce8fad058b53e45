"""Two ``ability serve`` replicas on one database and one Redis, and a model
of what a company's applications must read as after each acknowledged write.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests._live import Server, running_server, server_environment

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
