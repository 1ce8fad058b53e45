"""The application state machine, as a pure function.

``decide`` takes the application as read, the step it waits on and who is
acting, and returns what must change: the caller writes it under a version
guard, so a decision made on a stale read never lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ability.application.schemas import Action
from ability.auth.roles import Role
from ability.auth.tokens import Principal
from ability.errors import ConflictError, ForbiddenError
from ability.models.application import FINAL_STATUSES, Status
from ability.workflow.service import StepRule


class ApplicationStateError(ConflictError):
    pass


class StepRoleError(ForbiddenError):
    pass


@dataclass(frozen=True, slots=True)
class Transition:
    changes: dict[str, Any]
    event: dict[str, Any] = field(default_factory=dict)


def _acting_role(principal: Principal, required: str) -> str:
    if Role(required) in principal.roles:
        return required
    if principal.has_any():
        return Role.ADMIN.value
    raise StepRoleError(f"This step needs the {required} role")


def decide(
    app: Any,
    steps: list[StepRule],
    principal: Principal,
    action: Action,
    comment: str | None,
    approvers: set[int],
    now: datetime,
) -> Transition:
    """What ``action`` by ``principal`` does to ``app`` (raises if refused)."""
    if app["status"] in FINAL_STATUSES:
        raise ApplicationStateError(f"The application is {app['status']}")
    step = next(s for s in steps if s.step_order == app["current_step"])
    event = {
        "application_id": app["id"],
        "workflow_id": app["workflow_id"],
        "workflow_version": app["workflow_version"],
        "step_order": step.step_order,
        "step_name": step.name,
        "action": action.value,
        "comment": comment,
        "actor_id": principal.user_id,
        "actor_role": None,
        "created_at": now,
    }
    changes: dict[str, Any] = {"updated_at": now}

    if action is Action.COMMENT:
        return Transition(changes, event)

    if action is Action.CANCEL:
        if app["created_by"] != principal.user_id and not principal.has_any():
            raise ForbiddenError("Only the submitter or an admin may cancel")
        event["actor_role"] = None if not principal.has_any() else Role.ADMIN.value
        changes.update(status=Status.CANCELLED.value, current_step=None)
        return Transition(changes, event)

    event["actor_role"] = _acting_role(principal, step.required_role)
    if action is Action.REJECT:
        changes.update(status=Status.REJECTED.value, current_step=None)
        return Transition(changes, event)

    if not step.allow_self_approval and app["created_by"] == principal.user_id:
        raise ForbiddenError("The submitter may not approve this step")
    if principal.user_id in approvers:
        raise ApplicationStateError("You have already approved this step")
    if len(approvers) + 1 < step.approvals_required:
        return Transition(changes, event)  # quorum not reached yet
    if step.step_order == steps[-1].step_order:
        changes.update(
            status=Status.COMPLETED.value, current_step=None, completed_at=now
        )
    else:
        changes.update(
            status=Status.IN_PROGRESS.value, current_step=step.step_order + 1
        )
    return Transition(changes, event)
