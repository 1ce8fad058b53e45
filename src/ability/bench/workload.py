"""The work a tenant population sends: who does what, and how often.

Every operation picks a company at random and acts as the seeded user whose
role fits: members list, open, search and submit; reviewers and approvers
move submissions through the workflow; admins run small batch approvals and
read the admin views; reporters read reports. A share of bare
``/health/live`` requests is interleaved with the rest, so that every
endpoint can be compared with the cheapest route of the same server under
the same load.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from ability.bench.loadgen import Exchange, Operation
from ability.bench.results import BARE
from ability.seed import vocabulary
from ability.seed.logins import SEED_PASSWORD, seed_tag, seeded_email

ROLES = ("admin", "reviewer", "approver", "reporter", "member")
FLOW_ROLES = ["reviewer", "approver"]
BATCH_SIZE = 5
KNOWN_IDS = 500  # application ids remembered per company for reads
_LIST_QUERIES: tuple[dict[str, str | int], ...] = (
    {},
    {"status": "active"},
    {"status": "pending", "page_size": 50},
    {"page": 2},
    {"page": 5, "page_size": 10},
    {"sort": "created_at"},
    {"status": "completed", "page_size": 100},
)
_SEARCH_WORDS = tuple(
    word
    for phrase in vocabulary.ITEMS + vocabulary.DEPARTMENTS
    for word in phrase.split()
)


class SetupError(Exception):
    """The target cannot be benchmarked (no logins, no workflows...)."""


@dataclass(frozen=True)
class Logins:
    """How to log in as the seeded users (see ``ability seed``)."""

    tag: str = field(default_factory=seed_tag)
    password: str = SEED_PASSWORD

    def email(self, role: str, company: int) -> str:
        return seeded_email(role, company, self.tag)


@dataclass
class Tenant:
    """One seeded company as the benchmark sees it."""

    number: int
    company_id: int
    headers: dict[str, dict[str, str]]  # role -> Authorization header
    flow_workflow: int
    ids: list[int]
    open_ids: list[int]


async def _login(client: httpx.AsyncClient, email: str, password: str) -> str | None:
    response = await client.post(
        "/auth/login", json={"email": email, "password": password}
    )
    if response.status_code != 200:
        return None
    token: str = response.json()["access_token"]
    return token


async def _get_json(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> Any:
    response = await client.get(path, params=params, headers=headers)
    if response.status_code != 200:
        raise SetupError(f"GET {path} answered {response.status_code}")
    return response.json()


async def _flow_workflow(client: httpx.AsyncClient, admin: dict[str, str]) -> int:
    """A workflow reviewed by a reviewer then approved by an approver."""
    page = await _get_json(client, "/workflows", admin, page_size=100)
    for workflow in page["items"]:
        steps = sorted(workflow["steps"], key=lambda step: step["order"])
        if [step["required_role"] for step in steps] == FLOW_ROLES:
            workflow_id: int = workflow["id"]
            return workflow_id
    body = {
        "name": "Benchmark purchase",
        "workflow_type": "purchase",
        "steps": [
            {"name": role.title(), "order": n, "required_role": role}
            for n, role in enumerate(FLOW_ROLES, start=1)
        ],
    }
    response = await client.post("/workflows", json=body, headers=admin)
    if response.status_code != 201:
        raise SetupError(f"creating a workflow answered {response.status_code}")
    created: int = response.json()["id"]
    return created


async def _tenant(
    client: httpx.AsyncClient, logins: Logins, number: int
) -> Tenant | None:
    tokens = await asyncio.gather(
        *(_login(client, logins.email(r, number), logins.password) for r in ROLES)
    )
    if not all(tokens):
        return None
    headers = {
        role: {"Authorization": f"Bearer {token}"}
        for role, token in zip(ROLES, tokens, strict=True)
    }
    admin = headers["admin"]
    me = await _get_json(client, "/users/me", admin)
    recent = await _get_json(client, "/applications", admin, page_size=100)
    active = await _get_json(
        client, "/applications", admin, status="active", page_size=100
    )
    return Tenant(
        number=number,
        company_id=me["company_id"],
        headers=headers,
        flow_workflow=await _flow_workflow(client, admin),
        ids=[item["id"] for item in recent["items"]],
        open_ids=[item["id"] for item in active["items"]],
    )


async def prepare(
    client: httpx.AsyncClient, logins: Logins, companies: int, parallel: int = 4
) -> list[Tenant]:
    """Log in the users of seeded companies 1..``companies``; those that
    cannot log in are left out, and none at all is an error."""
    gate = asyncio.Semaphore(parallel)

    async def one(number: int) -> Tenant | None:
        async with gate:
            return await _tenant(client, logins, number)

    found = await asyncio.gather(*(one(n) for n in range(1, companies + 1)))
    tenants = [tenant for tenant in found if tenant is not None]
    if not tenants:
        raise SetupError(
            f"no seeded user could log in (tried {logins.email('admin', 1)}); "
            "seed the server with `ability seed` or pass --tag/--password"
        )
    return tenants


class Workload:
    """The operations of the mix, bound to a client and the tenants."""

    def __init__(
        self, client: httpx.AsyncClient, tenants: list[Tenant], seed: int = 1
    ) -> None:
        if not tenants:
            raise SetupError("a workload needs at least one tenant")
        self.client = client
        self.tenants = tenants
        self.rng = random.Random(seed)

    def operations(self) -> dict[str, Operation]:
        return {
            "list": Operation("list", "GET /applications", self.list_),
            "get": Operation("get", "GET /applications/{id}", self.get),
            "search": Operation("search", "GET /applications/search", self.search),
            "submit": Operation(
                "submit",
                "POST /applications",
                self.submit,
                whole="submit → review → approve",
            ),
            "batch": Operation("batch", "POST /applications/batch/process", self.batch),
            "report": Operation(
                "report", "GET /reports/applications/stats", self.report
            ),
            "admin": Operation("admin", "GET /admin/metrics", self.admin),
            "bare": Operation("bare", BARE, self.bare),
        }

    def _tenant(self) -> Tenant:
        return self.rng.choice(self.tenants)

    def _remember(self, tenant: Tenant, items: list[dict[str, Any]]) -> None:
        for item in items[:5]:
            if len(tenant.ids) < KNOWN_IDS:
                tenant.ids.append(item["id"])
            else:
                tenant.ids[self.rng.randrange(KNOWN_IDS)] = item["id"]

    async def list_(self, exchange: Exchange) -> None:
        tenant = self._tenant()
        params = self.rng.choice(_LIST_QUERIES)
        response = await exchange.call(
            "GET /applications",
            lambda: self.client.get(
                "/applications", params=params, headers=tenant.headers["member"]
            ),
        )
        self._remember(tenant, response.json()["items"])

    async def get(self, exchange: Exchange) -> None:
        tenant = self._tenant()
        if not tenant.ids:
            await self.list_(exchange)
            return
        path = f"/applications/{self.rng.choice(tenant.ids)}"
        await exchange.call(
            "GET /applications/{id}",
            lambda: self.client.get(path, headers=tenant.headers["member"]),
        )

    async def search(self, exchange: Exchange) -> None:
        tenant = self._tenant()
        params = {"query": self.rng.choice(_SEARCH_WORDS)}
        await exchange.call(
            "GET /applications/search",
            lambda: self.client.get(
                "/applications/search",
                params=params,
                headers=tenant.headers["member"],
            ),
        )

    async def submit(self, exchange: Exchange) -> None:
        """Submit, then review and approve the new application."""
        tenant = self._tenant()
        body = {
            "title": f"Benchmark {self.rng.choice(_SEARCH_WORDS)} request",
            "workflow_id": tenant.flow_workflow,
            "description": "Submitted by ability bench.",
            "metadata": {"amount": self.rng.randint(50, 5_000)},
        }
        created = await exchange.call(
            "POST /applications",
            lambda: self.client.post(
                "/applications", json=body, headers=tenant.headers["member"]
            ),
        )
        path = f"/applications/{created.json()['id']}/progress"
        for role in FLOW_ROLES:
            await exchange.call(
                "POST /applications/{id}/progress",
                partial(
                    self.client.post,
                    path,
                    json={"action": "approve"},
                    headers=tenant.headers[role],
                ),
            )

    async def batch(self, exchange: Exchange) -> None:
        """An admin batch-approves a few open applications (made if none)."""
        tenant = self._tenant()
        admin = tenant.headers["admin"]
        ids = tenant.open_ids[-BATCH_SIZE:]
        del tenant.open_ids[-BATCH_SIZE:]
        if not ids:
            ids = await self._bulk_create(exchange, tenant)
        body = {"application_ids": ids, "action": "approve"}
        await exchange.call(
            "POST /applications/batch/process",
            lambda: self.client.post(
                "/applications/batch/process", json=body, headers=admin
            ),
        )

    async def _bulk_create(self, exchange: Exchange, tenant: Tenant) -> list[int]:
        items = [
            {"title": f"Benchmark batch item {n}", "workflow_id": tenant.flow_workflow}
            for n in range(BATCH_SIZE)
        ]
        created = await exchange.call(
            "POST /applications/bulk",
            lambda: self.client.post(
                "/applications/bulk",
                json={"applications": items},
                headers=tenant.headers["member"],
            ),
        )
        ids: list[int] = created.json()["ids"]
        return ids

    async def report(self, exchange: Exchange) -> None:
        tenant = self._tenant()
        path = self.rng.choice(
            ("/reports/applications/stats", "/reports/workflows/analytics")
        )
        await exchange.call(
            f"GET {path}",
            lambda: self.client.get(path, headers=tenant.headers["reporter"]),
        )

    async def admin(self, exchange: Exchange) -> None:
        tenant = self._tenant()
        path = self.rng.choice(("/admin/metrics", "/workflows"))
        await exchange.call(
            f"GET {path}",
            lambda: self.client.get(path, headers=tenant.headers["admin"]),
        )

    async def bare(self, exchange: Exchange) -> None:
        await exchange.call(BARE, lambda: self.client.get("/health/live"))
