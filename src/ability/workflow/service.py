from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ability.auth.roles import Role
from ability.cache import scopes
from ability.cache.service import Cache
from ability.db import changed
from ability.errors import NotFoundError
from ability.kit.lru import LRU
from ability.kit.pagination import Keyset, Page, PageRequest, build_page
from ability.models import Workflow as WorkflowRow
from ability.models import WorkflowStep
from ability.models.base import utcnow
from ability.workflow.repository import WorkflowRepository
from ability.workflow.schemas import StepOut, Workflow, WorkflowWrite

log = structlog.get_logger()


class WorkflowNotFoundError(NotFoundError):
    pass


def to_schema(workflow: WorkflowRow, steps: list[WorkflowStep]) -> Workflow:
    return Workflow(
        id=workflow.id,
        company_id=workflow.company_id,
        name=workflow.name,
        workflow_type=workflow.workflow_type,
        description=workflow.description,
        version=workflow.version,
        created_at=workflow.created_at,
        updated_at=workflow.updated_at,
        steps=[
            StepOut(
                name=step.name,
                order=step.step_order,
                required_role=Role(step.required_role),
                approvals_required=step.approvals_required,
                allow_self_approval=step.allow_self_approval,
                due_seconds=step.due_seconds,
            )
            for step in steps
        ],
    )


def _step_values(body: WorkflowWrite) -> list[dict[str, object]]:
    return [
        {
            "step_order": step.order,
            "name": step.name,
            "required_role": str(step.required_role),
            "approvals_required": step.approvals_required,
            "allow_self_approval": step.allow_self_approval,
            "due_seconds": step.due_seconds,
        }
        for step in body.steps
    ]


class WorkflowService:
    async def create(
        self, session: AsyncSession, company_id: int, body: WorkflowWrite
    ) -> Workflow:
        """Create a workflow at version 1."""
        repository = WorkflowRepository(session, company_id)
        workflow = await repository.create(
            {
                "name": body.name,
                "workflow_type": body.workflow_type,
                "description": body.description,
            }
        )
        steps = await repository.add_steps(workflow, _step_values(body))
        changed(session, scopes.applications(company_id), scopes.analytics(company_id))
        log.info("workflow.create.done", workflow_id=workflow.id)
        return to_schema(workflow, steps)

    async def get(
        self, session: AsyncSession, company_id: int, workflow_id: int
    ) -> Workflow:
        """A workflow with the steps of its current version."""
        repository = WorkflowRepository(session, company_id)
        workflow = await repository.get_by_id(workflow_id)
        if workflow is None:
            raise WorkflowNotFoundError("Workflow not found")
        steps = await repository.steps(workflow.id, workflow.version)
        return to_schema(workflow, steps)

    async def get_json(
        self, session: AsyncSession, cache: Cache, company_id: int, workflow_id: int
    ) -> bytes:
        """One workflow as JSON, through the cache."""

        async def load() -> Workflow | None:
            try:
                return await self.get(session, company_id, workflow_id)
            except WorkflowNotFoundError:
                return None

        scope = scopes.workflow(company_id, workflow_id)
        body = await cache.get_or_load_json(scope, "", load)
        if body is None:
            raise WorkflowNotFoundError("Workflow not found")
        return body

    async def replace(
        self,
        session: AsyncSession,
        company_id: int,
        workflow_id: int,
        body: WorkflowWrite,
    ) -> Workflow:
        """Save a new version; applications keep the version they started on."""
        repository = WorkflowRepository(session, company_id)
        workflow = await repository.get_by_id(workflow_id)
        if workflow is None:
            raise WorkflowNotFoundError("Workflow not found")
        workflow.name = body.name
        workflow.workflow_type = body.workflow_type
        workflow.description = body.description
        workflow.version += 1
        workflow.updated_at = utcnow()
        steps = await repository.add_steps(workflow, _step_values(body))
        changed(
            session,
            scopes.workflow(company_id, workflow.id),
            scopes.applications(company_id),
            scopes.analytics(company_id),
        )
        log.info(
            "workflow.version.created",
            workflow_id=workflow.id,
            version=workflow.version,
        )
        return to_schema(workflow, steps)

    async def list(
        self,
        session: AsyncSession,
        company_id: int,
        page: PageRequest,
        workflow_type: str | None,
    ) -> Page[Workflow]:
        """Workflows of a company, newest first."""
        repository = WorkflowRepository(session, company_id)
        rows = await repository.list(page, workflow_type)
        steps = await repository.steps_of(rows)
        total = await repository.count(workflow_type) if page.with_total else None
        return build_page(
            [to_schema(row, steps[row.id]) for row in rows],
            page,
            lambda w: Keyset(w.created_at, w.id),
            total,
        )


workflow_service = WorkflowService()


# A workflow version's steps never change, so they can be kept without expiry.
@dataclass(frozen=True, slots=True)
class StepRule:
    """A step as the state machine needs it: plain data, safe to share."""

    step_order: int
    name: str
    required_role: str
    approvals_required: int
    allow_self_approval: bool
    due_seconds: int | None


_version_steps: LRU[tuple[int, int, int], list[StepRule]] = LRU(4096)


async def steps_of_version(
    session: AsyncSession, company_id: int, workflow_id: int, version: int
) -> list[StepRule]:
    """The steps of one workflow version, from memory after the first read."""
    key = (company_id, workflow_id, version)
    steps = _version_steps.get(key)
    if steps is None:
        repository = WorkflowRepository(session, company_id)
        rows = await repository.steps(workflow_id, version)
        if not rows:
            raise WorkflowNotFoundError("Workflow not found")
        steps = [
            StepRule(
                step_order=row.step_order,
                name=row.name,
                required_role=row.required_role,
                approvals_required=row.approvals_required,
                allow_self_approval=row.allow_self_approval,
                due_seconds=row.due_seconds,
            )
            for row in rows
        ]
        _version_steps.put(key, steps)
    return steps
