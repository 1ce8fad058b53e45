"""Scheduled clean-up: run hourly by the in-process runner or Celery beat."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import structlog

from ability.db import Database
from ability.models import IdempotencyKey, Job, JobItem
from ability.models.base import utcnow

log = structlog.get_logger()

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
FINISHED_JOB_TTL = timedelta(days=30)


async def expire_idempotency_keys(db: Database) -> int:
    """Forget idempotency keys older than a day; retries come sooner."""
    cutoff = utcnow() - IDEMPOTENCY_KEY_TTL
    async with db.session(write=True) as session:
        result = await session.execute(
            sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def purge_finished_jobs(db: Database) -> int:
    """Delete jobs (and their item ledgers) finished more than 30 days ago."""
    cutoff = utcnow() - FINISHED_JOB_TTL
    old = sa.select(Job.id).where(Job.finished_at < cutoff)
    async with db.session(write=True) as session:
        await session.execute(sa.delete(JobItem).where(JobItem.job_id.in_(old)))
        result = await session.execute(sa.delete(Job).where(Job.id.in_(old)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def run_all(db: Database) -> None:
    keys = await expire_idempotency_keys(db)
    jobs = await purge_finished_jobs(db)
    log.info("job.housekeeping.done", idempotency_keys=keys, jobs=jobs)
