from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ability.job.schemas import JobStatus
from ability.models import Job, JobItem


class JobRepository:
    """Jobs of one company (``company_id``), or of all for the runner (None)."""

    def __init__(self, session: AsyncSession, company_id: int | None) -> None:
        self.session = session
        self.company_id = company_id

    async def create(self, values: dict[str, Any]) -> Job:
        job = Job(company_id=self.company_id, status=JobStatus.QUEUED, **values)
        self.session.add(job)
        await self.session.flush()
        return job

    async def lock(self, job_id: int) -> Job | None:
        """The job, locked for this transaction (SQLite: the write lock)."""
        statement = sa.select(Job).where(Job.id == job_id).with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_by_id(self, job_id: int) -> Job | None:
        statement = sa.select(Job).where(Job.id == job_id)
        if self.company_id is not None:
            statement = statement.where(Job.company_id == self.company_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def outcome_counts(self, job_id: int) -> tuple[int, int]:
        """(succeeded, failed) items so far."""
        statement = (
            sa.select(JobItem.succeeded, sa.func.count())
            .where(JobItem.job_id == job_id)
            .group_by(JobItem.succeeded)
        )
        counts = dict((await self.session.execute(statement)).all())
        return counts.get(True, 0), counts.get(False, 0)

    async def errors(self, job_id: int, limit: int = 1000) -> list[JobItem]:
        statement = (
            sa.select(JobItem)
            .where(JobItem.job_id == job_id, JobItem.succeeded.is_(False))
            .order_by(JobItem.item_id)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    async def done_items(self, job_id: int, item_ids: Sequence[int]) -> set[int]:
        statement = sa.select(JobItem.item_id).where(
            JobItem.job_id == job_id, JobItem.item_id.in_(item_ids)
        )
        return set((await self.session.execute(statement)).scalars())

    async def record_item(
        self, job_id: int, item_id: int, succeeded: bool, detail: str | None
    ) -> None:
        self.session.add(
            JobItem(job_id=job_id, item_id=item_id, succeeded=succeeded, detail=detail)
        )
        await self.session.flush()

    async def set_state(
        self, job_id: int, expected: Sequence[str] | None, **values: Any
    ) -> bool:
        """Update a job, only from one of the ``expected`` statuses if given."""
        statement = sa.update(Job).where(Job.id == job_id).values(**values)
        if expected is not None:
            statement = statement.where(Job.status.in_(expected))
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def unfinished(
        self, stale_before: datetime, queued_before: datetime
    ) -> list[int]:
        """Jobs queued before ``queued_before`` (their message may be lost)
        and running ones whose runner stopped beating before ``stale_before``."""
        statement = sa.select(Job.id).where(
            sa.or_(
                sa.and_(Job.status == JobStatus.QUEUED, Job.created_at < queued_before),
                sa.and_(
                    Job.status == JobStatus.RUNNING,
                    sa.or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before),
                ),
            )
        )
        return list((await self.session.execute(statement.order_by(Job.id))).scalars())
