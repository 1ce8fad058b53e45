from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.schemas import BatchProcess
from ability.auth.tokens import Principal
from ability.db import after_commit
from ability.errors import NotFoundError
from ability.job.repository import JobRepository
from ability.job.runner import JobQueue
from ability.job.schemas import Job, JobAccepted, JobError, JobStatus

log = structlog.get_logger()

BATCH_PROCESS = "batch_process"


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
        repository = JobRepository(session, principal.company_id)
        job = await repository.create(
            {
                "kind": BATCH_PROCESS,
                "total": len(body.application_ids),
                "payload": body.model_dump(mode="json"),
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
