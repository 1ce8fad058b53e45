"""Typed helpers that put companies, users and workflows straight into a
test database, bypassing HTTP (and the cost of hashing real passwords)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

from ability.auth.passwords import hash_password_sync
from ability.auth.roles import Role
from ability.auth.service import principal_of
from ability.auth.tokens import Principal, issue_token
from ability.company.repository import CompanyRepository
from ability.config import Settings
from ability.db import Database
from ability.models import Application, ApplicationEvent, Status, User
from ability.user.repository import UserRepository
from ability.workflow.schemas import Step, WorkflowWrite
from ability.workflow.service import workflow_service

PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = hash_password_sync(PASSWORD)
_serial = itertools.count(1)


@dataclass
class Tenant:
    """A company with one user per role (and tokens for each)."""

    company_id: int
    name: str
    users: dict[str, Principal] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def create_user(
    db: Database,
    settings: Settings,
    tenant: Tenant,
    who: str,
    roles: list[Role],
    *,
    platform_admin: bool = False,
) -> Principal:
    email = f"{who}.{next(_serial)}@{tenant.name.lower().replace(' ', '-')}.test"
    async with db.session(write=True) as session:
        user = await UserRepository(session).create(
            User(
                company_id=tenant.company_id,
                email=email,
                password_hash=_PASSWORD_HASH,
                roles=[role.value for role in roles],
                is_platform_admin=platform_admin,
                is_active=True,
            )
        )
    principal = principal_of(user)
    tenant.users[who] = principal
    tenant.emails[who] = email
    tenant.tokens[who] = issue_token(principal, settings.secret_key, settings.TOKEN_TTL)
    return principal


async def create_tenant(db: Database, settings: Settings, name: str = "") -> Tenant:
    """A company with users admin, reviewer, approver, reporter and member."""
    name = name or f"Company {next(_serial)}"
    async with db.session(write=True) as session:
        company = await CompanyRepository(session).create(name)
    tenant = Tenant(company_id=company.id, name=name)
    for role in Role:
        await create_user(db, settings, tenant, role.value, [role])
    return tenant


def two_step_workflow(name: str = "Purchase") -> WorkflowWrite:
    return WorkflowWrite(
        name=name,
        workflow_type="purchase",
        steps=[
            Step(name="Review", order=1, required_role=Role.REVIEWER),
            Step(name="Approve", order=2, required_role=Role.APPROVER),
        ],
    )


async def create_workflow(
    db: Database, tenant: Tenant, body: WorkflowWrite | None = None
) -> int:
    async with db.session(write=True) as session:
        workflow = await workflow_service.create(
            session, tenant.company_id, body or two_step_workflow()
        )
    return workflow.id


def one_step_workflow(name: str = "Expense") -> WorkflowWrite:
    return WorkflowWrite(
        name=name,
        workflow_type="expense",
        steps=[Step(name="Approve", order=1, required_role=Role.APPROVER)],
    )


async def create_application(
    db: Database,
    tenant: Tenant,
    workflow_id: int,
    *,
    created_at: datetime,
    title: str = "Seeded application",
    status: Status = Status.PENDING,
    completed_at: datetime | None = None,
    who: str = "member",
) -> int:
    """An application with a chosen creation time (and outcome), at version 1
    of its workflow; adds no history."""
    final = status in (Status.COMPLETED, Status.REJECTED, Status.CANCELLED)
    async with db.session(write=True) as session:
        application = Application(
            company_id=tenant.company_id,
            workflow_id=workflow_id,
            workflow_version=1,
            title=title,
            description=None,
            status=status.value,
            current_step=None if final else 1,
            metadata_={},
            created_by=tenant.users[who].user_id,
            created_at=created_at,
            updated_at=completed_at or created_at,
            completed_at=completed_at,
            version=1,
            is_deleted=False,
        )
        session.add(application)
        await session.flush()
        return application.id


async def record_action(
    db: Database,
    tenant: Tenant,
    application_id: int,
    workflow_id: int,
    *,
    step_order: int,
    action: str,
    at: datetime,
    who: str = "admin",
) -> None:
    """A history row with a chosen time, as the service would write it."""
    async with db.session(write=True) as session:
        session.add(
            ApplicationEvent(
                company_id=tenant.company_id,
                application_id=application_id,
                workflow_id=workflow_id,
                workflow_version=1,
                step_order=step_order,
                step_name=f"Step {step_order}",
                action=action,
                actor_id=tenant.users[who].user_id,
                created_at=at,
            )
        )
