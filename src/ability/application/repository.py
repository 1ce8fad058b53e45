"""Application queries, in SQLAlchemy Core on the hot paths.

Every statement starts from ``_scoped`` (one company, not deleted), whose
predicates repeat the partial indexes' own text so that both SQLite and
PostgreSQL can use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ability.kit.pagination import PageRequest
from ability.models import Application, ApplicationEvent
from ability.models.application import NOT_DELETED_SQL, OPEN_SQL, Status

applications: sa.Table = Application.__table__  # type: ignore[assignment]
events: sa.Table = ApplicationEvent.__table__  # type: ignore[assignment]
_c = applications.c
_OPEN = frozenset({Status.PENDING, Status.IN_PROGRESS})


@dataclass(frozen=True, slots=True)
class ListFilters:
    statuses: frozenset[Status] = frozenset()
    workflow_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    newest_first: bool = True

    def key(self) -> str:
        """A canonical text form, for cache keys."""
        return "|".join(
            (
                ",".join(sorted(status.value for status in self.statuses)),
                str(self.workflow_id),
                self.created_after.isoformat() if self.created_after else "",
                self.created_before.isoformat() if self.created_before else "",
                "desc" if self.newest_first else "asc",
            )
        )


def status_clause(
    statuses: frozenset[Status],
) -> sa.ColumnElement[bool] | sa.TextClause | None:
    if not statuses:
        return None
    if statuses == _OPEN:
        return sa.text(OPEN_SQL)  # the open-work partial index's predicate
    if len(statuses) == 1:
        return _c.status == next(iter(statuses)).value
    return _c.status.in_(sorted(s.value for s in statuses))


async def busiest_companies(session: AsyncSession, limit: int) -> list[int]:
    """Companies with the most open applications (for cache warming)."""
    statement = (
        sa.select(_c.company_id)
        .where(sa.text(OPEN_SQL), sa.text(NOT_DELETED_SQL))
        .group_by(_c.company_id)
        .order_by(sa.func.count().desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


def _order(columns: Any, newest_first: bool) -> list[sa.UnaryExpression[Any]]:
    """The list order over ``columns`` that have ``created_at`` and ``id``."""
    keys = (columns.created_at, columns.id)
    return [key.desc() if newest_first else key.asc() for key in keys]


class ApplicationRepository:
    def __init__(self, session: AsyncSession, company_id: int) -> None:
        self.session = session
        self.company_id = company_id

    def _scoped(self, *columns: Any) -> sa.Select[Any]:
        return (
            sa.select(*(columns or (applications,)))
            .select_from(applications)
            .where(_c.company_id == self.company_id, sa.text(NOT_DELETED_SQL))
        )

    def _filtered(self, filters: ListFilters, *columns: Any) -> sa.Select[Any]:
        statement = self._scoped(*columns)
        clause = status_clause(filters.statuses)
        if clause is not None:
            statement = statement.where(clause)
        if filters.workflow_id is not None:
            statement = statement.where(_c.workflow_id == filters.workflow_id)
        if filters.created_after is not None:
            statement = statement.where(_c.created_at >= filters.created_after)
        if filters.created_before is not None:
            statement = statement.where(_c.created_at <= filters.created_before)
        return statement

    async def get_by_id(self, application_id: int) -> RowMapping | None:
        result = await self.session.execute(
            self._scoped().where(_c.id == application_id)
        )
        row: RowMapping | None = result.mappings().one_or_none()
        return row

    async def count(self, filters: ListFilters) -> int:
        statement = self._filtered(filters, sa.func.count())
        return int((await self.session.execute(statement)).scalar_one())

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> list[RowMapping]:
        """Insert rows in one statement; returns them in the given order."""
        statement = sa.insert(applications).returning(
            applications, sort_by_parameter_order=True
        )
        result = await self.session.execute(statement, list(rows))
        return list(result.mappings())

    async def update(
        self, application_id: int, version: int, values: dict[str, Any]
    ) -> RowMapping | None:
        """Apply ``values`` if the row is still at ``version``; bumps it.

        Returns the new row, or None when another writer got there first.
        """
        statement = (
            sa.update(applications)
            .where(
                _c.id == application_id,
                _c.company_id == self.company_id,
                _c.version == version,
                sa.text(NOT_DELETED_SQL),
            )
            .values(**values, version=version + 1)
            .returning(applications)
        )
        row: RowMapping | None = (
            (await self.session.execute(statement)).mappings().one_or_none()
        )
        return row

    async def add_event(self, values: dict[str, Any]) -> None:
        await self.session.execute(
            sa.insert(events).values(company_id=self.company_id, **values)
        )

    async def history(self, application_id: int) -> list[RowMapping]:
        statement = (
            sa.select(events, events.c.created_at.label("at"))
            .where(
                events.c.company_id == self.company_id,
                events.c.application_id == application_id,
            )
            .order_by(events.c.id)
        )
        return list((await self.session.execute(statement)).mappings())

    async def approvers_of_step(
        self, application_id: int, workflow_version: int, step_order: int
    ) -> set[int]:
        """Who has approved this step so far (for quorum rules)."""
        statement = sa.select(events.c.actor_id).where(
            events.c.company_id == self.company_id,
            events.c.application_id == application_id,
            events.c.workflow_version == workflow_version,
            events.c.step_order == step_order,
            events.c.action == "approve",
        )
        return set((await self.session.execute(statement)).scalars())

    async def list(self, filters: ListFilters, page: PageRequest) -> list[RowMapping]:
        statement = self._filtered(filters)
        key = sa.tuple_(_c.created_at, _c.id)
        if page.after is not None:
            position = (page.after.created_at, page.after.id)
            statement = statement.where(
                key < position if filters.newest_first else key > position
            )
        statement = statement.order_by(*_order(_c, filters.newest_first))
        if not page.offset:
            statement = statement.limit(page.page_size + 1)
        else:
            # A deep page skips its offset in the index alone (the keys are
            # all there), then reads only the page's rows from the table.
            # Limit and offset are written into the SQL: a plan made for
            # unknown ones (PostgreSQL's generic plans) would expect many
            # rows and read the whole table to join them.
            window = (
                statement.with_only_columns(_c.created_at, _c.id)
                .limit(sa.literal(page.page_size + 1, literal_execute=True))
                .offset(sa.literal(page.offset, literal_execute=True))
                .subquery("page")
            )
            statement = (
                sa.select(applications)
                .join(window, _c.id == window.c.id)
                .order_by(*_order(window.c, filters.newest_first))
            )
        return list((await self.session.execute(statement)).mappings())
