"""Report queries: aggregates computed by the database, never row by row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ability.application.repository import applications, events
from ability.kit.sql import epoch_seconds, utc_day
from ability.models import Workflow
from ability.models.application import NOT_DELETED_SQL, Status

_a = applications.c
_e = events.c


class ReportRepository:
    def __init__(self, session: AsyncSession, company_id: int) -> None:
        self.session = session
        self.company_id = company_id

    def _in_range(
        self, *columns: Any, start: datetime, end: datetime
    ) -> sa.Select[Any]:
        return sa.select(*columns).where(
            _a.company_id == self.company_id,
            sa.text(NOT_DELETED_SQL),
            _a.created_at >= start,
            _a.created_at < end,
        )

    async def count_by_status(self, start: datetime, end: datetime) -> dict[str, int]:
        statement = self._in_range(
            _a.status, sa.func.count(), start=start, end=end
        ).group_by(_a.status)
        return dict((await self.session.execute(statement)).all())

    async def count_by_day(self, start: datetime, end: datetime) -> dict[str, int]:
        day = utc_day(_a.created_at)
        statement = self._in_range(
            day.label("day"), sa.func.count(), start=start, end=end
        ).group_by(day)
        rows = (await self.session.execute(statement)).all()
        return {created.isoformat(): count for created, count in rows}

    async def median_seconds_to_complete(
        self, start: datetime, end: datetime, completed: int
    ) -> float | None:
        """The median by ordered offset: portable, and done in the database."""
        if completed == 0:
            return None
        duration = (
            epoch_seconds(_a.completed_at) - epoch_seconds(_a.created_at)
        ).label("seconds")
        middle = (
            self._in_range(duration, start=start, end=end)
            .where(_a.status == Status.COMPLETED.value)
            .order_by(duration)
            .offset((completed - 1) // 2)
            .limit(2 - completed % 2)
            .subquery()
        )
        statement = sa.select(sa.func.avg(middle.c.seconds))
        value = (await self.session.execute(statement)).scalar_one()
        return None if value is None else float(value)

    async def workflows(self) -> list[tuple[int, str]]:
        statement = (
            sa.select(Workflow.id, Workflow.name)
            .where(Workflow.company_id == self.company_id)
            .order_by(Workflow.id)
        )
        return list((await self.session.execute(statement)).all())

    async def count_by_workflow_status(self) -> list[tuple[int, str, int]]:
        statement = (
            sa.select(_a.workflow_id, _a.status, sa.func.count())
            .where(_a.company_id == self.company_id, sa.text(NOT_DELETED_SQL))
            .group_by(_a.workflow_id, _a.status)
        )
        return list((await self.session.execute(statement)).all())

    async def step_times(self) -> list[tuple[int, int, float, int]]:
        """(workflow, step, mean seconds, decisions) from the history.

        A decision's time is measured from the previous decision on the same
        application, or from its submission for the first.
        """
        decisions = (
            sa.select(
                _e.application_id,
                _e.workflow_id,
                _e.step_order,
                _e.created_at,
                sa.func.lag(_e.created_at)
                .over(partition_by=_e.application_id, order_by=_e.id)
                .label("previous_at"),
            )
            .where(
                _e.company_id == self.company_id,
                _e.action.in_(("approve", "reject")),
            )
            .subquery()
        )
        started = sa.func.coalesce(decisions.c.previous_at, _a.created_at)
        seconds = epoch_seconds(decisions.c.created_at) - epoch_seconds(started)
        statement = (
            sa.select(
                decisions.c.workflow_id,
                decisions.c.step_order,
                sa.func.avg(seconds),
                sa.func.count(),
            )
            .select_from(
                decisions.join(applications, _a.id == decisions.c.application_id)
            )
            .where(_a.company_id == self.company_id, sa.text(NOT_DELETED_SQL))
            .group_by(decisions.c.workflow_id, decisions.c.step_order)
            .order_by(decisions.c.workflow_id, decisions.c.step_order)
        )
        rows = (await self.session.execute(statement)).all()
        return [(w, s, float(m or 0.0), n) for w, s, m, n in rows]
