"""Every ORM model, imported here so metadata is complete for migrations."""

from ability.models.application import Application, ApplicationEvent, Status
from ability.models.base import Base
from ability.models.company import Company
from ability.models.idempotency import IdempotencyKey
from ability.models.job import Job, JobItem
from ability.models.user import User
from ability.models.workflow import Workflow, WorkflowStep

__all__ = [
    "Application",
    "ApplicationEvent",
    "Base",
    "Company",
    "IdempotencyKey",
    "Job",
    "JobItem",
    "Status",
    "User",
    "Workflow",
    "WorkflowStep",
]
