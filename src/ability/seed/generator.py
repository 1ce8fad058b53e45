"""A realistic dataset, fast: ``ability seed --companies N --applications M``.

Rows are built in Python and written with multi-row inserts in chunks, each
chunk its own transaction; history rows match each application's status.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ability.application.repository import applications, events
from ability.auth.passwords import hash_password_sync
from ability.auth.roles import Role
from ability.db import Database, analyze
from ability.kit.bulk import copy_rows, reserve_ids
from ability.models import Company, User, Workflow, WorkflowStep
from ability.models.application import Status
from ability.seed import vocabulary as words
from ability.seed.logins import DEFAULT_SEED, draw_tag, seeded_email
from ability.seed.logins import SEED_PASSWORD as SEED_PASSWORD  # re-exported

_ROLES = (Role.ADMIN, Role.REVIEWER, Role.APPROVER, Role.REPORTER, Role.MEMBER)
_WORKFLOWS = (
    ("Purchase request", "purchase", (Role.REVIEWER, Role.APPROVER)),
    ("Vendor onboarding", "vendor", (Role.REVIEWER, Role.APPROVER, Role.ADMIN)),
    ("Expense claim", "expense", (Role.APPROVER,)),
)
# Status mix of a mature tenant: most work finished, a steady open queue.
_STATUS_WEIGHTS = (
    (Status.PENDING, 25),
    (Status.IN_PROGRESS, 15),
    (Status.COMPLETED, 40),
    (Status.REJECTED, 15),
    (Status.CANCELLED, 5),
)

Progress = Callable[[int], None]


@dataclass
class Tenant:
    company_id: int
    users: dict[Role, int]
    workflows: Sequence[tuple[int, tuple[Role, ...]]]


async def _create_tenants(db: Database, count: int, tag: str) -> list[Tenant]:
    password_hash = hash_password_sync(SEED_PASSWORD)
    tenants = []
    async with db.session(write=True) as session:
        for n in range(count):
            company = Company(name=f"Company {n + 1:04d} {tag}")
            session.add(company)
            await session.flush()
            users = {
                role: User(
                    company_id=company.id,
                    email=seeded_email(role.value, n + 1, tag),
                    password_hash=password_hash,
                    roles=[role.value],
                    is_platform_admin=False,
                    is_active=True,
                )
                for role in _ROLES
            }
            session.add_all(users.values())
            flows: list[tuple[int, tuple[Role, ...]]] = []
            for name, kind, roles in _WORKFLOWS:
                workflow = Workflow(
                    company_id=company.id, name=name, workflow_type=kind
                )
                session.add(workflow)
                await session.flush()
                session.add_all(
                    WorkflowStep(
                        workflow_id=workflow.id,
                        version=1,
                        step_order=i + 1,
                        company_id=company.id,
                        name=role.value.title(),
                        required_role=role.value,
                    )
                    for i, role in enumerate(roles)
                )
                flows.append((workflow.id, roles))
            await session.flush()
            tenants.append(
                Tenant(company.id, {r: u.id for r, u in users.items()}, flows)
            )
    return tenants


class _Rows:
    """Builds application and history rows for one chunk."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.statuses = [status for status, _ in _STATUS_WEIGHTS]
        self.weights = [weight for _, weight in _STATUS_WEIGHTS]

    def application(
        self, tenant: Tenant, index: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng = self.rng
        workflow_id, roles = rng.choice(tenant.workflows)
        status = rng.choices(self.statuses, self.weights)[0]
        created = self.now - timedelta(seconds=rng.uniform(3600, 365 * 86400))
        item, dept = rng.choice(words.ITEMS), rng.choice(words.DEPARTMENTS)
        approved = {
            Status.PENDING: 0,
            Status.IN_PROGRESS: rng.randint(1, max(1, len(roles) - 1)),
            Status.COMPLETED: len(roles),
            Status.REJECTED: rng.randint(0, len(roles) - 1),
            Status.CANCELLED: 0,
        }[status]
        if status is Status.IN_PROGRESS and len(roles) == 1:
            status, approved = Status.PENDING, 0
        history, at = [], created
        for step in range(approved):
            at += timedelta(seconds=rng.uniform(600, 3 * 86400))
            history.append(
                self._event(
                    tenant, index, workflow_id, step + 1, roles[step], "approve", at
                )
            )
        if status in (Status.REJECTED, Status.CANCELLED):
            at += timedelta(seconds=rng.uniform(600, 2 * 86400))
            action = "reject" if status is Status.REJECTED else "cancel"
            role = roles[approved] if status is Status.REJECTED else Role.MEMBER
            history.append(
                self._event(tenant, index, workflow_id, approved + 1, role, action, at)
            )
        final = status in (Status.COMPLETED, Status.REJECTED, Status.CANCELLED)
        row = {
            "company_id": tenant.company_id,
            "workflow_id": workflow_id,
            "workflow_version": 1,
            "title": f"{rng.choice(words.VERBS)} of {item} for {dept}",
            "description": f"The {item} is {rng.choice(words.REASONS)}.",
            "status": status.value,
            "current_step": None if final else approved + 1,
            "metadata": {"department": dept, "amount": rng.randint(50, 50_000)},
            "created_by": tenant.users[Role.MEMBER],
            "created_at": created,
            "updated_at": at,
            "completed_at": at if status is Status.COMPLETED else None,
            "version": 1 + len(history),
            "is_deleted": False,
        }
        return row, history

    def _event(
        self,
        tenant: Tenant,
        index: int,
        workflow_id: int,
        step: int,
        role: Role,
        action: str,
        at: datetime,
    ) -> dict[str, Any]:
        return {
            "company_id": tenant.company_id,
            "application_id": index,
            "workflow_id": workflow_id,
            "workflow_version": 1,
            "step_order": step,
            "step_name": role.value.title(),
            "action": action,
            "comment": None,
            "actor_id": tenant.users[role],
            "actor_role": role.value,
            "job_id": None,
            "created_at": at,
        }


async def generate(
    db: Database,
    companies: int,
    total: int,
    progress: Progress | None = None,
    chunk_size: int = 5000,
    seed: int = DEFAULT_SEED,
) -> list[Tenant]:
    """Create ``companies`` tenants and ``total`` applications spread over them."""
    rng = random.Random(seed)
    tag = draw_tag(rng)
    tenants = await _create_tenants(db, companies, tag)
    rows = _Rows(rng, datetime.now(UTC))

    async def write(batch: list[dict[str, Any]], history: list[dict[str, Any]]) -> None:
        async with db.session(write=True) as session:
            ids = await reserve_ids(session, applications, len(batch))
            for row, app_id in zip(batch, ids, strict=True):
                row["id"] = app_id
            for event in history:
                event["application_id"] = batch[event["application_id"]]["id"]
            await copy_rows(session, applications, batch)
            await copy_rows(session, events, history)
        if progress is not None:
            progress(len(batch))

    # The next chunk is built while the database writes the previous one.
    pending: asyncio.Task[None] | None = None
    for offset in range(0, total, chunk_size):
        batch, history = [], []
        for n in range(min(chunk_size, total - offset)):
            tenant = tenants[(offset + n) % len(tenants)]
            # Events point at their row's index until ids are reserved.
            row, events_ = rows.application(tenant, n)
            batch.append(row)
            history.extend(events_)
        if pending is not None:
            await pending
        pending = asyncio.create_task(write(batch, history))
    if pending is not None:
        await pending
    await analyze(db)
    return tenants
