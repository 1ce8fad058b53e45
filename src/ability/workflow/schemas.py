from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from ability.auth.roles import Role
from ability.kit.schemas import Id, LongText, Name, NoNul, RequestModel, ResponseModel

MAX_STEPS = 20

WorkflowType = Annotated[str, StringConstraints(min_length=1, max_length=100), NoNul]


class Step(RequestModel):
    """One step. Beyond the contract's three fields, the optional rules are:

    - ``approvals_required``: approvals needed to pass the step (quorum);
    - ``allow_self_approval``: whether the submitter may approve it;
    - ``due_seconds``: how long the step may stay open (recorded for
      escalation).
    """

    name: Name
    order: int = Field(ge=1, le=MAX_STEPS)
    required_role: Role
    approvals_required: int = Field(default=1, ge=1, le=50)
    allow_self_approval: bool = True
    due_seconds: int | None = Field(default=None, ge=60, le=366 * 86400)


class WorkflowWrite(RequestModel):
    name: Name
    workflow_type: WorkflowType
    company_id: Id | None = None
    description: LongText | None = None
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _orders_are_one_to_n(self) -> WorkflowWrite:
        orders = sorted(step.order for step in self.steps)
        if orders != list(range(1, len(self.steps) + 1)):
            raise ValueError("step orders must be unique and run from 1 to n")
        self.steps.sort(key=lambda step: step.order)
        return self


class StepOut(ResponseModel):
    name: str
    order: int
    required_role: Role
    approvals_required: int
    allow_self_approval: bool
    due_seconds: int | None


class Workflow(ResponseModel):
    id: int
    company_id: int
    name: str
    workflow_type: str
    description: str | None
    version: int
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime
