from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.schemas import BatchProcess, ImportRequest
from ability.auth.dependencies import target_company
from ability.auth.tokens import Principal
from ability.db import after_commit
from ability.errors import ForbiddenError, NotFoundError
from ability.job.repository import JobRepository
from ability.job.runner import JobQueue
from ability.job.schemas import Job, JobAccepted, JobError, JobKind, JobStatus

log = structlog.get_logger()


class JobNotFoundError(NotFoundError):
    pass


class JobService:
    async def submit_batch(
        self,
        session: AsyncSession,
        queue: JobQueue,
        principal: Principal,
        body: BatchProcess,
        request_id: str | None,
    ) -> JobAccepted:
        """Record a batch job; it is queued once the transaction commits."""
        payload = body.model_dump(mode="json")
        return await self._submit(
            session,
            queue,
            principal,
            principal.company_id,
            JobKind.BATCH_PROCESS,
            len(body.application_ids),
            payload,
            request_id,
        )

    async def submit_import(
        self,
        session: AsyncSession,
        queue: JobQueue,
        principal: Principal,
        body: ImportRequest,
        request_id: str | None,
    ) -> JobAccepted:
        """Record an import job: each application is created by the job."""
        companies = {target_company(principal, a.company_id) for a in body.applications}
        if len(companies) != 1:
            raise ForbiddenError("All applications must belong to one company")
        payload = body.model_dump(mode="json")
        return await self._submit(
            session,
            queue,
            principal,
            companies.pop(),
            JobKind.IMPORT,
            len(body.applications),
            payload,
            request_id,
        )

    async def _submit(
        self,
        session: AsyncSession,
        queue: JobQueue,
        principal: Principal,
        company_id: int,
        kind: JobKind,
        total: int,
        payload: dict[str, object],
        request_id: str | None,
    ) -> JobAccepted:
        repository = JobRepository(session, company_id)
        job = await repository.create(
            {
                "kind": kind.value,
                "total": total,
                "payload": payload,
                "created_by": principal.user_id,
                "request_id": request_id,
            }
        )
        job_id = job.id

        async def enqueue() -> None:
            await queue.enqueue(job_id)

        after_commit(session, enqueue)
        log.info("job.submit.done", job_id=job_id, total=job.total)
        return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=job.total)

    async def get(
        self, session: AsyncSession, company_id: int | None, job_id: int
    ) -> Job:
        """A job with its progress counts and per-item errors.

        ``company_id`` None is the operator's view (CLI): any company's job.
        """
        repository = JobRepository(session, company_id)
        job = await repository.get_by_id(job_id)
        if job is None:
            raise JobNotFoundError("Job not found")
        succeeded, failed = await repository.outcome_counts(job_id)
        errors = await repository.errors(job_id)
        return Job(
            id=job.id,
            kind=job.kind,
            status=JobStatus(job.status),
            total=job.total,
            processed=succeeded + failed,
            succeeded=succeeded,
            failed=failed,
            errors=[
                JobError(application_id=e.item_id, detail=e.detail or "")
                for e in errors
            ],
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


job_service = JobService()
