from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from ability.auth.dependencies import AdminUser, ParticipantUser, target_company
from ability.dependencies import AppCache, ReadSession, WriteSession
from ability.errors import ForbiddenError, NotFoundError, error_responses
from ability.kit.pagination import Page, PageRequest, page_request
from ability.kit.responses import json_bytes
from ability.kit.schemas import IdPath, IdQuery
from ability.workflow.schemas import Workflow, WorkflowType, WorkflowWrite
from ability.workflow.service import workflow_service

router = APIRouter(prefix="/workflows", tags=["workflows"])


@router.post(
    "",
    status_code=201,
    response_model=Workflow,
    responses=error_responses(ForbiddenError),
)
async def create_workflow(
    body: WorkflowWrite, principal: AdminUser, session: WriteSession
) -> Workflow:
    """Create a workflow (company admins)."""
    company_id = target_company(principal, body.company_id)
    return await workflow_service.create(session, company_id, body)


@router.get(
    "", response_model=Page[Workflow], responses=error_responses(ForbiddenError)
)
async def list_workflows(
    principal: ParticipantUser,
    session: ReadSession,
    page: Annotated[PageRequest, Depends(page_request)],
    workflow_type: Annotated[WorkflowType | None, Query()] = None,
    company_id: IdQuery = None,
) -> Page[Workflow]:
    """Workflows of your company, newest first."""
    company = target_company(principal, company_id)
    return await workflow_service.list(session, company, page, workflow_type)


@router.get(
    "/{workflow_id}",
    response_model=Workflow,
    responses=error_responses(ForbiddenError, NotFoundError),
)
async def get_workflow(
    workflow_id: IdPath,
    principal: ParticipantUser,
    session: ReadSession,
    cache: AppCache,
) -> Response:
    """One workflow, with the steps of its current version."""
    company_id = principal.company_id
    body = await workflow_service.get_json(session, cache, company_id, workflow_id)
    return json_bytes(body)


@router.put(
    "/{workflow_id}",
    response_model=Workflow,
    responses=error_responses(ForbiddenError, NotFoundError),
)
async def replace_workflow(
    workflow_id: IdPath,
    body: WorkflowWrite,
    principal: AdminUser,
    session: WriteSession,
) -> Workflow:
    """Change a workflow by saving a new version of it."""
    company_id = target_company(principal, body.company_id)
    return await workflow_service.replace(session, company_id, workflow_id, body)
