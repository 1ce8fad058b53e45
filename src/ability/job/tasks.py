"""Job task functions: the same code runs in-process and on Celery workers.

Each item's effect and its ``job_items`` row commit together, and items
already in ``job_items`` are skipped, so a job that is run again after a
crash or a redelivery applies every item exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import structlog

from ability.application.schemas import Action, Progress
from ability.application.service import application_service
from ability.auth.service import principal_of
from ability.auth.tokens import Principal
from ability.db import Database
from ability.errors import AbilityError
from ability.job.repository import JobRepository
from ability.job.schemas import JobStatus
from ability.models import User
from ability.models.base import utcnow

log = structlog.get_logger()

HEARTBEAT_STALE = timedelta(seconds=60)


def final_status(succeeded: int, failed: int) -> JobStatus:
    if failed == 0:
        return JobStatus.SUCCEEDED
    return JobStatus.FAILED if succeeded == 0 else JobStatus.PARTIAL


async def _claim(
    db: Database, job_id: int, retry: bool
) -> tuple[dict[str, object], Principal] | None:
    async with db.session(write=True) as session:
        repository = JobRepository(session, None)
        now = utcnow()
        stale_before = now if retry else now - HEARTBEAT_STALE
        if not await repository.claim(job_id, now, stale_before):
            return None
        job = await repository.get_by_id(job_id)
        user = await session.get(User, job.created_by) if job else None
        if job is None or user is None:
            return None
        return dict(job.payload), principal_of(user)


async def _process_chunk(
    db: Database,
    job_id: int,
    principal: Principal,
    body: Progress,
    chunk: Sequence[int],
) -> None:
    async with db.session(write=True) as session:
        repository = JobRepository(session, None)
        done = await repository.done_items(job_id, chunk)
        for application_id in chunk:
            if application_id in done:
                continue
            try:
                async with session.begin_nested():
                    await application_service.progress(
                        session, principal, application_id, body, job_id=job_id
                    )
                    await repository.record_item(job_id, application_id, True, None)
            except AbilityError as exc:
                await repository.record_item(job_id, application_id, False, exc.message)
        await repository.set_state(job_id, None, heartbeat_at=utcnow())


async def finish(db: Database, job_id: int) -> JobStatus:
    async with db.session(write=True) as session:
        repository = JobRepository(session, None)
        succeeded, failed = await repository.outcome_counts(job_id)
        status = final_status(succeeded, failed)
        await repository.set_state(
            job_id, [JobStatus.RUNNING], status=status, finished_at=utcnow()
        )
    return status


async def run_batch(
    db: Database, job_id: int, chunk_size: int, *, retry: bool = False
) -> None:
    """Apply a batch job's action to each of its applications once.

    ``retry`` is set by a runner re-running a job it claimed itself.
    """
    claimed = await _claim(db, job_id, retry)
    if claimed is None:
        log.info("job.run.skipped", job_id=job_id, reason="not_claimable")
        return
    payload, principal = claimed
    structlog.contextvars.bind_contextvars(
        job_id=job_id, company_id=principal.company_id
    )
    body = Progress(
        action=Action(str(payload["action"])),
        comment=str(payload["comment"]) if payload.get("comment") else None,
    )
    ids: list[int] = list(payload["application_ids"])  # type: ignore[call-overload]
    for start in range(0, len(ids), chunk_size):
        await _process_chunk(
            db, job_id, principal, body, ids[start : start + chunk_size]
        )
    status = await finish(db, job_id)
    log.info("job.run.done", job_id=job_id, status=status.value)
