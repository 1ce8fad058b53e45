"""Locust: tenants working through approvals, for a server seeded by
``ability seed`` on this machine.

    .venv/bin/locust -f load_tests/locustfile.py --headless \\
        --host http://127.0.0.1:8000 -u 20 -r 5 -t 60s

Staff of each company list, open, search and submit applications; reviewers
and approvers move submissions through a two-step workflow; admins
batch-approve, create workflows and users and read the admin views;
reporters read reports. Every user logs in with the seeded credentials.

Settings come from the environment:

- ``ABILITY_LOAD_COMPANIES``: seeded companies 1..N that take part (10)
- ``ABILITY_LOAD_TAG``, ``ABILITY_LOAD_PASSWORD``: the seeded logins
  (default: those ``ability seed`` creates)
- ``ABILITY_LOAD_P99_MS``: the run fails when the p99 of all requests is
  above this (1000)
- ``ABILITY_LOAD_MAX_FAIL_RATIO``: ... or when more requests fail (0)
- ``ABILITY_LOAD_MAX_SECONDS``, ``ABILITY_LOAD_MAX_USERS``: caps on the run
  time and users, applied even when the command line asks for more
  (120 s, 100 users)

Only loopback hosts are accepted.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import random
import uuid
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import gevent
from gevent.lock import Semaphore
from locust import HttpUser, between, events, task
from locust.env import Environment

from ability.seed.logins import SEED_PASSWORD, seed_tag, seeded_email

COMPANIES = int(os.environ.get("ABILITY_LOAD_COMPANIES", "10"))
TAG = os.environ.get("ABILITY_LOAD_TAG") or seed_tag()
PASSWORD = os.environ.get("ABILITY_LOAD_PASSWORD", SEED_PASSWORD)
P99_MS = float(os.environ.get("ABILITY_LOAD_P99_MS", "1000"))
MAX_FAIL_RATIO = float(os.environ.get("ABILITY_LOAD_MAX_FAIL_RATIO", "0"))
MAX_SECONDS = int(os.environ.get("ABILITY_LOAD_MAX_SECONDS", "120"))
MAX_USERS = int(os.environ.get("ABILITY_LOAD_MAX_USERS", "100"))
DEFAULT_HOST = "http://127.0.0.1:8000"
FLOW_ROLES = ["reviewer", "approver"]
LIST_QUERIES: list[dict[str, str | int]] = [{}, {"status": "active"}, {"page": 2}]
WORDS = ("laptop", "monitor", "finance", "travel", "printer", "audit", "legal")

_companies = itertools.cycle(range(1, COMPANIES + 1))
# (company, role) -> token: users of one company share their logins.
_tokens: dict[tuple[int, str], str] = {}
_login_locks: defaultdict[int, Semaphore] = defaultdict(Semaphore)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bounded_and_local(environment: Environment, **_: Any) -> None:
    """Refuse any host but loopback; cap users and run time."""
    hosts = [environment.host] if environment.host else []
    hosts += [user.host for user in environment.user_classes if user.host]
    if not hosts or not all(_is_loopback(host) for host in hosts):
        raise SystemExit(f"load tests run against loopback only, not {hosts}")
    # The clock of gevent's loop may still be that of before the imports;
    # the run-time limit is counted from it.
    gevent.get_hub().loop.update_now()
    options = environment.parsed_options
    if options is not None:
        if not options.run_time or options.run_time > MAX_SECONDS:
            options.run_time = MAX_SECONDS
        if options.num_users is None or options.num_users > MAX_USERS:
            options.num_users = min(options.num_users or 1, MAX_USERS)


def _thresholds(environment: Environment, **_: Any) -> None:
    """Fail the run on errors, or on a slow request type (logins excepted:
    password hashing is slow on purpose)."""
    stats = environment.stats
    slow = [
        entry.name
        for entry in stats.entries.values()
        if entry.name != "/auth/login"
        and (entry.get_response_time_percentile(0.99) or 0.0) > P99_MS
    ]
    if stats.total.fail_ratio > MAX_FAIL_RATIO or slow:
        logging.getLogger(__name__).error("thresholds missed: %s", slow or "errors")
        environment.process_exit_code = 1


# EventHook.add_listener carries no annotations.
events.init.add_listener(_bounded_and_local)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_thresholds)  # type: ignore[no-untyped-call]


class _Tenant(HttpUser):
    """A user acting for one seeded company, with its roles' tokens."""

    abstract = True
    host = os.environ.get("ABILITY_LOAD_HOST", DEFAULT_HOST)
    roles: tuple[str, ...] = ()

    def on_start(self) -> None:
        self.company = next(_companies)
        self.headers: dict[str, dict[str, str]] = {}
        with _login_locks[self.company]:
            for role in self.roles:
                self.headers[role] = {"Authorization": f"Bearer {self._token(role)}"}

    def _token(self, role: str) -> str:
        key = (self.company, role)
        if key not in _tokens:
            email = seeded_email(role, self.company, TAG)
            response = self.client.post(
                "/auth/login", json={"email": email, "password": PASSWORD}
            )
            response.raise_for_status()
            _tokens[key] = response.json()["access_token"]
        return _tokens[key]

    def _get(
        self,
        path: str,
        role: str,
        params: dict[str, str | int] | None = None,
        name: str | None = None,
    ) -> Any:
        response = self.client.get(
            path, params=params, headers=self.headers[role], name=name or path
        )
        return response.json() if response.ok else None


class Staff(_Tenant):
    """Members, reviewers, approvers and reporters of one company."""

    wait_time = between(0.2, 1.0)
    roles = ("member", "reviewer", "approver", "reporter", "admin")

    def on_start(self) -> None:
        super().on_start()
        self.ids: list[int] = []
        self.open_ids: list[int] = []
        self.workflow_id: int | None = None

    @task(3)
    def list_applications(self) -> None:
        params: dict[str, str | int] = random.choice(LIST_QUERIES)
        page = self._get("/applications", "member", params)
        if page:
            self.ids = [item["id"] for item in page["items"]] or self.ids

    @task(2)
    def search(self) -> None:
        self._get("/applications/search", "member", {"query": random.choice(WORDS)})

    @task(2)
    def open_one(self) -> None:
        if self.ids:
            path = f"/applications/{random.choice(self.ids)}"
            self._get(path, "member", name="/applications/{id}")

    @task(1)
    def submit_review_approve(self) -> None:
        workflow_id = self._flow_workflow()
        if workflow_id is None:
            return
        body = {"title": "Locust laptop request", "workflow_id": workflow_id}
        created = self.client.post(
            "/applications", json=body, headers=self.headers["member"]
        )
        if not created.ok:
            return
        path = f"/applications/{created.json()['id']}/progress"
        for role in FLOW_ROLES:
            self.client.post(
                path,
                json={"action": "approve"},
                headers=self.headers[role],
                name="/applications/{id}/progress",
            )

    @task(1)
    def batch_approve(self) -> None:
        if not self.open_ids:
            query: dict[str, str | int] = {"status": "active", "page_size": 50}
            page = self._get("/applications", "admin", query)
            self.open_ids = [item["id"] for item in page["items"]] if page else []
        ids, self.open_ids = self.open_ids[:5], self.open_ids[5:]
        if ids:
            self.client.post(
                "/applications/batch/process",
                json={"application_ids": ids, "action": "approve"},
                headers=self.headers["admin"],
            )

    @task(1)
    def reports(self) -> None:
        self._get("/reports/applications/stats", "reporter")
        self._get("/reports/workflows/analytics", "reporter")

    def _flow_workflow(self) -> int | None:
        """The company's review-then-approve workflow (seeded as "purchase")."""
        if self.workflow_id is None:
            page = self._get("/workflows", "admin", {"page_size": 100})
            for workflow in page["items"] if page else []:
                steps = sorted(workflow["steps"], key=lambda s: s["order"])
                if [s["required_role"] for s in steps] == FLOW_ROLES:
                    self.workflow_id = workflow["id"]
                    break
        return self.workflow_id


class CompanyAdmin(_Tenant):
    """An admin shaping the company: workflows, users, admin views."""

    fixed_count = 1  # one per run, whatever the number of users
    wait_time = between(1.0, 3.0)
    roles = ("admin",)

    @task(1)
    def create_workflow(self) -> None:
        body = {
            "name": f"Locust workflow {uuid.uuid4().hex[:8]}",
            "workflow_type": "locust",
            "steps": [
                {"name": role.title(), "order": n, "required_role": role}
                for n, role in enumerate(FLOW_ROLES, start=1)
            ],
        }
        self.client.post("/workflows", json=body, headers=self.headers["admin"])

    @task(1)
    def create_user(self) -> None:
        body = {
            "email": f"locust-{uuid.uuid4().hex[:12]}@c{self.company:04d}.example",
            "password": "locust-password",
            "roles": ["member"],
        }
        self.client.post("/users", json=body, headers=self.headers["admin"])

    @task(3)
    def admin_views(self) -> None:
        self._get("/workflows", "admin")
        self._get("/admin/metrics", "admin")
        self._get("/users/me", "admin")
