"""What a job does, one chunk at a time: the same code on every runner.

A step locks the job row, applies the action to the next chunk of items not
yet in ``job_items`` and commits the effects, their ``job_items`` rows and the
job's progress together. So however often a step is delivered — after a
crash, a redelivery or a retry — every item takes effect exactly once, and
two deliveries of one job never work on it at the same time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.schemas import Action, ApplicationCreate, Progress
from ability.application.service import application_service
from ability.auth.service import principal_of
from ability.auth.tokens import Principal
from ability.db import Database
from ability.errors import AbilityError
from ability.job.repository import JobRepository
from ability.job.schemas import JobKind, JobStatus
from ability.metrics import JOB_ITEMS, JOBS_FINISHED
from ability.models import Job, User
from ability.models.base import utcnow

log = structlog.get_logger()

FINAL = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)


def final_status(succeeded: int, failed: int) -> JobStatus:
    if failed == 0:
        return JobStatus.SUCCEEDED
    return JobStatus.FAILED if succeeded == 0 else JobStatus.PARTIAL


@dataclass(frozen=True, slots=True)
class StepResult:
    more: bool
    processed: int
    company_id: int | None = None


def _progress_of(job: Job) -> Progress:
    payload = job.payload
    return Progress(action=Action(payload["action"]), comment=payload.get("comment"))


async def run_step(db: Database, job_id: int, chunk_size: int) -> StepResult:
    """Process the job's next chunk; ``more`` says whether another is due."""
    async with db.session(write=True) as session:
        repository = JobRepository(session, None)
        job = await repository.lock(job_id)
        if job is None or job.status in FINAL:
            return StepResult(more=False, processed=0)
        structlog.contextvars.bind_contextvars(
            job_id=job_id, company_id=job.company_id, request_id=job.request_id
        )
        user = await session.get(User, job.created_by)
        if user is None:  # the submitter is gone: nobody may act for them
            return StepResult(more=False, processed=0)
        principal = principal_of(user)
        now = utcnow()
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
            job.started_at = now
        job.heartbeat_at = now
        items = _items(job)
        done = await repository.done_items(job_id, items)
        remaining = [i for i in items if i not in done]
        chunk = remaining[:chunk_size]
        await _apply(session, repository, job_id, principal, _action(job), chunk)
        more = len(remaining) > len(chunk)
        if not more:
            succeeded, failed = await repository.outcome_counts(job_id)
            job.status = final_status(succeeded, failed)
            job.finished_at = utcnow()
            JOBS_FINISHED.labels(job.status).inc()
            log.info("job.run.done", status=job.status, failed=failed)
        return StepResult(more=more, processed=len(chunk), company_id=job.company_id)


def _items(job: Job) -> list[int]:
    """Item ids: the applications to act on, or an import's line numbers."""
    if job.kind == JobKind.IMPORT:
        return list(range(1, len(job.payload["applications"]) + 1))
    return list(job.payload["application_ids"])


ItemAction = Callable[[AsyncSession, Principal, int], Awaitable[object]]


def _action(job: Job) -> ItemAction:
    """What the job does to one item."""
    if job.kind == JobKind.IMPORT:
        lines = job.payload["applications"]

        async def create(session: AsyncSession, who: Principal, item: int) -> object:
            body = ApplicationCreate.model_validate(lines[item - 1])
            return await application_service.create(session, who, body)

        return create
    progress, job_id = _progress_of(job), job.id

    async def act(session: AsyncSession, who: Principal, item: int) -> object:
        return await application_service.progress(
            session, who, item, progress, job_id=job_id
        )

    return act


async def _apply(
    session: AsyncSession,
    repository: JobRepository,
    job_id: int,
    principal: Principal,
    action: ItemAction,
    chunk: list[int],
) -> None:
    for application_id in chunk:
        try:
            async with session.begin_nested():
                await action(session, principal, application_id)
                await repository.record_item(job_id, application_id, True, None)
            JOB_ITEMS.labels("succeeded").inc()
        except AbilityError as exc:
            # A refusal (wrong state, role, missing) is this item's outcome.
            await repository.record_item(job_id, application_id, False, exc.message)
            JOB_ITEMS.labels("failed").inc()


async def give_up(db: Database, job_id: int, detail: str) -> None:
    """After retries ran out: record every remaining item as failed."""
    async with db.session(write=True) as session:
        repository = JobRepository(session, None)
        job = await repository.lock(job_id)
        if job is None or job.status in FINAL:
            return
        ids = _items(job)
        done = await repository.done_items(job_id, ids)
        for application_id in ids:
            if application_id not in done:
                await repository.record_item(job_id, application_id, False, detail)
        succeeded, failed = await repository.outcome_counts(job_id)
        job.status = final_status(succeeded, failed)
        job.finished_at = utcnow()
    log.error("job.run.gave_up", job_id=job_id, detail=detail)
