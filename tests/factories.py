"""Typed helpers that put companies, users and workflows straight into a
test database, bypassing HTTP (and the cost of hashing real passwords)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ability.auth.passwords import hash_password_sync
from ability.auth.roles import Role
from ability.auth.service import principal_of
from ability.auth.tokens import Principal, issue_token
from ability.company.repository import CompanyRepository
from ability.config import Settings
from ability.db import Database
from ability.models import User
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
