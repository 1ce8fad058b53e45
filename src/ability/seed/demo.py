"""The demo company that ``ability serve`` creates on first start."""

from __future__ import annotations

import random

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.schemas import Action, ApplicationCreate, Progress
from ability.application.service import application_service
from ability.auth.roles import Role
from ability.auth.service import principal_of
from ability.auth.tokens import Principal
from ability.company.service import company_service
from ability.db import Database
from ability.models import Company, User
from ability.seed import vocabulary as words
from ability.user.repository import UserRepository
from ability.user.service import user_service
from ability.workflow.schemas import Step, StepOut, WorkflowWrite
from ability.workflow.service import workflow_service

log = structlog.get_logger()

DEMO_COMPANY = "Demo Company"
DEMO_PASSWORD = "demo-password"
DEMO_USERS = {
    "admin@demo.example": [Role.ADMIN],
    "reviewer@demo.example": [Role.REVIEWER],
    "approver@demo.example": [Role.APPROVER],
    "reporter@demo.example": [Role.REPORTER],
    "member@demo.example": [Role.MEMBER],
}


async def demo_exists(db: Database) -> bool:
    async with db.session(write=False) as session:
        first = next(iter(DEMO_USERS))
        return await UserRepository(session).get_by_email(first) is not None


async def is_empty(db: Database) -> bool:
    """No company yet: a database that was just created."""
    async with db.session(write=False) as session:
        found = await session.execute(sa.select(Company.id).limit(1))
        return found.first() is None


async def _users(session: AsyncSession, company_id: int) -> dict[str, Principal]:
    users: dict[str, User] = {}
    for email, roles in DEMO_USERS.items():
        users[email] = await user_service.create(
            session,
            email=email,
            password=DEMO_PASSWORD,
            roles=roles,
            company_id=company_id,
        )
    return {email.split("@")[0]: principal_of(u) for email, u in users.items()}


def _workflows() -> list[WorkflowWrite]:
    two_step = [
        Step(name="Review", order=1, required_role=Role.REVIEWER),
        Step(name="Approve", order=2, required_role=Role.APPROVER),
    ]
    return [
        WorkflowWrite(
            name="Purchase request", workflow_type="purchase", steps=two_step
        ),
        WorkflowWrite(
            name="Vendor onboarding",
            workflow_type="vendor",
            description="Due diligence before a new supplier is paid.",
            steps=[
                *two_step,
                Step(name="Sign-off", order=3, required_role=Role.ADMIN),
            ],
        ),
        WorkflowWrite(
            name="Expense claim",
            workflow_type="expense",
            steps=[Step(name="Approve", order=1, required_role=Role.APPROVER)],
        ),
    ]


async def create_demo(db: Database, applications: int = 40) -> None:
    """A company, one user per role, three workflows and some applications."""
    rng = random.Random(7)
    async with db.session(write=True) as session:
        company = await company_service.ensure(session, DEMO_COMPANY)
        people = await _users(session, company.id)
        flows = [
            await workflow_service.create(session, company.id, body)
            for body in _workflows()
        ]
        for n in range(applications):
            flow = flows[n % len(flows)]
            item, dept = rng.choice(words.ITEMS), rng.choice(words.DEPARTMENTS)
            created, _ = await application_service.create(
                session,
                people["member"],
                ApplicationCreate(
                    title=f"{rng.choice(words.VERBS)} of {item} for {dept}",
                    description=f"The {item} is {rng.choice(words.REASONS)}.",
                    workflow_id=flow.id,
                    metadata={"department": dept, "amount": rng.randint(50, 20000)},
                ),
            )
            await _advance(session, people, created.id, flow.steps, rng)
    log.info("seed.demo.done", company_id=company.id, applications=applications)


async def _advance(
    session: AsyncSession,
    people: dict[str, Principal],
    app_id: int,
    steps: list[StepOut],
    rng: random.Random,
) -> None:
    """Move a demo application some way along its workflow."""
    outcome = rng.random()
    if outcome < 0.3:
        return
    if outcome < 0.35:
        body = Progress(action=Action.CANCEL, comment="No longer needed")
        await application_service.progress(session, people["member"], app_id, body)
        return
    approvals = rng.randint(1, len(steps))
    for step in steps[:approvals]:
        actor = people.get(step.required_role.value, people["admin"])
        await application_service.progress(
            session, actor, app_id, Progress(action=Action.APPROVE)
        )
    if approvals < len(steps) and outcome > 0.8:
        body = Progress(action=Action.REJECT, comment="Budget exhausted")
        await application_service.progress(session, people["admin"], app_id, body)
