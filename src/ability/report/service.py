from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ability.models.application import OPEN_STATUSES, Status
from ability.report.repository import ReportRepository
from ability.report.schemas import (
    ApplicationStats,
    DayCount,
    StepTime,
    WorkflowAnalytics,
    WorkflowAnalyticsList,
)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class ReportService:
    async def application_stats(
        self, session: AsyncSession, company_id: int, start: date, end: date
    ) -> ApplicationStats:
        """Counts, per-day submissions and time to complete, both days inclusive."""
        repository = ReportRepository(session, company_id)
        low, high = _midnight(start), _midnight(end + timedelta(days=1))
        counts = await repository.count_by_status(low, high)
        by_status = {status.value: counts.get(status.value, 0) for status in Status}
        per_day = await repository.count_by_day(low, high)
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        median = await repository.median_seconds_to_complete(
            low, high, by_status[Status.COMPLETED.value]
        )
        return ApplicationStats(
            start_date=start,
            end_date=end,
            total=sum(by_status.values()),
            by_status=by_status,
            created_per_day=[
                DayCount(date=day, count=per_day.get(day.isoformat(), 0))
                for day in days
            ],
            median_seconds_to_complete=median,
        )

    async def workflow_analytics(
        self, session: AsyncSession, company_id: int
    ) -> WorkflowAnalyticsList:
        """Per workflow: volumes, outcomes and where applications wait longest."""
        repository = ReportRepository(session, company_id)
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        for workflow_id, status, count in await repository.count_by_workflow_status():
            counts[workflow_id][status] = count
        steps: dict[int, list[StepTime]] = defaultdict(list)
        for workflow_id, order, mean, n in await repository.step_times():
            steps[workflow_id].append(
                StepTime(step_order=order, mean_seconds=mean, decisions=n)
            )
        items = []
        for workflow_id, name in await repository.workflows():
            by_status = counts.get(workflow_id, {})
            total = sum(by_status.values())
            completed = by_status.get(Status.COMPLETED.value, 0)
            times = steps.get(workflow_id, [])
            slowest = max(times, key=lambda t: t.mean_seconds, default=None)
            items.append(
                WorkflowAnalytics(
                    workflow_id=workflow_id,
                    name=name,
                    applications=total,
                    completed=completed,
                    rejected=by_status.get(Status.REJECTED.value, 0),
                    open=sum(by_status.get(s.value, 0) for s in OPEN_STATUSES),
                    completion_rate=completed / total if total else 0.0,
                    mean_seconds_per_step=times,
                    bottleneck_step=slowest.step_order if slowest else None,
                )
            )
        return WorkflowAnalyticsList(items=items)


report_service = ReportService()
