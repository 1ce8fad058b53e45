"""Workflow queries; every statement is scoped to one company."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ability.kit.pagination import PageRequest
from ability.models import Workflow, WorkflowStep
from ability.models.base import utcnow

_NEWEST_FIRST = (Workflow.created_at.desc(), Workflow.id.desc())


class WorkflowRepository:
    def __init__(self, session: AsyncSession, company_id: int) -> None:
        self.session = session
        self.company_id = company_id

    def _base(self) -> sa.Select[Workflow]:
        return sa.select(Workflow).where(Workflow.company_id == self.company_id)

    async def get_by_id(self, workflow_id: int) -> Workflow | None:
        result = await self.session.execute(
            self._base().where(Workflow.id == workflow_id)
        )
        return result.scalar_one_or_none()

    async def get_by_ids(self, workflow_ids: Sequence[int]) -> dict[int, Workflow]:
        result = await self.session.execute(
            self._base().where(Workflow.id.in_(workflow_ids))
        )
        return {workflow.id: workflow for workflow in result.scalars()}

    async def versions(self) -> dict[int, int]:
        """The current version of each of the company's workflows."""
        statement = sa.select(Workflow.id, Workflow.version).where(
            Workflow.company_id == self.company_id
        )
        return dict((await self.session.execute(statement)).all())

    async def steps(self, workflow_id: int, version: int) -> list[WorkflowStep]:
        result = await self.session.execute(
            sa.select(WorkflowStep)
            .where(
                WorkflowStep.company_id == self.company_id,
                WorkflowStep.workflow_id == workflow_id,
                WorkflowStep.version == version,
            )
            .order_by(WorkflowStep.step_order)
        )
        return list(result.scalars())

    async def steps_of(
        self, workflows: Sequence[Workflow]
    ) -> dict[int, list[WorkflowStep]]:
        """Current-version steps of several workflows in one query."""
        if not workflows:
            return {}
        pairs = [(w.id, w.version) for w in workflows]
        result = await self.session.execute(
            sa.select(WorkflowStep)
            .where(
                WorkflowStep.company_id == self.company_id,
                sa.tuple_(WorkflowStep.workflow_id, WorkflowStep.version).in_(pairs),
            )
            .order_by(WorkflowStep.workflow_id, WorkflowStep.step_order)
        )
        grouped: dict[int, list[WorkflowStep]] = {w.id: [] for w in workflows}
        for step in result.scalars():
            grouped[step.workflow_id].append(step)
        return grouped

    async def count(self, workflow_type: str | None) -> int:
        statement = sa.select(sa.func.count()).where(
            Workflow.company_id == self.company_id
        )
        if workflow_type is not None:
            statement = statement.where(Workflow.workflow_type == workflow_type)
        return int((await self.session.execute(statement)).scalar_one())

    async def create(self, values: dict[str, Any]) -> Workflow:
        now = utcnow()
        workflow = Workflow(
            company_id=self.company_id,
            version=1,
            created_at=now,
            updated_at=now,
            **values,
        )
        self.session.add(workflow)
        await self.session.flush()
        return workflow

    async def add_steps(
        self, workflow: Workflow, steps: Sequence[dict[str, Any]]
    ) -> list[WorkflowStep]:
        rows = [
            WorkflowStep(
                workflow_id=workflow.id,
                version=workflow.version,
                company_id=self.company_id,
                **step,
            )
            for step in steps
        ]
        self.session.add_all(rows)
        await self.session.flush()
        return rows

    async def list(
        self, page: PageRequest, workflow_type: str | None
    ) -> list[Workflow]:
        statement = self._base()
        if workflow_type is not None:
            statement = statement.where(Workflow.workflow_type == workflow_type)
        if page.after is not None:
            statement = statement.where(
                sa.tuple_(Workflow.created_at, Workflow.id)
                < (page.after.created_at, page.after.id)
            )
        statement = (
            statement.order_by(*_NEWEST_FIRST)
            .offset(page.offset)
            .limit(page.page_size + 1)
        )
        return list((await self.session.execute(statement)).scalars())
