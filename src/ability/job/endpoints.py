from __future__ import annotations

from fastapi import APIRouter, Request

from ability.application.schemas import BatchProcess, ImportRequest
from ability.auth.dependencies import ParticipantUser
from ability.dependencies import ReadSession, WriteSession
from ability.errors import ForbiddenError, NotFoundError, error_responses
from ability.job.schemas import Job, JobAccepted
from ability.job.service import job_service
from ability.kit.schemas import IdPath

router = APIRouter(tags=["jobs"])


@router.post(
    "/applications/batch/process",
    status_code=202,
    response_model=JobAccepted,
    responses=error_responses(ForbiddenError),
)
async def batch_process(
    body: BatchProcess,
    principal: ParticipantUser,
    session: WriteSession,
    request: Request,
) -> JobAccepted:
    """Apply one action to up to 1,000 applications in the background."""
    return await job_service.submit_batch(
        session,
        request.app.state.jobs,
        principal,
        body,
        getattr(request.state, "request_id", None),
    )


@router.post(
    "/applications/import",
    status_code=202,
    response_model=JobAccepted,
    responses=error_responses(ForbiddenError),
)
async def import_applications(
    body: ImportRequest,
    principal: ParticipantUser,
    session: WriteSession,
    request: Request,
) -> JobAccepted:
    """Create up to 10,000 applications in the background, each on its own.

    Unlike ``/applications/bulk`` (all or nothing, at once), every item
    succeeds or fails by itself; ``/jobs/{job_id}`` lists the failures."""
    return await job_service.submit_import(
        session,
        request.app.state.jobs,
        principal,
        body,
        getattr(request.state, "request_id", None),
    )


@router.get(
    "/jobs/{job_id}",
    response_model=Job,
    responses=error_responses(ForbiddenError, NotFoundError),
)
async def get_job(
    job_id: IdPath, principal: ParticipantUser, session: ReadSession
) -> Job:
    """A background job's status, counts and per-item errors."""
    return await job_service.get(session, principal.company_id, job_id)
